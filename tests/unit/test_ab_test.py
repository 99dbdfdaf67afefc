"""The A/B test manager (platform/rollout/ab_test.py): assignment is sticky and splits traffic as
declared, pausing, switching a variant off and completing move only whom they must, the analysis
finds a better variant with Holm's correction and stays quiet between equal ones, and experiments
survive the store."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.platform.rollout import ab_test as ab
from adaptive_delivery.platform.rollout.stats import holm

NOW = datetime(2026, 12, 1, tzinfo=UTC)
USERS = [f"user-{i}" for i in range(20_000)]


def _test(shares=None) -> ab.ABTest:
    return ab.create("subject-lines-q4", shares or {"control": 0.5, "question": 0.25, "emoji": 0.25}, NOW)


def test_assignment_is_sticky_and_splits_traffic_as_declared():
    test = _test()
    first = ab.assign(test, USERS)
    assert (ab.assign(test, USERS[::-1])[::-1] == first).all()  # order and batch do not matter
    share = {name: float(np.mean(first == name)) for name in ("control", "question", "emoji")}
    assert share == pytest.approx({"control": 0.5, "question": 0.25, "emoji": 0.25}, abs=0.015)
    other = ab.assign(ab.create("another-test", {"a": 0.5, "b": 0.5}, NOW), USERS)
    both_first = np.mean((first == "control") & (other == "a"))
    assert both_first == pytest.approx(0.25, abs=0.015)  # experiments are assigned independently


def test_pause_shows_the_control_and_resume_restores_everyone():
    test = _test()
    before = ab.assign(test, USERS)
    ab.pause(test, NOW, "the creative has a typo")
    assert set(ab.assign(test, USERS)) == {"control"}
    with pytest.raises(ValueError, match="only an active"):
        ab.pause(test, NOW, "again")
    ab.resume(test, NOW)
    assert (ab.assign(test, USERS) == before).all()
    assert [h["action"] for h in test.history] == ["pause", "resume"]


def test_switching_a_variant_off_moves_only_its_users_to_the_control():
    test = _test()
    before = ab.assign(test, USERS)
    ab.switch(test, "emoji", False, NOW)
    after = ab.assign(test, USERS)
    moved = before != after
    assert (before[moved] == "emoji").all() and (after[moved] == "control").all()
    assert moved.sum() == (before == "emoji").sum()
    with pytest.raises(ValueError, match="control cannot"):
        ab.switch(test, "control", False, NOW)


def test_completion_shows_the_winner_and_is_final():
    test = _test()
    with pytest.raises(KeyError, match="no variant"):
        ab.complete(test, NOW, winner="neon")
    ab.complete(test, NOW, winner="question", reason="better click rate")
    assert set(ab.assign(test, USERS[:100])) == {"question"} and test.ended == NOW.isoformat()
    with pytest.raises(ValueError, match="already completed"):
        ab.complete(test, NOW)


@pytest.mark.parametrize(("shares", "says"), [
    ({"only": 1.0}, "at least two variants"),
    ({"a": 0.5, "b": 0.6}, "add up to 1"),
    ({"a": 1.0, "b": 0.0}, "positive"),
])
def test_an_impossible_experiment_is_refused(shares, says):
    with pytest.raises(ValueError, match=says):
        ab.create("x", shares, NOW)
    with pytest.raises(ValueError, match="experiment id"):
        ab.create("../etc/passwd", {"a": 0.5, "b": 0.5}, NOW)


def test_the_analysis_finds_the_better_variant_and_not_a_tie():
    rng = np.random.default_rng(0)
    test = _test()
    rates = {"control": 0.020, "question": 0.020, "emoji": 0.026}
    tallies = {name: (int(rng.binomial(40_000, r)), 40_000) for name, r in rates.items()}
    results, pick = ab.analyse(test, tallies)
    assert pick == "emoji"
    by = {r.name: r for r in results}
    assert by["emoji"].better and not by["question"].better and not by["question"].worse
    assert by["emoji"].p_holm >= by["emoji"].p  # corrected for the two comparisons
    few, pick = ab.analyse(test, {n: (s // 100, t // 100) for n, (s, t) in tallies.items()})
    assert pick is None and all(r.p is None for r in few[1:])  # under the minimum sample: not judged
    with pytest.raises(ValueError, match="impossible"):
        ab.analyse(test, {"control": (5, 3)})


def test_equal_variants_rarely_produce_a_winner():
    rng = np.random.default_rng(1)
    test = _test()
    winners = sum(ab.analyse(test, {n: (int(rng.binomial(20_000, 0.03)), 20_000)
                                    for n in ("control", "question", "emoji")})[1] is not None for _ in range(200))
    assert winners <= 200 * 0.05 * 1.6  # the family-wise false alarm rate is held near 5%


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=8))
def test_holm_never_lowers_a_p_value_and_keeps_the_order(ps):
    adjusted = holm(ps)
    assert all(a >= p - 1e-15 and a <= 1.0 for a, p in zip(adjusted, ps, strict=True))
    order = np.argsort(ps, kind="stable")
    assert all(adjusted[order[i]] <= adjusted[order[i + 1]] + 1e-15 for i in range(len(ps) - 1))


def test_experiments_survive_the_store(tmp_path):
    store = ab.ABTestStore(tmp_path)
    test = _test()
    ab.pause(test, NOW, "reason")
    store.register(test)
    with pytest.raises(FileExistsError):
        store.register(test)
    again = store.load(test.experiment_id)
    assert again == test and again.status is ab.TestStatus.PAUSED
    with pytest.raises(FileNotFoundError):
        store.load("missing")
    with pytest.raises(ValueError):
        store.load("../x")
