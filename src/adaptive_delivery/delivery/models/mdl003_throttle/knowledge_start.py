"""MDL-003 started from the knowledge base against spec §6.2's defaults, judged by the twin.

A sender's world runs for some days; the knowledge base learns each provider's allowance from its
outcome log (`knowledge.learn.rate_facts`). The next morning MDL-003 takes over one IP's mail to
each provider, in a throttling world matched to the simulated one (the same provider, the IP's
reputation and warm capacity, the day's hidden-limit scale), twice from the same seed: once as
spec §6.2 configures it (its static default rate, the published limit as the rails' ceiling) and
once from the knowledge base (its optimal rate to start, its learned allowance with headroom as the
ceiling: `knowledge.limits`). Per run: the minutes until throughput settles (`Trace.settling_step`),
what was delivered and refused for speed in the first hour, and the steady rate reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.knowledge import learn
from adaptive_delivery.delivery.knowledge.limits import KnownLimits, ProviderLimit
from adaptive_delivery.delivery.models.mdl003_throttle.policies import (
    Oracle,
    ThrottlePolicy,
    Trace,
    run_policy,
)
from adaptive_delivery.delivery.providers import PROVIDER_INDEX
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.twin.envs import STEP_SECONDS, ThrottleEnv
from adaptive_delivery.twin.simulator import World

ARMS = ("spec defaults", "knowledge base")
STEPS = 240  # two hours of 30-second windows
FIRST_HOUR = 3600 // STEP_SECONDS
METRICS = ("reaching_minutes", "settling_minutes", "delivered_first_hour", "rate_blocks_first_hour",
           "steady_per_hour")


def learned_limits(outcomes: pd.DataFrame, now: datetime | None = None) -> KnownLimits:
    """The knowledge base's rate facts per provider, learned from an outcome log, as limits."""
    now = now or datetime.now(UTC)
    facts = {}
    for provider, rows in outcomes.groupby("provider"):
        facts[str(provider)] = {name: fact.to_dict() for name, fact in learn.rate_facts(rows, now).items()}
    return KnownLimits(facts, now=now)


def matched_env(world: World, provider: str, *, ip: int = 0, steps: int = STEPS,
                start_rate_per_min: float | None = None) -> ThrottleEnv:
    """A throttling world for `ip`'s mail to `provider` as the simulated world stands now: its
    reputation (half the IP's, half the sending domain's, as the world weighs them), its warm
    capacity and the day's hidden-limit scale."""
    p = PROVIDER_INDEX[provider]
    reputation = 0.5 * float(world.ip_reputation[ip, p]) + 0.5 * float(world.domain_reputation[world.ip_sender[ip], p])
    scale = float(world._scales(world.day_index)[0][p])
    return ThrottleEnv(provider, reputation=reputation, warm_capacity_per_day=float(world.warm_capacity[ip, p]),
                       episode_steps=steps + 1, start_rate_per_min=start_rate_per_min, limit_scale=scale)


def arm_limit(arm: str, provider: str, limits: KnownLimits) -> ProviderLimit:
    """Where `arm` starts `provider` and where its rails stop."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; arms: {ARMS}")
    return (limits if arm == "knowledge base" else KnownLimits.none()).limit(provider)


def run_arm(policy: ThrottlePolicy, world: World, provider: str, limit: ProviderLimit, seed: int,
            steps: int = STEPS) -> Trace:
    """One run of `policy` on `provider`'s matched world, started and railed as `limit` says."""
    env = matched_env(world, provider, steps=steps, start_rate_per_min=limit.start_rate_per_min)
    return run_policy(policy, env, seed, steps, rails=limit.rails())


def measure(trace: Trace) -> dict[str, float]:
    hours = len(trace.delivered) * STEP_SECONDS / 3600.0
    tail = trace.delivered[-FIRST_HOUR:]
    return {"reaching_minutes": trace.reaching_step() * STEP_SECONDS / 60.0,
            "settling_minutes": trace.settling_step() * STEP_SECONDS / 60.0,
            "delivered_first_hour": float(sum(trace.delivered[:FIRST_HOUR])),
            "rate_blocks_first_hour": float(sum(trace.rate_blocks[:FIRST_HOUR])),
            "steady_per_hour": float(np.mean(tail)) * 3600.0 / STEP_SECONDS,
            "delivered_per_hour": float(sum(trace.delivered)) / hours}


def compare_starts(policies: Sequence[ThrottlePolicy], world: World, limits: KnownLimits, seed: int,
                   providers: Sequence[str] | None = None, steps: int = STEPS) -> list[dict]:
    """Per provider, policy and arm: the start and ceiling used and what they gave, beside the
    oracle's delivery in the same world (the most a sender could deliver without pressure)."""
    rows = []
    for provider in providers or sorted(PROVIDER_INDEX):
        arm_limits = {arm: arm_limit(arm, provider, limits) for arm in ARMS}
        oracle = measure(run_arm(Oracle(), world, provider, arm_limits["spec defaults"], seed, steps))
        for policy in policies:
            for arm, limit in arm_limits.items():
                trace = run_arm(policy, world, provider, limit, seed, steps)
                rows.append({"seed": seed, "provider": provider, "policy": policy.name, "run": int(getattr(policy, "run", 0)),
                             "arm": arm, "start_rate_per_min": limit.start_rate_per_min,
                             "ceiling_per_min": limit.ceiling_per_min,
                             "start_source": limit.start_source, "hidden_limit_per_min": trace.limit[0],
                             "oracle_first_hour": oracle["delivered_first_hour"], **measure(trace)})
    return rows


def summarise(rows: Sequence[Mapping], metrics: Sequence[str] = METRICS) -> dict:
    """Means over worlds (each world the mean over its providers and runs) with 95% intervals, per
    arm, and the paired difference knowledge base minus spec defaults; per provider likewise."""
    frame = pd.DataFrame(list(rows))
    out: dict = {"arms": {}, "difference": {}, "providers": {}}
    per_world = frame.groupby(["seed", "arm"])[list(metrics)].mean()
    for arm in ARMS:
        out["arms"][arm] = {m: interval(per_world.xs(arm, level="arm")[m].to_numpy()).to_dict() for m in metrics}
    diff = per_world.xs("knowledge base", level="arm") - per_world.xs("spec defaults", level="arm")
    out["difference"] = {m: interval(diff[m].to_numpy()).to_dict() for m in metrics}
    for provider, group in frame.groupby("provider"):
        cell = group.groupby(["seed", "arm"])[list(metrics)].mean()
        gap = cell.xs("knowledge base", level="arm") - cell.xs("spec defaults", level="arm")
        out["providers"][str(provider)] = {
            **{m: {arm: float(cell.xs(arm, level="arm")[m].mean()) for arm in ARMS} for m in metrics},
            **{f"{m}_difference": interval(gap[m].to_numpy()).to_dict() if len(gap) >= 2 else None for m in metrics},
        }
    out["worlds_sooner"] = {m: {"sooner": int((diff[m] < 0).sum()), "same": int((diff[m] == 0).sum()),
                                "later": int((diff[m] > 0).sum())} for m in ("reaching_minutes", "settling_minutes")}
    return out
