"""MDL-002's stage 2 holds its constraints whatever the probabilities (no hour over its share of
the campaign, only allowed hours, every subscriber once), takes each person's best hour when the
caps allow it, and gives up as few expected opens as the caps force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adaptive_delivery.delivery.models.mdl002_send_time import schedule as sc


@settings(max_examples=60, deadline=None)
@given(p=arrays(np.float64, st.tuples(st.integers(1, 120), st.integers(7, 24)), elements=st.floats(0, 1)),
       share=st.sampled_from([0.15, 0.2, 0.5]))
def test_no_hour_exceeds_its_share_and_every_subscriber_gets_one_hour(p, share):
    if p.shape[1] * sc.capacity(len(p), share) < len(p):
        with pytest.raises(sc.ScheduleError, match="cannot carry"):
            sc.assign(p, max_hour_share=share)
        return
    out = sc.assign(p, max_hour_share=share)
    assert out.hour.shape == (len(p),) and ((out.hour >= 0) & (out.hour < p.shape[1])).all()
    assert np.bincount(out.hour, minlength=p.shape[1]).max() <= sc.capacity(len(p), share)
    assert out.expected_opens == pytest.approx(p[np.arange(len(p)), out.hour].sum())


@settings(max_examples=40, deadline=None)
@given(p=arrays(np.float64, st.tuples(st.integers(50, 120), st.just(24)), elements=st.floats(0, 1)),
       first=st.integers(0, 12), width=st.integers(8, 12))
def test_only_allowed_hours_are_used(p, first, width):
    allowed = np.zeros(24, dtype=bool)
    allowed[first:first + width] = True
    out = sc.assign(p, allowed=allowed)
    assert allowed[out.hour].all()


def test_without_a_binding_cap_everyone_gets_their_best_hour():
    rng = np.random.default_rng(0)
    p = rng.random((500, 24))
    out = sc.assign(p, max_hour_share=1.0)
    assert (out.hour == p.argmax(axis=1)).all()


def test_under_the_cap_it_loses_few_opens_and_far_fewer_than_a_naive_fix():
    rng = np.random.default_rng(1)
    # most people's best hour is 9: the cap binds hard
    hours = np.arange(24)
    peak = np.where(rng.random(3_000) < 0.7, 9, rng.integers(0, 24, 3_000))
    p = 0.2 + 0.15 * np.exp(-np.minimum((hours[None, :] - peak[:, None]) % 24, (peak[:, None] - hours[None, :]) % 24) / 2)
    p += rng.normal(0, 0.01, p.shape)
    out = sc.assign(p)
    assert np.bincount(out.hour, minlength=24).max() <= sc.capacity(3_000)
    best = p.max(axis=1).sum()
    # the naive fix: everyone at their best hour, the overflow of each hour sent at random hours with room
    naive = p.argmax(axis=1).copy()
    load = np.bincount(naive, minlength=24)
    for h in np.flatnonzero(load > sc.capacity(3_000)):
        for r in rng.permutation(np.flatnonzero(naive == h))[: load[h] - sc.capacity(3_000)]:
            target = rng.choice(np.flatnonzero(load < sc.capacity(3_000)))
            naive[r], load[h], load[target] = target, load[h] - 1, load[target] + 1
    naive_opens = p[np.arange(3_000), naive].sum()
    assert best - out.expected_opens < 0.5 * (best - naive_opens)


def test_too_few_allowed_hours_is_a_clear_error():
    with pytest.raises(sc.ScheduleError, match="allow more hours"):
        sc.assign(np.ones((100, 24)), allowed=np.arange(24) < 6)


def test_the_answer_names_hour_day_confidence_and_fallbacks():
    p = np.array([[0.1, 0.5, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1]] * 3)
    out = sc.answer(p, start_hour_utc=22, start_weekday=1, schedule=sc.assign(p, max_hour_share=1.0))
    assert out["optimal_hour_utc"].tolist() == [23, 23, 23] and out["optimal_day"].tolist() == ["Tuesday"] * 3
    assert list(out["fallback_hours"][0]) == [0, 1, 22] and 0 < out["confidence"][0] <= 1
    late = sc.answer(p[:, ::-1], start_hour_utc=22, start_weekday=6, schedule=sc.assign(p[:, ::-1], max_hour_share=1.0))
    assert late["optimal_hour_utc"].tolist() == [4] * 3 and late["optimal_day"].tolist() == ["Monday"] * 3


def _people_with_history(messages: int, seed: int = 3) -> tuple:
    """Habits drawn by the twin's law, each person sent `messages` mails at random hours, opened
    (and when) by the law: what the send-time ceiling learns from."""
    import pandas as pd
    from mdl002_send_time import HOURS, WINDOW_H, _open_time_weights, prior_habits

    rng = np.random.default_rng(seed)
    habits = prior_habits(False, seed=seed + 10)[:60]
    fresh = 0.45 * np.log(HOURS * habits + 0.3)
    rows = []
    weights = _open_time_weights(habits)
    for i in range(len(habits)):
        for hour in rng.integers(0, HOURS, messages):
            opened = rng.random() < 1 / (1 + np.exp(-(-1.0 + fresh[i, hour])))
            w = weights[i, hour] / weights[i, hour].sum()
            rows.append({"subscriber_id": f"s{i}", "hour": int(hour), "logit_base": -1.0,
                         "delay_h": float(rng.choice(WINDOW_H, p=w)) if opened else np.nan})
    campaign = pd.DataFrame({"subscriber_id": [f"s{i}" for i in range(len(habits))], "corporate": False,
                             "propensity_logit": -1.0})
    truth = 1 / (1 + np.exp(-(-1.0 + fresh)))
    return pd.DataFrame(rows, columns=["subscriber_id", "hour", "logit_base", "delay_h"]), campaign, truth


@pytest.mark.parametrize(("messages", "share_of_oracle"), [(0, 0.0), (80, 0.75)])
def test_the_send_time_ceiling_learns_a_habit_from_history_and_knows_nothing_without(messages, share_of_oracle):
    from mdl002_send_time import history_ceiling

    history, campaign, truth = _people_with_history(messages)
    p = history_ceiling(history, campaign)
    n = np.arange(len(truth))
    random, oracle, chosen = truth.mean(), truth.max(axis=1).mean(), truth[n, p.argmax(axis=1)].mean()
    if messages == 0:  # the prior alone: everyone gets the same hour
        assert len(set(p.argmax(axis=1))) == 1
    else:
        assert (chosen - random) >= share_of_oracle * (oracle - random)
