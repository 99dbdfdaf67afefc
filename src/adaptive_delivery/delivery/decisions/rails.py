"""Safety rails: hard limits that stand between any policy (learned or rule-based) and the world.

The rails never ask the policy's opinion: whatever a throttle or warm-up policy proposes, the
rails clamp it, and they say which rail bound so the decision record explains itself. The
invariants (property-tested in tests/unit/test_rails.py for arbitrary proposals):

throttle (MDL-003), every 30 s per provider
  - never above the provider's ceiling (its published limit, or lower where the knowledge base
    learned the allowance: `knowledge.limits`), never below 10 messages/minute;
  - at most a 50% change from the current rate per update (when the current rate is inside the
    limits; a rate outside them is brought inside first, since the limits rank above smoothness);
  - no rise while MDL-004 reads the sending IP or domain as bad or alerts (`ReputationReading`).

warm-up (MDL-009), every day per IP/domain
  - tomorrow's volume at most +50% over today's limit;
  - automatic pause when the day's bounce rate > 5%, complaint rate > 0.1%, or on a block event;
  - a rise of more than one warm-up stage, or a resume after a pause, needs a recorded human
    approval; without one the rail holds the volume (or the pause);
  - no rise while MDL-004 reads the IP or domain as bad or alerts;
  - never above what the providers were learned to take from one of the sender's IPs in a day
    (`max_volume`, from the knowledge base).

MDL-004's reading is computed from what the sender observes (its own logs, FBL, public blocklists
and the providers' postmaster feeds), so a rail that reads it still reads only observable data; a
request without one is railed as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adaptive_delivery.delivery.features.definitions import WARMUP_STAGE_UPPER, warmup_stage

# Spec §3.2 safety constraints.
MIN_RATE_PER_MIN = 10.0  # "never stop completely"
MAX_RATE_CHANGE = 0.5  # at most 50% per update
# What the operator may send to each provider per IP at most (messages/minute): the published or
# contracted ceiling, far above a good sender's usual allowance; the hidden limit is below it.
KNOWN_LIMIT_PER_MIN = {
    "gmail": 1_000.0, "yahoo": 500.0, "outlook": 600.0, "aol": 200.0, "apple": 400.0,
    "comcast": 120.0, "corporate": 100.0, "disposable": 60.0,
}
DEFAULT_KNOWN_LIMIT_PER_MIN = 100.0
# Spec §6.2: the per-provider "safe default" rates a static MTA configuration starts at (msgs/min),
# where nothing has been learned of the provider.
STATIC_DEFAULT_RATE_PER_MIN = {"gmail": 100.0, "yahoo": 150.0, "outlook": 200.0, "aol": 100.0}
DEFAULT_RATE_PER_MIN = 50.0

# Spec §3.5 warm-up rails.
MAX_DAILY_INCREASE = 0.5
PAUSE_BOUNCE_RATE = 0.05
PAUSE_COMPLAINT_RATE = 0.001
# A block event: a provider refusing the IP, not one policy refusal among thousands (every sender
# sees a background of those, and a new IP more of them). Either speed-related refusals above 0.1%
# of the day's mail, or refusals of any kind 3 points above the trailing week's level.
BLOCK_EVENT_RATE_BLOCKS = 0.001
BLOCK_EVENT_ALL_BLOCKS = 0.03
MIN_DAILY_VOLUME = 50.0
STAGE_NAMES = ("cold", "early", "mid", "late", "established")
# Spec §3.5: upper daily limit of each stage (messages/day per IP); one table with the features'.
STAGE_UPPER = (*map(float, WARMUP_STAGE_UPPER), math.inf)


def is_block_event(block_rate: float, rate_limit_refusal_rate: float, baseline_block_rate: float = 0.0) -> bool:
    """Spec §3.5's "any block event": speed-related refusals, or refusals jumping above their usual level."""
    return rate_limit_refusal_rate > BLOCK_EVENT_RATE_BLOCKS or block_rate > baseline_block_rate + BLOCK_EVENT_ALL_BLOCKS


