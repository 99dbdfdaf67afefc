"""MDL-003 learning from live outcomes (spec §6.2, §9.1): the served policy keeps learning from the
MTA's windows as they arrive, with a PPO update every `UPDATE_EVERY` actions.

What it learns from is only what the MTA logs: each window's rate, its outcome counts, and which
reply each refused message came with. The reward is spec §3.2's, less the training penalty on
refusals that came with a provider's rate-limit reply (the observable face of the speed-caused
blocks that training penalises with the world's truth).

Exploration happens only inside the rails: the learning controller samples its action from the
policy's own distribution, mapped onto the moves the ±50% rail lets through, and every rate goes
through `ThrottleRails`. On any model error (an exception, a non-finite action) the controller
falls back to the provider's safe default rate (the knowledge base's optimal rate, spec §6.2's
static rate where it knows nothing) and says why in the decision; an update that leaves
non-finite weights is undone, and the decision says so too. The rails' ceiling is the knowledge
base's too (`knowledge.limits`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adaptive_delivery.delivery.knowledge.limits import KnownLimits
from adaptive_delivery.delivery.models.mdl003_throttle.features import multiplier, throttle_features
from adaptive_delivery.delivery.models.mdl003_throttle.training import (
    SPEED_BLOCK_PENALTY,
    reward_scale,
)
from adaptive_delivery.delivery.providers import PROVIDER_INDEX, is_rate_limit_reply
from adaptive_delivery.delivery.schemas import MTA_WINDOW_FIELDS
from adaptive_delivery.platform.rl.online import OnlinePPO
from adaptive_delivery.twin.envs import OUTCOME_KINDS, throttle_reward

UPDATE_EVERY = 1_000  # the cadence: one update per 1,000 actions
# Smaller than training's 3e-4: an update sees one provider's last 1,000 windows, not four worlds'
# 2,048 each, and must not undo what training learned from one stretch of them.
LEARNING_RATE = 1e-4
WINDOW_KIND = "mta_window"
DECISION_KIND = "throttle_decision"


class WindowRecordError(ValueError):
    """A window record that cannot be read (missing or ill-typed fields): quarantined, never acted on."""


@dataclass(frozen=True)
class WindowRecord:
    """What the MTA logs of one 30-second window to one provider, as it goes through the stream."""

    provider: str
    index: int  # the window's place in the MTA's sequence for this provider
    rate_per_min: float  # the rate the window was sent at
    obs: tuple[float, ...]  # `MTA_WINDOW_FIELDS` after the window
    counts: dict[str, int]  # messages per outcome (`OUTCOME_KINDS`)
    refused_replies: tuple[tuple[str, int], ...] = ()  # the reply line of each refused message, counted

    def to_event(self) -> dict[str, Any]:
        return {"provider": self.provider, "index": self.index, "rate_per_min": self.rate_per_min,
                "window": dict(zip(MTA_WINDOW_FIELDS, self.obs, strict=True)), "counts": self.counts,
                "refused_replies": [list(r) for r in self.refused_replies]}

    @classmethod
    def from_event(cls, event: Any) -> WindowRecord:
        """Read a record, or say exactly what is wrong with it."""
        if not isinstance(event, dict):
            raise WindowRecordError(f"a window record is a JSON object, got {type(event).__name__}")
        missing = [k for k in ("provider", "index", "rate_per_min", "window", "counts") if k not in event]
        if missing:
            raise WindowRecordError(f"missing fields: {', '.join(missing)}")
        provider = event["provider"]
        if not isinstance(provider, str) or provider not in PROVIDER_INDEX:
            raise WindowRecordError(f"unknown provider {provider!r}")
        window, counts = event["window"], event["counts"]
        if not isinstance(window, dict) or set(window) != set(MTA_WINDOW_FIELDS):
            raise WindowRecordError(f"window must hold exactly {', '.join(MTA_WINDOW_FIELDS)}")
        if not isinstance(counts, dict) or set(counts) != set(OUTCOME_KINDS):
            raise WindowRecordError(f"counts must hold exactly {', '.join(OUTCOME_KINDS)}")
        try:
            obs = tuple(float(window[k]) for k in MTA_WINDOW_FIELDS)
            rate = float(event["rate_per_min"])
            counted = {k: int(counts[k]) for k in OUTCOME_KINDS}
            refused = tuple((str(line), int(n)) for line, n in event.get("refused_replies") or [])
            index = int(event["index"])
        except (TypeError, ValueError, OverflowError) as exc:
            raise WindowRecordError(f"a field is not a number, or refused_replies not [line, count] pairs: {exc}") from exc
        if not all(math.isfinite(v) for v in (*obs, rate)) or rate < 0 or min(counted.values()) < 0:
            raise WindowRecordError("rates and window fields must be finite, counts and rate non-negative")
        return cls(provider, index, rate, obs, counted, refused)

    @property
    def rate_limited_refusals(self) -> int:
        """Refused messages whose reply was a provider's rate-limit reply (what the MTA can tell of
        the refusals its speed caused)."""
        return sum(n for line, n in self.refused_replies if is_rate_limit_reply(line))


def observed_reward(record: WindowRecord) -> float:
    """Spec §3.2's reward of the window, less training's penalty on refusals with a rate-limit reply,
    in training's per-provider scale."""
    reward = throttle_reward(record.counts, record.rate_per_min)
    reward -= SPEED_BLOCK_PENALTY * record.rate_limited_refusals / 1000.0
    return reward * reward_scale(record.provider)


