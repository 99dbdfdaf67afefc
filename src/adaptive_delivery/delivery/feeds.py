"""The providers' reputation feeds, as a sender reads them: the only reputation a sender ever sees.

- **Google Postmaster Tools**: per sending domain (and IP), daily, a reputation category (bad, low,
  medium, high) and the user-reported spam rate, shown a day or two late and only on days the
  domain sent enough mail to Gmail's personal accounts.
- **Microsoft SNDS**: per sending IP, daily, a filter verdict colour (red, yellow, green) and the
  complaint rate, a day late, for IPs that sent enough to Outlook.com that day.

Other providers publish no reputation. A reading is coded 0 (no reading: no feed, too little
volume, or not yet published) or 1-4 on one scale (bad, low, medium, high; SNDS red is bad, yellow
medium, green high), so one served input carries either feed.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_READING = 0
LEVELS = ("bad", "low", "medium", "high")  # codes 1..4


@dataclass(frozen=True)
class ReputationFeed:
    name: str
    delay_days: int  # days between the mail and its reading
    min_daily_volume: int  # below this a day gets no reading (the tools' volume floor)
    levels: tuple[str, ...]  # the feed's own words, worst first
    codes: tuple[int, ...]  # each word on the common 1-4 scale


POSTMASTER_TOOLS = ReputationFeed("postmaster_tools", delay_days=2, min_daily_volume=100,
                                  levels=("bad", "low", "medium", "high"), codes=(1, 2, 3, 4))
SNDS = ReputationFeed("snds", delay_days=1, min_daily_volume=100, levels=("red", "yellow", "green"), codes=(1, 3, 4))
FEEDS = {f.name: f for f in (POSTMASTER_TOOLS, SNDS)}
# Which provider publishes which feed (the public catalogue's `reputation_feed`).
PROVIDER_FEEDS = {"gmail": POSTMASTER_TOOLS, "outlook": SNDS}


def feed_of(provider: str) -> ReputationFeed | None:
    return PROVIDER_FEEDS.get(provider)


def level_score(code: float) -> float:
    """A reading as a 0-1 feature: bad 0 … high 1; no reading sits at medium (the prior of a sender
    that has not been told otherwise), so a policy never reads 'unknown' as 'bad'."""
    code = int(round(code))
    if code == NO_READING:
        return 2.0 / 3.0
    return (min(max(code, 1), len(LEVELS)) - 1) / (len(LEVELS) - 1)


def worst_reading(codes: list[int]) -> int:
    """The worst of several providers' readings (NO_READING when none has one)."""
    seen = [c for c in codes if c != NO_READING]
    return min(seen) if seen else NO_READING


def is_reading(code: float) -> bool:
    """A valid coded reading: 0 (none) or 1-4."""
    return float(code).is_integer() and NO_READING <= code <= len(LEVELS)
