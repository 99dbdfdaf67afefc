"""Per-provider throttling policies and the harness that runs any of them against the world.

Every policy proposes a sending rate (messages/minute) for the next 30 seconds from what an MTA
can see (the environment's observation and the window's SMTP replies). Learned policies and our
own controllers go through `ThrottleRails`; the rule-based MTAs run as configured, since the
comparison is with what they do in practice.

Policies: spec §6.2 static defaults; KumoMTA's shaping + automation (as shipped, and with the
§6.2 rates configured); AIMD; a contextual bandit learning online (epsilon-greedy 0.3 -> 0.05);
PPO (models/throttle.py trains it); and an oracle that reads each provider's hidden limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from adaptive_delivery.delivery.decisions.rails import (
    ThrottleRails,
    known_limit_per_min,
    static_rate_per_min,
)
from adaptive_delivery.delivery.models.mdl003_throttle.features import (
    FEATURE_NAMES,
    OBS,
    throttle_features,
)
from adaptive_delivery.delivery.models.mdl003_throttle.kumomta_shaping import (
    TrafficShaper,
    shaping_for,
)
from adaptive_delivery.delivery.providers import is_rate_limit_reply
from adaptive_delivery.platform.online.bandit import RidgeArms
from adaptive_delivery.twin.envs import (
    STEP_SECONDS,
    THROTTLE_MULTIPLIERS,
    ThrottleEnv,
)


@dataclass
class Step:
    """What a policy sees when it proposes the next rate."""

    obs: np.ndarray
    rate_per_min: float  # the rate in force
    replies: list[tuple[str, int]]  # the last window's SMTP reply lines
    reward: float  # the last window's reward
    now_s: float
    env: ThrottleEnv  # only the oracle may read the truth from it


class ThrottlePolicy(Protocol):
    name: str
    railed: bool

    def reset(self, provider: str, rate_per_min: float) -> None: ...

    def propose(self, step: Step) -> float: ...


@dataclass
class StaticDefaults:
    """Spec §6.2: one fixed rate per provider, whatever happens."""

    name: str = "static"
    railed: bool = False
    rate: float = 0.0

    def reset(self, provider: str, rate_per_min: float) -> None:
        self.rate = static_rate_per_min(provider)

    def propose(self, step: Step) -> float:
        return self.rate


@dataclass
class KumoMTA:
    """KumoMTA's shipped shaping and Traffic Shaping Automation; `with_static_rates` also sets each
    provider's max_message_rate to the spec §6.2 default, as an operator would. An operator who
    tunes it sets each provider's rate to `rate_fraction` of the provider's known limit and keeps
    the automation from firing on fewer than `trigger_floor` matching replies an hour."""

    with_static_rates: bool = False
    name: str = "kumomta"
    railed: bool = False
    rate_fraction: float | None = None
    trigger_floor: int = 1
    shaper: TrafficShaper | None = None

    def __post_init__(self) -> None:
        if self.rate_fraction is not None:
            self.name = self.name if self.name != "kumomta" else "kumomta tuned"
        elif self.with_static_rates:
            self.name = "kumomta+rates"

    def reset(self, provider: str, rate_per_min: float) -> None:
        if self.rate_fraction is not None:
            rate = self.rate_fraction * known_limit_per_min(provider)
        else:
            rate = static_rate_per_min(provider) if self.with_static_rates else None
        self.shaper = TrafficShaper(shaping_for(provider), rate, trigger_floor=self.trigger_floor)

    def propose(self, step: Step) -> float:
        assert self.shaper is not None
        self.shaper.observe(step.replies, step.now_s)
        return self.shaper.rate_per_min(float(step.obs[OBS["smtp_latency_ms"]]), step.now_s)


@dataclass
class AIMD:
    """Additive increase (`increase_share` of the known limit per step) while the provider is
    quiet, multiplicative decrease (`decrease`) when it pushes back. `signal` "4xx": any 4xx share
    above `deferral_threshold` (mailbox-full bounces included, as a naive MTA counts them);
    "rate_limit": only the replies the providers publish as rate limits (`providers.RATE_LIMIT_MARKERS`),
    as an operator who reads the replies would configure it."""

    name: str = "aimd"
    railed: bool = True
    increase_share: float = 0.02
    decrease: float = 0.5
    deferral_threshold: float = 0.02
    signal: str = "4xx"
    step_up: float = 0.0

    def __post_init__(self) -> None:
        if self.signal not in ("4xx", "rate_limit"):
            raise ValueError(f"unknown AIMD signal {self.signal!r}")
        if self.signal == "rate_limit" and self.name == "aimd":
            self.name = "aimd on rate limits"

    def reset(self, provider: str, rate_per_min: float) -> None:
        self.step_up = self.increase_share * known_limit_per_min(provider)

    def pushed_back(self, step: Step) -> bool:
        if self.signal == "4xx":
            return float(step.obs[OBS["smtp_4xx_rate"]]) > self.deferral_threshold
        # the window's messages: its rate over the step (the reply lines list only what was not accepted)
        sent = max(step.rate_per_min * STEP_SECONDS / 60.0, 1.0)
        return rate_limit_replies(step.replies) / sent > self.deferral_threshold

    def propose(self, step: Step) -> float:
        if self.pushed_back(step):
            return step.rate_per_min * self.decrease
        return step.rate_per_min + self.step_up


def rate_limit_replies(replies: list[tuple[str, int]]) -> int:
    return sum(count for line, count in replies if is_rate_limit_reply(line))


@dataclass
class TunedStatic:
    """One fixed rate per provider, `fraction` of the provider's known limit: what an operator who
    has watched a provider for a while configures and leaves alone (the fraction tuned on validation
    worlds)."""

    fraction: float = 0.3
    name: str = ""
    railed: bool = False
    rate: float = 0.0

    def __post_init__(self) -> None:
        self.name = self.name or f"static {self.fraction:.0%} of the known limit"

    def reset(self, provider: str, rate_per_min: float) -> None:
        self.rate = self.fraction * known_limit_per_min(provider)

    def propose(self, step: Step) -> float:
        return self.rate


@dataclass
class Oracle:
    """Sends at exactly the hidden limit: the most a sender can deliver without pressure."""

    name: str = "oracle"
    railed: bool = True

    def reset(self, provider: str, rate_per_min: float) -> None:
        pass

    def propose(self, step: Step) -> float:
        return step.env.hidden_limit_per_min()


@dataclass
class ContextualBandit:
    """Spec §3.2's online learner: one ridge regression per multiplier arm predicts the next
    window's reward per unit of current rate from `throttle_features`; epsilon-greedy exploration
    decays 0.3 -> 0.05 (x0.995 per decision). Learns online wherever it runs (`platform.online`)."""

    name: str = "bandit"
    railed: bool = True
    arms: tuple[float, ...] = THROTTLE_MULTIPLIERS
    epsilon: float = 0.3
    epsilon_min: float = 0.05
    epsilon_decay: float = 0.995
    ridge: float = 1.0
    seed: int = 0
    learning: bool = True
    learner: RidgeArms = field(init=False)
    _pending: tuple[np.ndarray, int, float] | None = field(init=False, default=None)
    _provider: str = field(init=False, default="gmail")

    def __post_init__(self) -> None:
        self.learner = RidgeArms(len(self.arms), len(FEATURE_NAMES), ridge=self.ridge, epsilon=self.epsilon,
                                 epsilon_min=self.epsilon_min, epsilon_decay=self.epsilon_decay, seed=self.seed)

    def reset(self, provider: str, rate_per_min: float) -> None:
        self._provider = provider
        self._pending = None

    def values(self, x: np.ndarray) -> np.ndarray:
        return self.learner.values(x)

    def propose(self, step: Step) -> float:
        x = throttle_features(step.obs, self._provider).astype(float)
        if self._pending is not None and self.learning:
            px, arm, rate = self._pending
            self.learner.update(px, arm, step.reward * 2000.0 / max(rate, 1e-3))  # reward per unit of the rate
        arm = self.learner.choose(x, learning=self.learning)
        self.epsilon = self.learner.epsilon
        self._pending = (x, arm, step.rate_per_min)
        return step.rate_per_min * self.arms[arm]

    def state(self) -> dict[str, np.ndarray | float]:
        return self.learner.state()

    def load(self, state: dict) -> None:
        self.learner.load(state)
        self.epsilon = self.learner.epsilon


# ---- the harness -----------------------------------------------------------------------------
# Settled throughput: the 5-minute rolling delivery within 10% of the last hour's mean.
SETTLE_WINDOW = 10
SETTLE_TOLERANCE = 0.10
SETTLE_TAIL = 120


@dataclass
class Trace:
    """Per-step record of one policy on one provider (arrays of equal length)."""

    policy: str
    provider: str
    seed: int
    run: int = 0  # which training run of a learned policy (0 for a rule)
    rate: list[float] = field(default_factory=list)
    limit: list[float] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)
    rate_blocks: list[int] = field(default_factory=list)
    bounces: list[int] = field(default_factory=list)
    complaints: list[int] = field(default_factory=list)
    rails: list[tuple[str, ...]] = field(default_factory=list)
    reward: float = 0.0
    reputation_end: float = math.nan

    def record(self, info: dict, rails: tuple[str, ...]) -> None:
        """Add one window as `ThrottleEnv.step_rate` reported it, and the rails that bound its rate."""
        c = info["counts"]
        self.rate.append(info["rate_per_min"])
        self.limit.append(info["truth"]["limit_per_min"])
        self.sent.append(sum(c.values()))
        self.delivered.append(c["delivered"])
        self.deferred.append(c["deferred"])
        self.blocks.append(c["block"])
        self.rate_blocks.append(info["rate_blocks"])
        self.bounces.append(c["soft_bounce"] + c["hard_bounce"])
        self.complaints.append(info["complaints"])
        self.rails.append(rails)

    def _off_steady(self, window: int, tolerance: float, tail: int) -> np.ndarray | None:
        """Per window, whether the rolling delivery over `window` windows lies outside the band
        around the steady level (the mean of the last `tail` windows): `tolerance` of it, or three
        standard deviations of counting noise where a slow provider's few messages make that
        wider. None where the trace is too short to tell."""
        delivered = np.asarray(self.delivered, dtype=float)
        if len(delivered) < max(window, tail):
            return None
        steady = float(delivered[-tail:].mean())
        rolling = np.convolve(delivered, np.ones(window) / window)[:len(delivered)]
        rolling[:window - 1] = np.cumsum(delivered[:window - 1]) / np.arange(1, window)
        band = max(tolerance, 3.0 / np.sqrt(max(steady * window, 1.0))) * max(steady, 1.0)
        return np.abs(rolling - steady) > band

    def settling_step(self, window: int = SETTLE_WINDOW, tolerance: float = SETTLE_TOLERANCE,
                      tail: int = SETTLE_TAIL) -> int:
        """The window from which throughput has settled: inside the steady band from there to the
        end. The trace's length where it never settles (or is too short to tell)."""
        off = self._off_steady(window, tolerance, tail)
        if off is None:
            return len(self.delivered)
        outside = np.flatnonzero(off)
        return 0 if outside.size == 0 else int(outside[-1]) + 1

    def reaching_step(self, window: int = SETTLE_WINDOW, tolerance: float = SETTLE_TOLERANCE,
                      tail: int = SETTLE_TAIL) -> int:
        """The first window inside the steady band (a ramp's end, whatever comes after it)."""
        off = self._off_steady(window, tolerance, tail)
        if off is None:
            return len(self.delivered)
        inside = np.flatnonzero(~off)
        return int(inside[0]) if inside.size else len(self.delivered)

    def summary(self) -> dict[str, float | str | int]:
        hours = len(self.rate) * STEP_SECONDS / 3600.0
        sent = max(sum(self.sent), 1)
        delivered = sum(self.delivered)
        return {
            "policy": self.policy, "run": self.run, "provider": self.provider, "seed": self.seed,
            "delivered_per_hour": delivered / hours if hours else 0.0,
            "sent_per_hour": sent / hours if hours else 0.0,
            "block_rate": sum(self.blocks) / sent,
            "rate_block_rate": sum(self.rate_blocks) / sent,
            "deferral_rate": sum(self.deferred) / sent,
            "complaint_rate": sum(self.complaints) / max(delivered, 1),
            "reputation_end": self.reputation_end,
            "reward": self.reward,
            "railed_share": sum(1 for r in self.rails if r) / max(len(self.rails), 1),
        }


def run_policy(policy: ThrottlePolicy, env: ThrottleEnv, seed: int, steps: int,
               rails: ThrottleRails | None = None) -> Trace:
    """Run `policy` for `steps` 30-second windows on `env` (reset with `seed`), a railed policy
    behind `rails` (the provider's published limit by default; `knowledge.limits` gives the
    knowledge base's)."""
    obs, _ = env.reset(seed=seed)
    rails = rails or ThrottleRails.for_provider(env.provider)
    rate = env.rate
    policy.reset(env.provider, rate)
    trace = Trace(policy.name, env.provider, seed, run=int(getattr(policy, "run", 0)))
    replies: list[tuple[str, int]] = []
    reward = 0.0
    for t in range(steps):
        proposed = policy.propose(Step(obs, rate, replies, reward, t * STEP_SECONDS, env))
        bound: tuple[str, ...] = ()
        if policy.railed:
            railed = rails.apply(proposed, rate)
            proposed, bound = railed.rate_per_min, railed.rails
        obs, reward, terminated, _, info = env.step_rate(proposed)
        rate = info["rate_per_min"]
        trace.record(info, bound)
        trace.reward += reward
        replies = info["replies"]
        if terminated:
            break
    trace.reputation_end = env.reputation
    return trace
