"""PSI, KS and prediction bias (platform/monitoring/stability.py) on data whose truth is known: a
steady population stays quiet, a moved feature is acted on only when PSI and KS agree, a flag is
binned by its values, and a model whose predictions drift from the outcomes is called biased."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.platform.monitoring import stability


def test_psi_is_near_zero_for_the_same_population_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 20_000)
    same = stability.psi(ref, rng.normal(0, 1, 20_000))
    small = stability.psi(ref, rng.normal(0.3, 1, 20_000))
    large = stability.psi(ref, rng.normal(1.0, 1, 20_000))
    assert same < 0.01 < small < stability.PSI_ACT < large
    assert stability.psi(ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_a_flag_is_binned_by_its_values():
    ref = np.array([0] * 900 + [1] * 100, dtype=float)
    cur = np.array([0] * 500 + [1] * 500, dtype=float)
    expected = (0.5 - 0.9) * np.log(0.5 / 0.9) + (0.5 - 0.1) * np.log(0.5 / 0.1)
    assert stability.psi(ref, cur) == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=200),
       st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_psi_is_finite_and_never_negative(ref, cur):
    value = stability.psi(np.array(ref), np.array(cur))
    assert np.isfinite(value) and value >= 0


def _frames(rng, rows: int, shift: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    def frame(moved: float) -> pd.DataFrame:
        return pd.DataFrame({"amount": rng.lognormal(3 + moved, 1, rows), "age": rng.integers(1, 13, rows),
                             "flag": (rng.random(rows) < 0.3).astype(int), "score": rng.normal(0, 1, rows)})
    return frame(0.0), frame(shift)


def test_a_steady_population_stays_quiet_day_after_day():
    rng = np.random.default_rng(1)
    acted = warned = 0
    for _ in range(40):
        ref, cur = _frames(rng, 3_000)
        result = stability.check_stability(ref, cur, list(ref.columns))
        acted += bool(result.acted)
        warned += bool(result.warned)
    assert acted == 0 and warned <= 2


def test_a_moved_feature_is_acted_on_and_names_itself():
    rng = np.random.default_rng(2)
    ref, cur = _frames(rng, 3_000, shift=0.8)
    result = stability.check_stability(ref, cur, list(ref.columns))
    assert result.acted == ["amount"]
    assert "amount" in result.retrain()[0] and result.features["amount"].psi >= stability.PSI_ACT


def test_psi_alone_does_not_act_when_ks_sees_no_gap():
    """A few hundred rows: PSI's bins are noisy, KS needs a real gap and a small p-value."""
    ref = pd.DataFrame({"x": np.arange(200, dtype=float)})
    cur = pd.DataFrame({"x": np.arange(200, dtype=float)[::-1] + 0.5})  # the same values, shifted a hair
    result = stability.check_stability(ref, cur, ["x"])
    assert result.acted == []


def test_prediction_bias_needs_a_real_gap_beyond_noise():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.25, 20_000)
    calibrated = (rng.random(20_000) < p).astype(float)
    _, biased = stability.prediction_bias(p, calibrated)
    assert not biased
    faded = (rng.random(20_000) < 0.6 * p).astype(float)  # the outcome fell by 40%
    bias, biased = stability.prediction_bias(p, faded)
    assert biased and bias["observed"] < bias["predicted"]
    result = stability.check_stability(pd.DataFrame({"p": p}), pd.DataFrame({"p": p}), ["p"], p, faded)
    assert result.acted == [] and "predictions biased" in result.retrain()[0]


def test_a_small_sample_is_not_judged_by_psi_and_a_real_move_still_shows_in_ks():
    """Thirty unit-days against ten of one population: PSI's chance value alone passes the warn
    level, so it is not read; KS still sees a large move."""
    rng = np.random.default_rng(4)
    chance = [stability.psi(rng.normal(0, 1, 10), rng.normal(0, 1, 30)) for _ in range(200)]
    assert np.mean(np.array(chance) >= stability.PSI_WARN) > 0.5  # why PSI needs rows
    small = stability.check_stability(pd.DataFrame({"x": rng.normal(0, 1, 60)}), pd.DataFrame({"x": rng.normal(0, 1, 30)}),
                                      ["x"])
    assert np.isnan(small.features["x"].psi) and small.features["x"].level == "stable"
    moved = stability.check_stability(pd.DataFrame({"x": rng.normal(0, 1, 60)}), pd.DataFrame({"x": rng.normal(3, 1, 30)}),
                                      ["x"])
    assert moved.features["x"].level == "warn" and moved.acted == []
    enough = stability.check_stability(pd.DataFrame({"x": rng.normal(0, 1, stability.PSI_MIN_ROWS)}),
                                       pd.DataFrame({"x": rng.normal(0, 1, stability.PSI_MIN_ROWS)}), ["x"])
    assert np.isfinite(enough.features["x"].psi)
