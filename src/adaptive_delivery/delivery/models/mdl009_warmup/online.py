"""MDL-009 learning from live outcomes, daily (spec §3.5, §9.1).

A sender warms up several new IPs at once. Each morning one policy decides every IP's volume for
the day (through `WarmupRails`, like every warm-up decision); each evening the day's outcomes pay
each IP's decision; once a day the policy is updated on that day's decisions of every IP
(`platform.rl.online.OnlinePPO`, one trajectory per IP).

The reward is training's (`training.shaped_reward`) less its one term a sender cannot observe:
spec §3.5's reputation damage, which the world computes from the IP's hidden reputation. What
is left reads only the day's metrics: bounces, complaints, refusals and their replies, deferrals.
On any model error the fleet holds every IP at today's volume (no escalation, the rails still on)
and says why; an update that breaks the weights is undone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adaptive_delivery.delivery.decisions.rails import RailedVolume
from adaptive_delivery.delivery.models.mdl009_warmup.plan import action_volume, warmup_features
from adaptive_delivery.delivery.models.mdl009_warmup.policies import (
    HORIZON_DAYS,
    START_VOLUME,
    TARGET_VOLUME,
    WarmupRun,
    WarmupState,
    WarmupTrace,
    record_day,
)
from adaptive_delivery.delivery.models.mdl009_warmup.training import shaped_reward
from adaptive_delivery.delivery.schemas import WARMUP_ACTIONS
from adaptive_delivery.platform.rl.online import OnlinePPO
from adaptive_delivery.twin.envs import Audience, WarmupEnv

LEARNING_RATE = 1e-4  # as MDL-003's online updates: small steps on few, fresh samples


@dataclass
class FleetDay:
    """What the fleet decided one morning: a decision per IP, and why it is not the policy's."""

    decisions: list[RailedVolume]
    fallback: str | None = None
    note: str | None = None  # what the day's update did, when it did not go as planned


def observed_reward(spec_reward: float, parts: dict[str, float], volume: float, day: dict[str, float],
                    best_volume: float, target: float) -> tuple[float, float]:
    """Training's reward without the reputation damage only the world can see; and the best
    railed volume after the day."""
    reward, best = shaped_reward(spec_reward, parts, volume, day, best_volume, target)
    return reward - parts["reputation_damage"], best


@dataclass
class OnlineWarmupFleet:
    """One policy for every IP a sender is warming up; `learn=False` serves it frozen."""

    model: Any  # stable_baselines3.PPO
    ips: int
    learn: bool = True
    learning_rate: float = LEARNING_RATE
    seed: int = 0
    target: float = TARGET_VOLUME
    fallbacks: int = 0
    best_volume: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.learner = OnlinePPO(self.model, learn=self.learn, update_every=1, learning_rate=self.learning_rate,
                                 seed=self.seed, envs=self.ips)
        self.best_volume = [START_VOLUME] * self.ips

    @property
    def updates(self) -> int:
        return self.learner.updates

    def decide(self, runs: list[WarmupRun], states: list[WarmupState]) -> FleetDay:
        """This morning's volume for every IP (yesterday's outcomes were paid with `pay`)."""
        features = np.stack([warmup_features(s) for s in states])
        self.learner.update_if_due(features)
        try:
            actions = self.learner.act(features)[:, 0]
            if not np.all(np.isfinite(actions)) or np.any((actions < 0) | (actions >= len(WARMUP_ACTIONS))):
                raise ValueError(f"the policy's actions {actions.tolist()} are not among the {len(WARMUP_ACTIONS)}")
            proposals = [action_volume(int(a), s.limit) for a, s in zip(actions, states, strict=True)]
            fallback = None
        except Exception as exc:  # noqa: BLE001 - any model error must leave a safe plan in force
            self.fallbacks += 1
            self.learner.break_trajectory()
            proposals = [s.limit for s in states]  # hold: no escalation on a plan the policy did not make
            fallback = f"{type(exc).__name__}: {exc}"
        decisions = [run.decide(p, railed=True) for run, p in zip(runs, proposals, strict=True)]
        return FleetDay(decisions, fallback, self.learner.take_note())

    def pay(self, runs: list[WarmupRun], decisions: list[RailedVolume], days: list[dict[str, float]],
            spec_rewards: list[float]) -> None:
        """The evening: each IP's day pays its decision."""
        rewards = []
        for i, (run, decision, day, spec) in enumerate(zip(runs, decisions, days, spec_rewards, strict=True)):
            reward, self.best_volume[i] = observed_reward(spec, run.reward_parts, decision.volume, day,
                                                          self.best_volume[i], self.target)
            rewards.append(reward)
        self.learner.reward(np.array(rewards))


def run_fleet(fleet: OnlineWarmupFleet, seeds: list[int], days: int = HORIZON_DAYS,
              audience: Audience = Audience(), name: str | None = None) -> list[WarmupTrace]:
    """Warm up one new IP per seed for `days` days under the fleet's policy; a trace per IP."""
    if len(seeds) != fleet.ips:
        raise ValueError(f"{len(seeds)} seeds for a fleet of {fleet.ips} IPs")
    runs = [WarmupRun(WarmupEnv(start_volume=START_VOLUME, target_volume=fleet.target, max_days=days + 1,
                                audience=audience), fleet.target) for _ in seeds]
    states = [run.reset(seed) for run, seed in zip(runs, seeds, strict=True)]
    label = name or ("PPO online" if fleet.learn else "PPO frozen")
    traces = [WarmupTrace(label, seed, fleet.target,
                          reputation_start=float(np.average(run.env.ip_rep, weights=run.env.shares)))
              for run, seed in zip(runs, seeds, strict=True)]
    for _ in range(days):
        plan = fleet.decide(runs, states)
        sent = [run.send(d) for run, d in zip(runs, plan.decisions, strict=True)]
        fleet.pay(runs, plan.decisions, [day for day, _ in sent], [reward for _, reward in sent])
        for run, trace, decision, (day, reward) in zip(runs, traces, plan.decisions, sent, strict=True):
            record_day(trace, run, decision, day, reward)
        states = [run.state() for run in runs]
    return traces