def known_limit_per_min(provider: str) -> float:
    return KNOWN_LIMIT_PER_MIN.get(provider, DEFAULT_KNOWN_LIMIT_PER_MIN)


def static_rate_per_min(provider: str) -> float:
    return float(STATIC_DEFAULT_RATE_PER_MIN.get(provider, DEFAULT_RATE_PER_MIN))


# MDL-004's health score below this is Postmaster's "bad" (P(block event or listing in 24 h) >= 0.5).
HOLD_HEALTH = 50.0


@dataclass(frozen=True)
class ReputationReading:
    """MDL-004's reading of the sending IP or domain: its health score (0-100) and whether one of
    its alerts (a block event or a listing expected within 24 hours) fired."""

    health_score: float
    alert: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.health_score) and 0.0 <= self.health_score <= 100.0):
            raise ValueError(f"a health score is in [0, 100], got {self.health_score}")

    @property
    def holds(self) -> bool:
        """Whether the rails hold the rate and volume where they are (no rise)."""
        return self.alert or self.health_score < HOLD_HEALTH


def _capped(value: float, cap: float, rail: str, rails: list[str]) -> float:
    """`value` no higher than `cap`, the rail named in `rails` when it bound."""
    if value > cap:
        rails.append(rail)
        return cap
    return value


@dataclass(frozen=True)
class RailedRate:
    rate_per_min: float
    proposed_per_min: float
    rails: tuple[str, ...]  # which rails bound, in the order they were applied


@dataclass(frozen=True)
class ThrottleRails:
    """Clamp a proposed per-provider rate (messages/minute)."""

    max_rate_per_min: float
    min_rate_per_min: float = MIN_RATE_PER_MIN
    max_change: float = MAX_RATE_CHANGE

    def __post_init__(self) -> None:
        if not (0 < self.min_rate_per_min <= self.max_rate_per_min):
            raise ValueError(f"need 0 < min ({self.min_rate_per_min}) <= max ({self.max_rate_per_min})")
        if not (0 < self.max_change < 1):
            raise ValueError(f"max_change must be in (0, 1), got {self.max_change}")

    @classmethod
    def for_provider(cls, provider: str, **kwargs: float) -> ThrottleRails:
        return cls(max_rate_per_min=known_limit_per_min(provider), **kwargs)

    def apply(self, proposed: float, current: float, reputation: ReputationReading | None = None) -> RailedRate:
        rails: list[str] = []
        rate = float(proposed)
        if not math.isfinite(rate) or rate < 0:
            rails.append("invalid_proposal")
            rate = current
        if math.isfinite(current) and current > 0:
            low, high = current * (1 - self.max_change), current * (1 + self.max_change)
            if rate > high or rate < low:
                rails.append("max_change")
                rate = min(max(rate, low), high)
        if reputation is not None and reputation.holds:
            # no rise on a bad reading: from a rate in force, or past the minimum where none is yet
            held = current if math.isfinite(current) and current > 0 else self.min_rate_per_min
            rate = _capped(rate, held, "reputation_hold", rails)
        rate = _capped(rate, self.max_rate_per_min, "provider_limit", rails)
        if rate < self.min_rate_per_min:
            rails.append("min_rate")
            rate = self.min_rate_per_min
        return RailedRate(rate_per_min=rate, proposed_per_min=float(proposed), rails=tuple(rails))


# ---- warm-up -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayMetrics:
    """What a day of warm-up sending showed (rates over the day's sent mail)."""

    sent: float
    bounce_rate: float
    complaint_rate: float
    block_rate: float
    rate_limit_refusal_rate: float = 0.0
    deferral_rate: float = 0.0
    baseline_block_rate: float = 0.0  # the trailing week's refusal rate (0 where there is none)

    def pause_reasons(self) -> tuple[str, ...]:
        reasons = []
        if self.bounce_rate > PAUSE_BOUNCE_RATE:
            reasons.append(f"bounce rate {self.bounce_rate:.2%} > {PAUSE_BOUNCE_RATE:.0%}")
        if self.complaint_rate > PAUSE_COMPLAINT_RATE:
            reasons.append(f"complaint rate {self.complaint_rate:.3%} > {PAUSE_COMPLAINT_RATE:.1%}")
        if is_block_event(self.block_rate, self.rate_limit_refusal_rate, self.baseline_block_rate):
            reasons.append(f"block event ({self.block_rate:.2%} refused, {self.rate_limit_refusal_rate:.2%} with rate-limit replies)")
        return tuple(reasons)


