"""The complaint-rate frontier MDL-006's design is measured with (`benchmarks/mdl006_suppression.py`):
suppressing people riskiest first moves the rate per message left and the opens lost as it should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mdl006_suppression import TARGET_COMPLAINT_RATE, excess_per_open, frontier


def _people() -> pd.DataFrame:
    # a habitual complainer who hardly opens, a reader, and two typical people
    return pd.DataFrame({"complaints": [0.04, 0.0001, 0.002, 0.002], "opens": [0.5, 8.0, 2.0, 2.0],
                         "messages": [10, 10, 10, 10]})


def test_the_frontier_starts_at_the_list_rate_and_ends_having_lost_every_open():
    people = _people()
    curve = frontier(people, np.arange(len(people), dtype=float))
    assert curve["rate"].iloc[0] == pytest.approx(people["complaints"].sum() / 40)
    assert curve["opens_lost"].iloc[0] == 0 and curve["opens_lost"].iloc[-2] < 1 <= curve["opens_lost"].iloc[-1] + 1e-12
    assert (np.diff(curve["opens_lost"]) >= 0).all()


def test_the_oracle_order_suppresses_the_complainer_first_and_the_reader_last():
    people = _people()
    order = np.argsort(-excess_per_open(people, "complaints"), kind="stable")
    assert order[0] == 0 and order[-1] == 1
    curve = frontier(people, excess_per_open(people, "complaints"))
    # one person out of four and 4% of the opens: the rate falls about eight-fold
    assert curve["rate"].iloc[1] < curve["rate"].iloc[0] / 7 and curve["opens_lost"].iloc[1] < 0.05
    assert curve["rate"].iloc[1] < TARGET_COMPLAINT_RATE * 10
