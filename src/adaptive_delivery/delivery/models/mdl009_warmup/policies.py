"""MDL-009 warm-up: policies that choose tomorrow's volume for a new IP, the harness that runs any
of them against the world's `WarmupEnv` behind `WarmupRails`, and the warm-up plan record.

Policies: the industry's fixed schedule (50 on day one, doubling daily, run as configured, since the
comparison is with what senders do); spec §3.5's rule-based escalation criteria, at +25% and at
+50% a clean day; rules held only to the rails and pause triggers the learned policy is held to
(`RailedRule`, +25% and +50% a clean day: the fair baseline); PPO over the spec's seven actions (models/warmup.py trains it); and an oracle
that reads the providers' hidden allowance. A pause needs a human's recorded approval to resume:
the harness plays an on-call engineer who approves after one day of investigation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from adaptive_delivery.delivery.decisions.rails import (
    Approval,
    DayMetrics,
    RailedVolume,
    WarmupRails,
)
from adaptive_delivery.delivery.features.definitions import warmup_stage
from adaptive_delivery.delivery.models.mdl009_warmup.plan import (
    FULL_DEFERRAL,
    ObservedState,
    action_for,
    railed_rule_volume,
    warmup_plan,
)
from adaptive_delivery.twin.envs import Audience, WarmupEnv

# The sender's daily volume (the late-warm-up boundary of spec §3.5); "full capacity" is carrying
# it cleanly: the whole volume sent, deferrals under 5% and no pause trigger.
TARGET_VOLUME = 50_000.0
START_VOLUME = 500.0  # spec §3.5: a cold IP's daily limit
HORIZON_DAYS = 40
ON_CALL = "simulated on-call engineer"
# Evaluation lists: this world's typical list, and a clean one (few invalid addresses, few complaints).
AUDIENCES = {
    "typical": Audience(),
    "clean": Audience(invalid_share=0.005, mailbox_full_share=0.004, complaint_per_inbox=0.00015, engagement=0.32),
}

# Spec §3.5 escalation criteria per stage (the stage being left): bounce, complaint, deferral
# ceilings, and consecutive clean days needed.
ESCALATION = {
    0: {"bounce": 0.02, "complaint": 0.0005, "deferral": 1.0, "days": 1},
    1: {"bounce": 0.02, "complaint": 0.0005, "deferral": 1.0, "days": 1},
    2: {"bounce": 0.015, "complaint": 0.0003, "deferral": 0.05, "days": 1},
    3: {"bounce": 0.01, "complaint": 0.0002, "deferral": 0.05, "days": 7},
    4: {"bounce": 0.01, "complaint": 0.0002, "deferral": 0.05, "days": 7},
}


@dataclass(kw_only=True)
class WarmupState(ObservedState):
    """The observed state in the harness: the day, and the world (only the oracle may read the truth
    from it)."""

    day: int
    env: WarmupEnv


class WarmupPolicy(Protocol):
    name: str
    railed: bool

    def reset(self) -> None: ...

    def propose(self, state: WarmupState) -> float:
        """Tomorrow's volume; 0 asks to pause."""
        ...


def meets_criteria(day: DayMetrics | None, stage: int) -> bool:
    """Does a day meet spec §3.5's escalation criteria of `stage` (no block event in any stage)?"""
    if day is None or day.sent <= 0:
        return False
    c = ESCALATION[min(stage, 4)]
    return (
        day.bounce_rate < c["bounce"] and day.complaint_rate < c["complaint"]
        and day.deferral_rate < c["deferral"] and not day.pause_reasons()
    )


@dataclass
class FixedDoubling:
    """The industry's fixed schedule: 50 messages on day one, doubling every day, whatever happens."""

    name: str = "fixed 50/day doubling"
    railed: bool = False
    first_day: float = 50.0

    def reset(self) -> None:
        pass

    def propose(self, state: WarmupState) -> float:
        return self.first_day * 2.0 ** state.day


@dataclass
class RuleEscalation:
    """Spec §3.5's criteria as rules: after a day meeting the stage's criteria raise by `step`,
    hold otherwise, cut 25% after a degradation; leaving a stage needs its run of clean days
    (7 in late warm-up)."""

    step: float = 0.25
    name: str = ""
    railed: bool = True

    def __post_init__(self) -> None:
        self.name = self.name or f"rules +{self.step:.0%}"

    def reset(self) -> None:
        pass

    def propose(self, state: WarmupState) -> float:
        if state.last is None:
            return state.limit
        if not meets_criteria(state.last, state.stage):
            degraded = state.last.deferral_rate > 0.10 or state.last.bounce_rate > 0.03
            return state.limit * (0.75 if degraded else 1.0)
        proposal = state.limit * (1.0 + self.step)
        crossing = warmup_stage(proposal) > state.stage
        if crossing and state.clean_streak < ESCALATION[min(state.stage, 4)]["days"]:
            return state.limit
        return proposal