@dataclass(frozen=True)
class Approval:
    """A human's recorded yes to one rail-gated move."""

    kind: str  # "resume" | "stage_jump"
    approved_by: str
    note: str = ""
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.kind not in ("resume", "stage_jump"):
            raise ValueError(f"unknown approval kind {self.kind!r}")
        if not self.approved_by.strip():
            raise ValueError("an approval needs the approver's name")


@dataclass(frozen=True)
class RailedVolume:
    volume: float  # tomorrow's daily limit; 0 while paused
    paused: bool
    proposed: float
    rails: tuple[str, ...]
    pause_reasons: tuple[str, ...] = ()
    needs_approval: tuple[str, ...] = ()  # moves the rails held back until a human approves
    approvals_used: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class WarmupRails:
    max_daily_increase: float = MAX_DAILY_INCREASE
    min_volume: float = MIN_DAILY_VOLUME
    # what the providers were learned to take from one of the sender's established IPs in a day
    # (`knowledge.limits.KnownLimits.daily_ceiling`): a warming IP is planned no higher
    max_volume: float = math.inf

    def __post_init__(self) -> None:
        if not self.max_volume >= self.min_volume:
            raise ValueError(f"max_volume ({self.max_volume}) must be at least min_volume ({self.min_volume})")

    def apply(
        self,
        proposed: float,
        current: float,
        day: DayMetrics | None,
        *,
        paused: bool = False,
        approvals: tuple[Approval, ...] = (),
        reputation: ReputationReading | None = None,
    ) -> RailedVolume:
        """Tomorrow's volume from a proposal, today's limit and today's metrics (and MDL-004's
        reading of the IP, where there is one).

        `proposed` of 0 (or less) means the policy itself asks to pause."""
        rails: list[str] = []
        needs: list[str] = []
        used: list[Approval] = []
        current = max(float(current), self.min_volume)
        reasons = day.pause_reasons() if day is not None else ()
        if reasons:
            return RailedVolume(0.0, True, float(proposed), ("auto_pause",), pause_reasons=reasons)
        vol = float(proposed)
        if not math.isfinite(vol):
            rails.append("invalid_proposal")
            vol = current
        if vol <= 0:
            return RailedVolume(0.0, True, float(proposed), ("policy_pause",) if not rails else tuple(rails))
        if paused:
            resume = _take(approvals, "resume")
            if resume is None:
                return RailedVolume(0.0, True, float(proposed), ("resume_needs_approval",), needs_approval=("resume",))
            used.append(resume)
            rails.append("resume_approved")
        vol = _capped(vol, current * (1 + self.max_daily_increase), "max_daily_increase", rails)
        if reputation is not None and reputation.holds:
            vol = _capped(vol, current, "reputation_hold", rails)
        vol = _capped(vol, self.max_volume, "learned_capacity", rails)
        if warmup_stage(vol) > warmup_stage(current) + 1:
            jump = _take(approvals, "stage_jump")
            if jump is None:
                rails.append("stage_jump_needs_approval")
                needs.append("stage_jump")
                vol = math.nextafter(STAGE_UPPER[warmup_stage(current) + 1], 0.0)
            else:
                used.append(jump)
        if vol < self.min_volume:
            rails.append("min_volume")
            vol = self.min_volume
        return RailedVolume(vol, False, float(proposed), tuple(rails), needs_approval=tuple(needs), approvals_used=tuple(used))


def _take(approvals: tuple[Approval, ...], kind: str) -> Approval | None:
    return next((a for a in approvals if a.kind == kind), None)
