"""The rates the controllers start at and the ceilings the rails hold, from what the knowledge base
learned of each provider (spec §9.2), with spec §6.2's defaults where nothing usable is known.

MDL-003 starts a provider at the learned optimal rate (`optimal_rate_per_hour`, 80% of the
allowance one IP was seen to get) instead of spec §6.2's fixed guess, and its rails stop at
`CEILING_HEADROOM` times the learned allowance (`safe_max_rate_per_hour`) or the published limit,
whichever is lower: room to follow an allowance that grew with the sender's reputation, none to
run far past one that was measured. A fact learned longer ago than `max_age` is not used (the
allowance moves with reputation), and a lower bound (an IP never pushed back) starts the rate but
never lowers a ceiling. Every answer names where it came from, so a decision record can say why.

Reads a mapping of facts (the store's, or the JSON of `knowledge export`): a runtime reads the
export `AD_KNOWLEDGE_EXPORT` names, else the store `AD_KNOWLEDGE_URL` names, and again every
`REFRESH_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adaptive_delivery.delivery.decisions.rails import (
    MIN_RATE_PER_MIN,
    ThrottleRails,
    known_limit_per_min,
    static_rate_per_min,
)

CEILING_HEADROOM = 1.5  # the rails' ceiling over the learned allowance
SEND_HOURS = 4.0  # hours a day a warming IP's mail is spread over (a setting of the sender's plan)
MIN_MAIL_SHARE = 0.01  # a provider with less of the mail than this does not bound a day's volume
MAX_AGE = timedelta(days=14)  # older facts are not used: the allowance follows the sender's reputation
ENV_EXPORT = "AD_KNOWLEDGE_EXPORT"  # a `knowledge export` JSON the runtimes read their limits from
ENV_STORE = "AD_KNOWLEDGE_URL"  # else the store itself (the deployment's setting)
REFRESH_SECONDS = 3600.0  # how often a runtime reads them again (the knowledge base learns daily)
DEFAULT_SOURCE = "spec §6.2 default"
logger = logging.getLogger(__name__)


class LimitsReader:
    """What a runtime holds: the limits the deployment names (`KnownLimits.from_environment`),
    read again once they are `REFRESH_SECONDS` old; a read that fails keeps the ones in force."""

    def __init__(self, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.refresh_seconds = refresh_seconds
        self.limits = KnownLimits.from_environment()  # a misnamed file or store fails the load, loudly
        self.read_at = time.monotonic()

    def current(self) -> KnownLimits:
        if time.monotonic() - self.read_at > self.refresh_seconds:
            self.read_at = time.monotonic()
            try:
                self.limits = KnownLimits.from_environment()
            except Exception as exc:  # noqa: BLE001 - a store that is down must not stop the decisions
                logger.warning("knowledge base limits not read again (%s); the last ones stay in force", exc)
        return self.limits


@dataclass(frozen=True)
class ProviderLimit:
    """One provider's starting rate and rails ceiling (messages/minute per IP), and their sources."""

    provider: str
    start_rate_per_min: float
    ceiling_per_min: float
    start_source: str
    ceiling_source: str

    def rails(self) -> ThrottleRails:
        """MDL-003's rails, stopping at this ceiling."""
        return ThrottleRails(max_rate_per_min=self.ceiling_per_min)


