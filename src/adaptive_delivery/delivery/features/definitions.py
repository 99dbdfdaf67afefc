"""Feature definitions shared by the Spark jobs, the pandas reference and the Feast repo.

A feature table is a series of snapshots: each row describes an entity as it was at
`event_timestamp`, computed only from events strictly before that instant, so a point-in-time
join can never see the future. Snapshot cadences follow the TTLs of spec §4.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# Spec §4.2: engagement score weights and the 14-day half-life; score = 100·sigmoid(sum/10).
ENGAGEMENT_WEIGHTS = {"open": 1.0, "click": 3.0, "conversion": 10.0, "unsubscribe": -20.0, "complaint": -50.0}
HALF_LIFE_DAYS = 14.0
NEVER_DAYS = 999.0  # "days since" for something that never happened

# Snapshot cadence per entity (also the Feast TTLs of spec §4.1).
SUBSCRIBER_EVERY = timedelta(days=1)
SENDER_EVERY = timedelta(hours=1)
PROVIDER_EVERY = timedelta(minutes=15)
SUBSCRIBER_TTL = timedelta(hours=24)
SENDER_TTL = timedelta(hours=1)
PROVIDER_TTL = timedelta(minutes=15)
# A campaign in flight is described every minute something happened to it (spec §4.1: real-time,
# event-driven); its record is read for a day, as long as transactional content trickles out.
CAMPAIGN_EVERY = timedelta(minutes=1)
CAMPAIGN_TTL = timedelta(hours=24)

# Spec §3.5 warm-up stages by daily volume (upper bounds).
WARMUP_STAGE_UPPER = (500, 5_000, 50_000, 500_000)

# Common spam-trigger phrases (public deliverability guidance; matched case-insensitively).
SPAM_TRIGGER_WORDS = (
    "free", "act now", "limited time", "guaranteed", "winner", "click here", "cash", "no obligation",
    "risk-free", "risk free", "urgent", "buy now", "lowest price", "$$$", "exclusive deal", "earn money",
    "double your", "once in a lifetime", "congratulations", "100%", "order now", "special promotion",
)
PERSONALIZATION_LEVEL = {"none": 0, "basic": 1, "advanced": 2}

# Every feature of every table with its value kind ("float", "int", "str", "bool", "float_array"):
# the Feast schemas are generated from these, and the tests hold both builders to them.
SUBSCRIBER_FEATURES: dict[str, str] = {
    "engagement_score": "float", "days_since_last_open": "float", "days_since_last_click": "float",
    "opens_30d": "int", "clicks_30d": "int", "emails_received_30d": "int", "open_hour_heatmap": "float_array",
    "click_hour_heatmap": "float_array", "open_weekday_heatmap": "float_array", "typical_response_hours": "float",
    "engagement_consistency": "float", "hard_bounces_total": "int", "soft_bounces_total": "int",
    "complaints_total": "int", "bounce_history": "int", "complaint_history": "int", "tenure_days": "float",
    "days_since_last_bounce": "float", "inbox_placements_30d": "int", "spam_placements_30d": "int",
    "days_since_last_delivery": "float", "emails_received_total": "int",
    "email_domain": "str", "domain_category": "str", "provider": "str", "client": "str", "device": "str",
}
SENDER_METRICS: dict[str, str] = {
    "sent_24h": "int", "hard_bounce_rate_24h": "float", "soft_bounce_rate_24h": "float", "bounce_rate_24h": "float",
    "block_rate_24h": "float", "deferral_rate_24h": "float", "complaint_rate_24h": "float", "open_rate_24h": "float",
    "volume_today": "int", "volume_this_hour": "int", "max_daily_volume_7d": "float", "warmup_stage": "int",
}
DOMAIN_FEATURES: dict[str, str] = {**SENDER_METRICS, "domain_age_days": "float", "spf": "bool", "dkim": "bool",
                                   "dmarc": "bool", "one_click_unsubscribe": "bool"}
IP_FEATURES: dict[str, str] = {**SENDER_METRICS, "ip_age_days": "float"}
PROVIDER_FEATURES: dict[str, str] = {
    "attempts_15m": "int", "accept_rate_15m": "float", "deferrals_per_min": "float", "blocks_per_min": "float",
    "rate_4xx_15m": "float", "rate_5xx_15m": "float", "mean_latency_ms_15m": "float", "throttle_signals_per_min": "float",
}
# Per sending IP and mailbox provider: how this provider treats this sender lately.
SENDER_PROVIDER_FEATURES: dict[str, str] = {
    "sent_24h": "int", "volume_this_hour": "int", "block_rate_24h": "float", "deferral_rate_24h": "float",
    "bounce_rate_24h": "float", "spam_placement_rate_24h": "float", "placements_24h": "int",
}
# Per content and mailbox provider, since the content was first sent: how this campaign is landing
# at this provider so far (spec §3.1 contextual features). A campaign's hidden quality shows in its
# first minutes; the text features only hint at it.
CONTENT_PROVIDER_FEATURES: dict[str, str] = {
    "outcomes_so_far": "int", "block_rate_so_far": "float", "spam_share_so_far": "float",
    "bounce_rate_so_far": "float", "deferral_rate_so_far": "float",
}
CONTENT_FEATURES: dict[str, str] = {
    "subject_length": "int", "subject_spam_words": "int", "body_spam_words": "int", "all_caps_share": "float",
    "exclamation_density": "float", "link_count": "int", "image_count": "int", "image_to_text_ratio": "float",
    "personalization_level": "int", "has_unsubscribe_link": "bool", "has_list_unsubscribe_header": "bool",
    "content_spam_risk": "float",
}
# MDL-007's P(spam) as a feature: UNSCORED where the sender's pre-send check did not score the content.
UNSCORED = -1.0
TEMPORAL_FEATURES: dict[str, str] = {"hour_of_day": "int", "day_of_week": "int", "is_weekend": "bool", "is_holiday": "bool"}
# Replies that mean "slow down" rather than "go away" (reasons from events.reasons).
THROTTLE_REASONS = ("speeding", "badreputation", "toomanyconn")

# table -> (entity key column or columns, its features)
FEATURE_TABLES: dict[str, tuple[str | tuple[str, ...], dict[str, str]]] = {
    "subscriber": ("subscriber_id", SUBSCRIBER_FEATURES),
    "sender_domain": ("sending_domain", DOMAIN_FEATURES),
    "sender_ip": ("sending_ip", IP_FEATURES),
    "sender_provider": (("sending_ip", "provider"), SENDER_PROVIDER_FEATURES),
    "provider": ("provider", PROVIDER_FEATURES),
    "content": ("content_id", CONTENT_FEATURES),
    "content_provider": (("content_id", "provider"), CONTENT_PROVIDER_FEATURES),
    "calendar": ("hour_ts", TEMPORAL_FEATURES),
}


@dataclass(frozen=True)
class Snapshots:
    """The instants at which each entity is described, for a lake covering [first_day, last_day]."""

    first_day: date
    last_day: date

    def _series(self, every: timedelta) -> list[datetime]:
        start = datetime.combine(self.first_day, datetime.min.time()) + every
        end = datetime.combine(self.last_day + timedelta(days=1), datetime.min.time())
        out, t = [], start
        while t <= end:
            out.append(t)
            t += every
        return out

    def subscriber(self) -> list[datetime]:
        return self._series(SUBSCRIBER_EVERY)

    def sender(self) -> list[datetime]:
        return self._series(SENDER_EVERY)

    def provider(self) -> list[datetime]:
        return self._series(PROVIDER_EVERY)


@dataclass(frozen=True)
class Instant:
    """One instant at which every entity is described: what the online store holds when a
    decision is taken at `at` (the simulator's decision loop reads features this way)."""

    at: datetime

    @property
    def first_day(self) -> date:
        return self.at.date()

    @property
    def last_day(self) -> date:
        return self.at.date()

    def subscriber(self) -> list[datetime]:
        return [self.at]

    def sender(self) -> list[datetime]:
        return [self.at]

    def provider(self) -> list[datetime]:
        return [self.at]


def warmup_stage(max_daily_volume: float) -> int:
    """0 cold … 4 established, from the largest daily volume of the last 7 days (spec §3.5)."""
    for i, upper in enumerate(WARMUP_STAGE_UPPER):
        if max_daily_volume < upper:
            return i
    return len(WARMUP_STAGE_UPPER)


def us_holidays(year: int) -> set[date]:
    """US federal holidays that move mailbox behaviour (fixed dates, no observed-day shifts)."""

    def nth_weekday(month: int, weekday: int, n: int) -> date:
        d = date(year, month, 1)
        d += timedelta(days=(weekday - d.weekday()) % 7)
        return d + timedelta(weeks=n - 1)

    def last_weekday(month: int, weekday: int) -> date:
        d = date(year, month + 1, 1) - timedelta(days=1) if month < 12 else date(year, 12, 31)
        return d - timedelta(days=(d.weekday() - weekday) % 7)

    return {
        date(year, 1, 1), nth_weekday(1, 0, 3), nth_weekday(2, 0, 3), last_weekday(5, 0), date(year, 6, 19),
        date(year, 7, 4), nth_weekday(9, 0, 1), nth_weekday(10, 0, 2), date(year, 11, 11), nth_weekday(11, 3, 4),
        date(year, 12, 25),
    }


def temporal_features(send_ts: pd.Series) -> pd.DataFrame:
    """Hour, weekday, weekend and US holiday of the moment a message is sent (UTC): the on-demand
    view's logic, shared with callers that compute rows without Feast."""
    import pandas as pd

    ts = pd.to_datetime(pd.Series(send_ts).reset_index(drop=True), utc=True)
    return pd.DataFrame(temporal_columns(ts.to_numpy(dtype="datetime64[ns]")))


@lru_cache(maxsize=64)
def _holidays(years: tuple[int, ...]) -> np.ndarray:
    return np.array(sorted(set().union(*(us_holidays(y) for y in years))), dtype="datetime64[D]")


def temporal_columns(moments: np.ndarray) -> dict[str, np.ndarray]:
    """`temporal_features` on UTC moments (datetime64), in numpy alone: a decision service computes
    them for every message it answers."""
    days = moments.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    years = tuple(int(y) + 1970 for y in np.unique(days.astype("datetime64[Y]").astype(np.int64)))
    holidays = _holidays(years)
    return {
        "hour_of_day": ((moments - days) // np.timedelta64(1, "h")).astype(np.int64),
        "day_of_week": weekday,
        "is_weekend": weekday >= 5,
        "is_holiday": np.isin(days, holidays),
    }


def provider_answer_flags(status: pd.Series, smtp_code: pd.Series, reason: pd.Series) -> dict[str, pd.Series]:
    """What each answer counts towards in its provider's 15-minute window: the batch build and the
    outcome store (which keeps the windows for the stream) count them alike."""
    code = smtp_code.astype("float64")
    return {
        "accepted": status == "accepted", "deferred": status == "deferred", "blocked": status == "blocked",
        "replies_4xx": (code >= 400) & (code < 500), "replies_5xx": (code >= 500) & (code < 600),
        "throttle_signals": status.isin(["deferred", "blocked"]) & reason.isin(THROTTLE_REASONS),
    }


def human_opens(engagement: pd.DataFrame) -> pd.DataFrame:
    """The messages a person opened and when first: open events that are not a mail client's
    prefetch (Apple Mail Privacy Protection and similar), as `message_id`, `event_ts`."""
    machine = engagement["machine_open"].fillna(False).astype(bool)
    human = engagement[(engagement["event_type"] == "open") & ~machine]
    return human.sort_values("event_ts").drop_duplicates("message_id")[["message_id", "event_ts"]].reset_index(drop=True)