@dataclass
class RailedRule:
    """The rule an operator runs under the same rails and pause triggers as the learned policy, and
    nothing stricter: raise by `step` after a day without a pause trigger and without degradation,
    cut 25% after a degraded day (deferrals over 10% or bounces over 3%), hold otherwise. Spec §3.5's
    stage criteria are not applied, since the learned policy is not held to them either. With
    `raise_unseen` it also raises on a morning with no day to read (the first day, the day after a
    pause) instead of holding: the bolder operator."""

    step: float = 0.5
    raise_unseen: bool = False
    name: str = ""
    railed: bool = True

    def __post_init__(self) -> None:
        self.name = self.name or f"railed rule +{self.step:.0%}" + (" (raise unseen)" if self.raise_unseen else "")

    def reset(self) -> None:
        pass

    def propose(self, state: WarmupState) -> float:
        return railed_rule_volume(state.limit, state.last, self.step, self.raise_unseen)

    def config(self) -> dict[str, object]:
        """What a served rule champion needs to act exactly like this rule (`service.RulePlanner`)."""
        return {"rule": "railed", "name": self.name, "step": self.step, "raise_unseen": self.raise_unseen}


@dataclass
class WarmupOracle:
    """Knows each provider's hidden allowance: sends what today's allowance carries without
    pressure, as fast as the rails let it."""

    name: str = "oracle"
    railed: bool = True

    def reset(self) -> None:
        pass

    def propose(self, state: WarmupState) -> float:
        return state.env.carryable_per_day()


# ---- the harness -----------------------------------------------------------------------------
@dataclass
class WarmupTrace:
    policy: str
    seed: int
    target: float
    run: int = 0  # which training run of a learned policy (0 for a rule)
    volume: list[float] = field(default_factory=list)
    delivered: list[float] = field(default_factory=list)
    reputation: list[float] = field(default_factory=list)
    deferral_rate: list[float] = field(default_factory=list)
    bounce_rate: list[float] = field(default_factory=list)
    block_rate: list[float] = field(default_factory=list)
    complaint_rate: list[float] = field(default_factory=list)
    stage: list[int] = field(default_factory=list)
    rails: list[tuple[str, ...]] = field(default_factory=list)
    pause_reasons: list[tuple[str, ...]] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    reward: float = 0.0
    reputation_start: float = math.nan
    reached_day: int | None = None

    def summary(self) -> dict[str, float | str | int | None]:
        rep = np.array([self.reputation_start, *self.reputation])
        drops = np.clip(rep[:-1] - rep[1:], 0.0, None)
        sent = sum(self.volume) or 1.0
        return {
            "policy": self.policy, "run": self.run, "seed": self.seed,
            "days_to_full": self.reached_day,
            "reputation_start": float(self.reputation_start),
            "reputation_end": float(rep[-1]),
            "reputation_min": float(rep.min()),
            "reputation_damage": float(drops.sum()),  # reputation points lost on days it fell
            "block_event_days": sum(1 for r in self.pause_reasons if any("block" in x for x in r)),
            "pause_days": sum(1 for v in self.volume if v <= 0),
            "delivered_total": float(sum(self.delivered)),
            "deferral_rate": float(np.dot(self.deferral_rate, self.volume) / sent),
            "bounce_rate": float(np.dot(self.bounce_rate, self.volume) / sent),
            "block_rate": float(np.dot(self.block_rate, self.volume) / sent),
            "reward": self.reward,
        }


def carried_full_volume(volume: float, day: dict[str, float], target: float) -> bool:
    """A day at full capacity: the whole target volume sent, deferrals under 5%, no pause trigger."""
    return volume >= target * 0.999 and day["deferral_rate"] < FULL_DEFERRAL and not day_metrics(day).pause_reasons()


def day_metrics(day: dict[str, float]) -> DayMetrics:
    return DayMetrics(
        sent=day["sent"], bounce_rate=day["bounce_rate"], complaint_rate=day["complaint_rate"],
        block_rate=day["block_rate"], rate_limit_refusal_rate=day["rate_limit_refusal_rate"], deferral_rate=day["deferral_rate"],
        baseline_block_rate=day.get("baseline_block_rate", 0.0),
    )