@dataclass(frozen=True)
class KnownLimits:
    """Per provider, the facts `safe_max_rate_per_hour`, `optimal_rate_per_hour` and `mail_share`
    as values with evidence and learning time (`{"value", "evidence", "learned_at"}`, as exported)."""

    facts: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    max_age: timedelta = MAX_AGE
    now: datetime | None = None  # the moment ages are taken at (the present when None)

    @classmethod
    def none(cls) -> KnownLimits:
        """Nothing learned: every provider at spec §6.2's defaults and its published limit."""
        return cls({})

    @classmethod
    def from_export(cls, data: Mapping[str, Any], **kwargs: Any) -> KnownLimits:
        """From the JSON `adaptive-delivery knowledge export` writes."""
        providers = data.get("providers")
        if not isinstance(providers, Mapping):
            raise ValueError("a knowledge export holds a 'providers' object (adaptive-delivery knowledge export)")
        return cls({str(p): dict(f) for p, f in providers.items()}, **kwargs)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> KnownLimits:
        return cls.from_export(json.loads(Path(path).read_text()), **kwargs)

    @classmethod
    def from_store(cls, url: str, **kwargs: Any) -> KnownLimits:
        from adaptive_delivery.delivery.knowledge.store import KnowledgeBase

        return cls.from_export(KnowledgeBase(url).export(), **kwargs)

    @classmethod
    def from_environment(cls) -> KnownLimits:
        """The export `AD_KNOWLEDGE_EXPORT` names, else the store `AD_KNOWLEDGE_URL` names, else
        nothing learned (spec §6.2's defaults and the published limits)."""
        if path := os.environ.get(ENV_EXPORT):
            return cls.from_file(path)
        if url := os.environ.get(ENV_STORE):
            return cls.from_store(url)
        return cls.none()

    def _fact(self, provider: str, name: str) -> tuple[float | None, str, str]:
        """(value, kind, why) of one numeric fact; value None where it is missing, not a number,
        not positive, or stale."""
        fact = self.facts.get(provider, {}).get(name)
        if not fact or fact.get("value") is None:
            return None, "unknown", f"nothing learned of {provider}"
        kind = str((fact.get("evidence") or {}).get("kind", "estimate"))
        try:
            value = float(fact["value"])
        except (TypeError, ValueError):
            return None, kind, f"{name} of {provider} is not a number ({fact['value']!r})"
        learned = fact.get("learned_at")
        version = fact.get("version")
        label = f"knowledge base v{version}" if version is not None else "knowledge base"
        if learned:
            at = datetime.fromisoformat(str(learned))
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
            age = (self.now or datetime.now(UTC)) - at
            if age > self.max_age:
                return None, kind, f"{label} learned {age.days} days ago (older than {self.max_age.days})"
            label += f", learned {at.date().isoformat()}"
        if not math.isfinite(value) or value <= 0:
            return None, kind, f"{label} holds no usable rate ({value})"
        return value, kind, f"{label} ({kind})"

    def limit(self, provider: str) -> ProviderLimit:
        """Where `provider`'s rate starts and where its rails stop."""
        published = known_limit_per_min(provider)
        safe, kind, why = self._fact(provider, "safe_max_rate_per_hour")
        if safe is not None and kind == "estimate":
            ceiling = min(published, max(CEILING_HEADROOM * safe / 60.0, MIN_RATE_PER_MIN))
            ceiling_source = f"{CEILING_HEADROOM:g} x the learned allowance, {why}" if ceiling < published else (
                "published limit (under the learned allowance's headroom)")
        else:
            ceiling, ceiling_source = published, "published limit"
        optimal, _, start_why = self._fact(provider, "optimal_rate_per_hour")
        if optimal is not None:
            start, start_source = optimal / 60.0, start_why
        else:
            start, start_source = static_rate_per_min(provider), f"{DEFAULT_SOURCE} ({start_why})"
        start = min(max(start, MIN_RATE_PER_MIN), ceiling)
        return ProviderLimit(provider, start, ceiling, start_source, ceiling_source)

    def start_rate_per_min(self, provider: str) -> float:
        return self.limit(provider).start_rate_per_min

    def daily_ceiling(self, send_hours: float = SEND_HOURS) -> tuple[float, str]:
        """The most one IP of this sender can send in a day spread over `send_hours` without going
        past any provider's learned allowance, at each provider's share of the mail (the provider
        whose allowance runs out first bounds it): MDL-009's ceiling for a warm-up, which cannot
        go past what the sender's established IPs are allowed. Infinite where nothing bounds it."""
        bounds = []
        for provider in self.facts:
            allowance, kind, why = self._fact(provider, "safe_max_rate_per_hour")
            share, _, _ = self._fact(provider, "mail_share")
            if allowance is not None and kind == "estimate" and share is not None and share >= MIN_MAIL_SHARE:
                bounds.append((allowance * send_hours / share, f"{provider}'s learned allowance at {share:.0%} of the "
                                                               f"mail over {send_hours:g} h, {why}"))
        if not bounds:
            return math.inf, "nothing learned bounds it"
        return min(bounds)

    def throttle_rails(self, provider: str) -> ThrottleRails:
        """MDL-003's rails for `provider`, with the ceiling the knowledge base allows."""
        return self.limit(provider).rails()