@dataclass(frozen=True)
class Decision:
    """The rate for the window after `after_window`, and why."""

    provider: str
    after_window: int
    rate_per_min: float
    proposed_per_min: float
    rails: tuple[str, ...]
    fallback: str | None = None  # why the safe default rate is in force instead of the policy's
    updates: int = 0  # online updates the policy had when it decided
    note: str | None = None  # what the last update did, when it did not go as planned

    def to_event(self) -> dict[str, Any]:
        return {"provider": self.provider, "after_window": self.after_window, "rate_per_min": self.rate_per_min,
                "proposed_per_min": self.proposed_per_min, "rails": list(self.rails), "fallback": self.fallback,
                "updates": self.updates, "note": self.note}


@dataclass
class OnlineThrottle:
    """One provider's controller around a PPO policy: decides each window's rate from the last
    window's record and, when `learn`, updates the policy every `update_every` actions
    (`platform.rl.online.OnlinePPO`)."""

    model: Any  # stable_baselines3.PPO
    provider: str
    learn: bool = True
    update_every: int = UPDATE_EVERY
    learning_rate: float = LEARNING_RATE
    seed: int = 0
    fallbacks: int = 0
    limits: KnownLimits = field(default_factory=KnownLimits.none)  # the knowledge base's start and ceiling

    def __post_init__(self) -> None:
        self.rails = self.limits.throttle_rails(self.provider)
        self.learner = OnlinePPO(self.model, learn=self.learn, update_every=self.update_every,
                                 learning_rate=self.learning_rate, seed=self.seed)

    @property
    def updates(self) -> int:
        return self.learner.updates

    @property
    def undone_updates(self) -> int:
        return self.learner.undone_updates

    @property
    def update_seconds(self) -> list[float]:
        return self.learner.update_seconds

    def safe_default(self) -> float:
        """The rate the knowledge base learned to start at (spec §6.2's default where it knows nothing)."""
        return self.limits.start_rate_per_min(self.provider)

    def decide(self, record: WindowRecord) -> Decision:
        """The next window's rate from this window's record (and, learning, this window's reward
        for the action that chose its rate)."""
        if record.provider != self.provider:
            raise WindowRecordError(f"a {record.provider} window sent to the {self.provider} controller")
        self.learner.reward(observed_reward(record))
        features = throttle_features(np.asarray(record.obs, dtype=np.float32), self.provider)
        self.learner.update_if_due(features)
        try:
            action = float(self.learner.act(features)[0, 0])
            move = multiplier(action)
            if not math.isfinite(move):
                raise FloatingPointError(f"the policy's action is {action}")
        except Exception as exc:  # noqa: BLE001 - any model error must leave a safe rate in force
            self.fallbacks += 1
            self.learner.break_trajectory()
            rate = self.safe_default()
            return Decision(self.provider, record.index, rate, rate, ("safe_default",),
                            fallback=f"{type(exc).__name__}: {exc}", updates=self.updates,
                            note=self.learner.take_note())
        railed = self.rails.apply(record.rate_per_min * move, record.rate_per_min)
        return Decision(self.provider, record.index, railed.rate_per_min, railed.proposed_per_min, railed.rails,
                        updates=self.updates, note=self.learner.take_note())
