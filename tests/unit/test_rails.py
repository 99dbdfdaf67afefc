"""Safety rails hold for any policy output: property-based tests over arbitrary proposals."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_delivery.delivery.decisions.rails import (
    MIN_RATE_PER_MIN,
    Approval,
    DayMetrics,
    ReputationReading,
    ThrottleRails,
    WarmupRails,
    known_limit_per_min,
)
from adaptive_delivery.delivery.features.definitions import warmup_stage

any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
rates = st.floats(min_value=0.0, max_value=1e7, allow_nan=False)
limits = st.floats(min_value=MIN_RATE_PER_MIN, max_value=1e5)
clean = st.builds(
    DayMetrics, sent=st.floats(0, 1e7), bounce_rate=st.floats(0, 0.05), complaint_rate=st.floats(0, 0.001),
    block_rate=st.floats(0, 0.03), rate_limit_refusal_rate=st.floats(0, 0.001),
)
any_day = st.builds(
    DayMetrics, sent=st.floats(0, 1e7), bounce_rate=st.floats(0, 1), complaint_rate=st.floats(0, 1),
    block_rate=st.floats(0, 1), rate_limit_refusal_rate=st.floats(0, 1),
)
approvals = st.lists(st.sampled_from([Approval("resume", "ops"), Approval("stage_jump", "ops")]), max_size=2).map(tuple)


@given(proposed=any_float, current=rates, limit=limits)
def test_a_throttle_never_leaves_the_providers_limits(proposed, current, limit):
    out = ThrottleRails(max_rate_per_min=limit).apply(proposed, current)
    assert MIN_RATE_PER_MIN <= out.rate_per_min <= limit


@given(proposed=any_float, where=st.floats(0, 1), limit=limits)
def test_a_throttle_changes_at_most_half_per_step(proposed, where, limit):
    current = MIN_RATE_PER_MIN + where * (limit - MIN_RATE_PER_MIN)
    out = ThrottleRails(max_rate_per_min=limit).apply(proposed, current)
    assert current * 0.5 - 1e-9 <= out.rate_per_min <= current * 1.5 + 1e-9


@given(steps=st.lists(any_float, min_size=1, max_size=60), limit=limits)
def test_a_whole_trajectory_of_arbitrary_proposals_stays_on_the_rails(steps, limit):
    rails = ThrottleRails(max_rate_per_min=limit)
    rate = rails.apply(limit / 2, limit / 2).rate_per_min
    for proposed in steps:
        new = rails.apply(proposed, rate).rate_per_min
        assert MIN_RATE_PER_MIN <= new <= limit
        assert abs(new / rate - 1.0) <= 0.5 + 1e-9
        rate = new


def test_rails_name_what_bound():
    rails = ThrottleRails.for_provider("gmail")
    assert rails.apply(5_000, 900).rails == ("max_change", "provider_limit")
    assert rails.apply(float("nan"), 100).rails == ("invalid_proposal",)
    assert rails.apply(110, 100).rails == ()
    assert known_limit_per_min("unknown-isp") == rails.apply(1e9, 1e9).rate_per_min / 10  # default 100 vs gmail 1,000


@given(proposed=any_float, current=st.floats(0, 1e7), day=clean, paused=st.booleans(), ok=approvals)
def test_warmup_never_rises_faster_than_half_a_day(proposed, current, day, paused, ok):
    rails = WarmupRails()
    out = rails.apply(proposed, current, day, paused=paused, approvals=ok)
    assert out.volume <= max(current, rails.min_volume) * 1.5 + 1e-6
    if not out.paused:
        assert out.volume >= rails.min_volume


@given(proposed=any_float, current=st.floats(0, 1e7), day=any_day, paused=st.booleans(), ok=approvals)
def test_pause_triggers_always_fire(proposed, current, day, paused, ok):
    out = WarmupRails().apply(proposed, current, day, paused=paused, approvals=ok)
    triggered = day.bounce_rate > 0.05 or day.complaint_rate > 0.001 or day.rate_limit_refusal_rate > 0.001 or day.block_rate > 0.03
    if triggered:
        assert out.paused and out.volume == 0.0 and out.pause_reasons
    elif not paused:
        assert out.paused == (math.isfinite(proposed) and proposed <= 0)  # only the policy's own pause


@given(proposed=st.floats(1, 1e7), current=st.floats(50, 1e7), day=clean)
def test_resuming_after_a_pause_needs_a_recorded_approval(proposed, current, day):
    held = WarmupRails().apply(proposed, current, day, paused=True)
    assert held.paused and held.volume == 0 and held.needs_approval == ("resume",)
    resumed = WarmupRails().apply(proposed, current, day, paused=True, approvals=(Approval("resume", "ops", "ticket 42"),))
    assert not resumed.paused and resumed.approvals_used[0].approved_by == "ops"


@given(proposed=st.floats(1, 1e7), current=st.floats(50, 1e6), day=clean, increase=st.floats(0.5, 100))
def test_a_jump_of_more_than_one_stage_needs_approval(proposed, current, day, increase):
    rails = WarmupRails(max_daily_increase=increase)
    out = rails.apply(proposed, current, day)
    assert warmup_stage(out.volume) <= warmup_stage(max(current, 50)) + 1
    approved = rails.apply(proposed, current, day, approvals=(Approval("stage_jump", "ops"),))
    assert approved.volume >= out.volume


def test_an_approval_names_its_approver():
    with pytest.raises(ValueError, match="approver"):
        Approval("resume", " ")
    with pytest.raises(ValueError, match="kind"):
        Approval("skip_rails", "ops")


readings = st.builds(ReputationReading, health_score=st.floats(0, 100), alert=st.booleans())


@given(proposed=any_float, current=rates, limit=limits, reading=readings)
def test_a_bad_reputation_reading_never_lets_a_throttle_rise(proposed, current, limit, reading):
    out = ThrottleRails(max_rate_per_min=limit).apply(proposed, current, reading)
    assert MIN_RATE_PER_MIN <= out.rate_per_min <= limit
    if reading.holds:
        assert out.rate_per_min <= max(current, MIN_RATE_PER_MIN) + 1e-9
    else:
        assert out == ThrottleRails(max_rate_per_min=limit).apply(proposed, current)


@given(proposed=any_float, current=st.floats(0, 1e7), day=clean, paused=st.booleans(), ok=approvals, reading=readings)
def test_a_bad_reputation_reading_never_lets_a_warmup_rise(proposed, current, day, paused, ok, reading):
    rails = WarmupRails()
    out = rails.apply(proposed, current, day, paused=paused, approvals=ok, reputation=reading)
    if reading.holds:
        assert out.volume <= max(current, rails.min_volume) + 1e-6
    else:
        assert out == rails.apply(proposed, current, day, paused=paused, approvals=ok)


def test_the_reputation_hold_names_itself_and_reads_only_a_valid_score():
    bad = ReputationReading(health_score=30.0)
    assert bad.holds and ReputationReading(health_score=90.0, alert=True).holds
    assert not ReputationReading(health_score=90.0).holds
    assert ThrottleRails.for_provider("gmail").apply(150, 100, bad).rails == ("reputation_hold",)
    assert WarmupRails().apply(1_200, 1_000, None, reputation=bad).rails == ("reputation_hold",)
    for score in (-1.0, 101.0, float("nan")):
        with pytest.raises(ValueError, match="health score"):
            ReputationReading(health_score=score)


@given(proposed=any_float, current=st.floats(0, 1e7), day=any_day, paused=st.booleans(), ok=approvals,
       ceiling=st.floats(50, 1e7))
def test_warmup_never_plans_past_the_learned_daily_ceiling(proposed, current, day, paused, ok, ceiling):
    out = WarmupRails(max_volume=ceiling).apply(proposed, current, day, paused=paused, approvals=ok)
    assert out.volume <= ceiling
    with pytest.raises(ValueError, match="max_volume"):
        WarmupRails(max_volume=10.0)