class WarmupRun:
    """One IP's warm-up under a policy: the day loop shared by evaluation, training and serving."""

    def __init__(self, env: WarmupEnv, target: float = TARGET_VOLUME, rails: WarmupRails = WarmupRails()) -> None:
        self.env = env
        self.target = target
        self.rails = rails

    def reset(self, seed: int) -> WarmupState:
        self.env.reset(seed=seed)
        self.limit = self.env.start_volume
        self.paused = False
        self.stage = warmup_stage(self.limit)
        self.days_in_stage = 0
        self.streak = 0
        self.last: DayMetrics | None = None
        self.days: list[dict[str, float]] = []
        self.awaiting_approval = False
        return self.state()

    def state(self) -> WarmupState:
        sent = [d for d in self.days[-7:] if d["sent"] > 0]
        total = sum(d["sent"] for d in sent) or 1.0
        return WarmupState(
            day=len(self.days), limit=self.limit, paused=self.paused, stage=self.stage,
            days_in_stage=self.days_in_stage, clean_streak=self.streak, last=self.last,
            rolling_bounce=sum(d["bounce_rate"] * d["sent"] for d in sent) / total,
            rolling_complaint=sum(d["complaint_rate"] * d["sent"] for d in sent) / total,
            postmaster_reputation=self.env.feed_reading(),
            target=self.target, env=self.env,
        )

    def decide(self, proposed: float, railed: bool) -> RailedVolume:
        """Tomorrow's volume: the proposal, capped at the sender's volume, through the rails."""
        proposed = min(float(proposed), self.target) if math.isfinite(proposed) else proposed
        if not railed:
            vol = max(float(proposed), 0.0) if math.isfinite(proposed) else self.limit
            return RailedVolume(vol, vol <= 0, float(proposed), ())
        approvals: tuple[Approval, ...] = ()
        if self.paused and self.awaiting_approval:
            approvals = (Approval("resume", ON_CALL, note="investigated for a day"),)
        return self.rails.apply(proposed, self.limit, self.last, paused=self.paused, approvals=approvals)

    def send(self, decision: RailedVolume) -> tuple[dict[str, float], float]:
        """Send tomorrow's volume in the world; returns the day and its spec §3.5 reward."""
        _, reward, _, _, info = self.env.step_volume(decision.volume)
        day = info["day"]
        self.reward_parts: dict[str, float] = info["reward_parts"]
        self.days.append(day)
        was_paused = self.paused
        self.paused = decision.paused
        self.awaiting_approval = self.paused  # the on-call engineer looks the day after a pause
        if not decision.paused:
            self.limit = decision.volume
            self.last = day_metrics(day)
        elif not was_paused:
            self.last = None  # the pause day itself sent nothing; the trigger has been handled
        new_stage = warmup_stage(decision.volume) if not decision.paused else self.stage
        criteria_met = self.last is not None and meets_criteria(self.last, self.stage)
        self.streak = self.streak + 1 if criteria_met else 0
        self.days_in_stage = 0 if new_stage != self.stage else self.days_in_stage + 1
        if new_stage != self.stage:
            self.streak = 0
        self.stage = new_stage
        return day, reward


def run_warmup(policy: WarmupPolicy, seed: int, days: int = HORIZON_DAYS, target: float = TARGET_VOLUME,
               audience: Audience = Audience(), plans: list[dict] | None = None) -> WarmupTrace:
    """Run `policy` for `days` daily decisions on a new IP (world seeded with `seed`); `plans`
    collects each day's spec §3.5 plan record."""
    env = WarmupEnv(start_volume=START_VOLUME, target_volume=target, max_days=days + 1, audience=audience)
    run = WarmupRun(env, target)
    state = run.reset(seed)
    policy.reset()
    trace = WarmupTrace(policy.name, seed, target, run=int(getattr(policy, "run", 0)), reputation_start=float(np.average(run.env.ip_rep, weights=run.env.shares)))
    for _ in range(days):
        proposed = policy.propose(state)
        decision = run.decide(proposed, policy.railed)
        if plans is not None:
            plans.append({"day": len(trace.volume) + 1, **warmup_plan(
                ip="192.0.2.10", domain="mail.example.com", current_limit=state.limit, decision=decision,
                action=action_for(proposed, state.limit), confidence=float(getattr(policy, "confidence", 1.0)),
                last=state.last)})
        day, reward = run.send(decision)
        record_day(trace, run, decision, day, reward)
        state = run.state()
    return trace


def record_day(trace: WarmupTrace, run: WarmupRun, decision: RailedVolume, day: dict[str, float],
               reward: float) -> None:
    """Add one sent day to an IP's trace."""
    trace.volume.append(decision.volume)
    trace.delivered.append(day["delivered"])
    trace.reputation.append(day["reputation"])
    for key in ("deferral_rate", "bounce_rate", "block_rate", "complaint_rate"):
        getattr(trace, key).append(day[key])
    trace.stage.append(run.stage)
    trace.rails.append(decision.rails)
    trace.pause_reasons.append(day_metrics(day).pause_reasons() if day["sent"] > 0 else ())
    trace.approvals.extend(decision.approvals_used)
    trace.reward += reward
    if trace.reached_day is None and carried_full_volume(decision.volume, day, trace.target):
        trace.reached_day = len(trace.volume)
