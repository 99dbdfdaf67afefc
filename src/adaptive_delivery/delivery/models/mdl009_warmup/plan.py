"""MDL-009 as served: what the policy reads (`warmup_features` of an IP's observed state), what
its action means (`action_volume`), and the plan record of spec §3.5 it answers with. Pure numpy
and the rails: the serving runtime, the training environment and the harness all use it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from adaptive_delivery.delivery.decisions.rails import STAGE_NAMES, DayMetrics, RailedVolume
from adaptive_delivery.delivery.features.definitions import warmup_stage
from adaptive_delivery.delivery.feeds import NO_READING, level_score
from adaptive_delivery.delivery.schemas import WARMUP_ACTIONS, WARMUP_FACTORS

FULL_DEFERRAL = 0.05  # "full capacity" carries the volume with deferrals under 5%


@dataclass(kw_only=True)
class ObservedState:
    """What the policy sees each morning about one IP: the plan in force and how the last days went
    (from the request when served; the harness's `WarmupState` adds the day and the world)."""

    limit: float  # today's daily limit (the last volume sent)
    target: float  # the sender's daily volume
    paused: bool
    stage: int
    days_in_stage: int
    clean_streak: int  # consecutive days meeting the current stage's criteria
    last: DayMetrics | None
    rolling_bounce: float
    rolling_complaint: float
    postmaster_reputation: int  # the providers' reputation feeds' worst reading (delivery.feeds; 0: none)


FEATURE_NAMES = (
    "stage", "days_in_stage", "clean_streak", "rolling_bounce", "rolling_complaint", "bounce", "complaint",
    "deferral", "blocks", "block_jump", "rate_limit_refusals", "log_limit_vs_target", "paused", "postmaster_reputation",
    "postmaster_known", "has_day",
)


def warmup_features(state: ObservedState) -> np.ndarray:
    """Each signal scaled by the threshold that matters for it (pause triggers, criteria)."""
    d = state.last
    return np.array([
        state.stage / 4.0,
        min(state.days_in_stage, 14) / 14.0,
        min(state.clean_streak, 14) / 14.0,
        state.rolling_bounce / 0.05,
        state.rolling_complaint / 0.001,
        (d.bounce_rate / 0.05) if d else 0.0,
        (d.complaint_rate / 0.001) if d else 0.0,
        (d.deferral_rate / 0.05) if d else 0.0,
        (d.block_rate / 0.05) if d else 0.0,
        ((d.block_rate - d.baseline_block_rate) / 0.03) if d else 0.0,
        (d.rate_limit_refusal_rate / 0.001) if d else 0.0,
        math.log(max(state.limit, 1.0) / state.target),
        float(state.paused),
        level_score(state.postmaster_reputation),
        float(state.postmaster_reputation != NO_READING),
        float(d is not None),
    ], dtype=np.float32)


SPEC_ACTION_NAMES = {a: ("hold_volume" if a == "hold" else "pause_and_investigate" if a == "pause" else f"{a}_percent")
                     for a in WARMUP_ACTIONS}

def warmup_plan(
    *, ip: str, domain: str, current_limit: float, decision: RailedVolume, action: str, confidence: float,
    last: DayMetrics | None,
) -> dict[str, object]:
    """The warm-up plan record of spec §3.5, with the rails that shaped it."""
    risks = list(decision.pause_reasons)
    if last is not None and last.deferral_rate >= FULL_DEFERRAL:
        risks.append(f"deferrals {last.deferral_rate:.1%} >= {FULL_DEFERRAL:.0%}")
    return {
        "ip": ip,
        "domain": domain,
        "current_stage": STAGE_NAMES[warmup_stage(current_limit)],
        "current_daily_limit": round(current_limit),
        "recommended_action": "pause_and_investigate" if decision.paused else SPEC_ACTION_NAMES[action],
        "new_daily_limit": round(decision.volume),
        "next_evaluation": "24 hours",
        "confidence": round(float(confidence), 3),
        "risk_factors": risks,
        "rails_applied": list(decision.rails),
        "needs_approval": list(decision.needs_approval),
    }


def action_for(proposed: float, limit: float) -> str:
    """The spec §3.5 action nearest to a proposal (what a plan record names)."""
    if not math.isfinite(proposed) or proposed <= 0:
        return "pause"
    factors = [f for f in WARMUP_FACTORS if f > 0]
    nearest = min(factors, key=lambda f: abs(math.log(proposed / limit / f)))
    return WARMUP_ACTIONS[WARMUP_FACTORS.index(nearest)]


def railed_rule_volume(limit: float, last: DayMetrics | None, step: float, raise_unseen: bool) -> float:
    """The operator's rule held to the rails (`policies.RailedRule`, and a rule champion served):
    cut 25% after a degraded day (deferrals over 10% or bounces over 3%), hold after a pause
    trigger, raise by `step` after any other day; a morning with no day to read holds, or raises
    when `raise_unseen`."""
    if last is None:
        return limit * (1.0 + step) if raise_unseen else limit
    if last.deferral_rate > 0.10 or last.bounce_rate > 0.03:
        return limit * 0.75
    if last.pause_reasons():
        return limit
    return limit * (1.0 + step)


def action_volume(action: int, limit: float) -> float:
    """Spec §3.5 action index -> proposed volume (0 = pause)."""
    name = WARMUP_ACTIONS[int(action)]
    return 0.0 if name == "pause" else limit * WARMUP_FACTORS[int(action)]
