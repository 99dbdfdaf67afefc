"""The twin's side of the providers' reputation feeds (`delivery.feeds`): what each feed would
publish about a sender, computed from the world's hidden reputation, late and only above the
feed's volume floor. The hidden score never leaves the twin; only the published word does."""

from __future__ import annotations

from collections import deque

import numpy as np

from adaptive_delivery.delivery.feeds import NO_READING, ReputationFeed, feed_of

# Where the hidden 0-100 score crosses into each published word, worst first (the twin's law).
THRESHOLDS = {"postmaster_tools": (30.0, 50.0, 70.0), "snds": (35.0, 60.0)}


def published_code(feed: ReputationFeed, reputation: float) -> int:
    """The word `feed` publishes for a hidden reputation, on the common 1-4 scale."""
    index = int(np.searchsorted(THRESHOLDS[feed.name], reputation, side="right"))
    return feed.codes[index]


class FeedHistory:
    """One provider's daily (reputation, volume) for one sender, and what its feed shows today."""

    def __init__(self, provider: str, reputation: float, prior_daily_volume: float) -> None:
        self.feed = feed_of(provider)
        depth = max(self.feed.delay_days if self.feed else 1, 1)
        self.days: deque[tuple[float, float]] = deque([(reputation, prior_daily_volume)] * depth, maxlen=depth)

    def close_day(self, reputation: float, volume: float) -> None:
        """Record a finished day (the reputation it ended on, the mail it carried)."""
        self.days.append((reputation, volume))

    def reading(self) -> int:
        """Today's published reading: the day `delay_days` ago (the last closed day is one ago), if
        it carried enough mail."""
        if self.feed is None:
            return NO_READING
        reputation, volume = self.days[-max(self.feed.delay_days, 1)]
        return published_code(self.feed, reputation) if volume >= self.feed.min_daily_volume else NO_READING
