"""How a mailbox provider answers, read off a sender's own delivery log: one profile per recipient
domain (or per provider, or per provider and sending IP) over a window of outcomes.

Every feature is a share or a log latency, never a volume: two providers that answer by the same
rules but differ in size must look alike. Shares are shrunk towards a typical log's rate by a few
pseudo-messages so that a small domain's week does not look extreme by chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.providers import provider_for_domain

# The profile, in the order the model and the service read it.
PROFILE_FEATURES: tuple[str, ...] = (
    "block_share",  # messages refused for good (5xx or a final policy refusal) / messages
    "content_block_share",  # messages refused for their content / messages
    "deferral_share",  # messages whose first attempt was deferred / messages
    "refusal_5xx_share",  # 5xx replies among the refusals and deferrals (how it words "no")
    "spam_share",  # spam-folder placements among the panel's observed placements
    "open_share",  # accepted messages a person opened (machine opens aside): the filter, seen by everyone
    "latency_log_median",  # log of the median SMTP reply latency (ms)
    "latency_log_iqr",  # spread of the log latency (upper minus lower quartile)
)
SHARE_FEATURES = PROFILE_FEATURES[:6]
# A typical delivery log's rates (what a share is shrunk towards) and how many pseudo-messages the
# shrinkage weighs: enough to calm a 50-message week, too few to move a 1,000-message one.
TYPICAL_RATE: dict[str, float] = {
    "block_share": 0.01, "content_block_share": 0.002, "deferral_share": 0.005,
    "refusal_5xx_share": 0.7, "spam_share": 0.1, "open_share": 0.2,
}
PSEUDO_MESSAGES = 20.0
OUTCOME_COLUMNS = ("message_id", "attempt", "event_ts", "status", "smtp_code", "reason", "latency_ms", "placement",
                   "provider", "recipient", "sending_ip")
UNITS = ("domain", "provider", "provider_ip")


@dataclass(frozen=True)
class Counts:
    """What a profile is computed from, per unit: the numerators and the denominators."""

    messages: np.ndarray
    blocked: np.ndarray
    content_blocked: np.ndarray
    deferred: np.ndarray
    refusals: np.ndarray
    refusals_5xx: np.ndarray
    placements: np.ndarray
    spam: np.ndarray
    accepted: np.ndarray
    opened: np.ndarray


def shrunk(count: np.ndarray, total: np.ndarray, typical: float) -> np.ndarray:
    return (np.asarray(count, float) + PSEUDO_MESSAGES * typical) / (np.asarray(total, float) + PSEUDO_MESSAGES)


def unit_keys(outcomes: pd.DataFrame, unit: str) -> pd.Series:
    """The key each outcome row is profiled under: its recipient domain, its provider, or its
    provider and the sending IP that got the answer."""
    if unit == "domain":
        return outcomes["recipient"].astype(str).str.rsplit("@", n=1).str[-1].str.lower()
    if unit == "provider":
        return outcomes["provider"].astype(str)
    if unit == "provider_ip":
        return outcomes["provider"].astype(str) + "|" + outcomes["sending_ip"].astype(str)
    raise ValueError(f"unknown unit {unit!r}; one of {UNITS}")


# Latency is kept as a histogram of log milliseconds (1% bins up to 1,000 s): windows then add up.
LATENCY_BIN = 0.01
LATENCY_BINS = int(np.ceil(np.log(1e6) / LATENCY_BIN))
COUNT_FIELDS = tuple(Counts.__dataclass_fields__)


@dataclass(frozen=True)
class DailyLog:
    """A delivery log cut into UTC days per unit: counts (unit x day x COUNT_FIELDS) and latency
    histograms (unit x day x LATENCY_BINS), from which any run of days gives profiles."""

    units: np.ndarray
    start: pd.Timestamp
    counts: np.ndarray
    latency: np.ndarray

    @property
    def days(self) -> int:
        return self.counts.shape[1]

    def profiles(self, first_day: int = 0, end_day: int | None = None, min_messages: int = 1) -> pd.DataFrame:
        """One row per unit with at least `min_messages` messages in days [first_day, end_day)."""
        span = slice(max(first_day, 0), self.days if end_day is None else end_day)
        counts = self.counts[:, span].sum(axis=1)
        hist = self.latency[:, span].sum(axis=1)
        keep = counts[:, COUNT_FIELDS.index("messages")] >= max(min_messages, 1)
        c = Counts(**{k: counts[keep, i] for i, k in enumerate(COUNT_FIELDS)})
        frame = pd.DataFrame(profile_from_counts(c), index=pd.Index(self.units[keep], name="unit"))
        lower, median, upper = (histogram_quantile(hist[keep], q) for q in (0.25, 0.5, 0.75))
        frame["latency_log_median"] = median
        frame["latency_log_iqr"] = upper - lower
        frame.insert(0, "messages", c.messages.astype(int))
        return frame[["messages", *PROFILE_FEATURES]]


def histogram_quantile(hist: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of each row's log-latency histogram, interpolated within its bin."""
    if hist.shape[0] == 0:
        return np.zeros(0)
    cum = np.cumsum(hist, axis=1)
    target = q * cum[:, -1:]
    k = np.minimum((cum < target).sum(axis=1), hist.shape[1] - 1)
    rows = np.arange(hist.shape[0])
    before = np.where(k > 0, cum[rows, np.maximum(k - 1, 0)], 0.0)
    inside = np.where(hist[rows, k] > 0, (target[:, 0] - before) / np.maximum(hist[rows, k], 1e-12), 0.5)
    return (k + inside) * LATENCY_BIN


def daily_log(outcomes: pd.DataFrame, unit: str = "domain", start: pd.Timestamp | None = None,
              opened: np.ndarray | pd.Series | None = None) -> DailyLog:
    """Cut a delivery log (OUTCOME_COLUMNS; extra columns are ignored) into days per unit, from
    `start` (default: the first event's UTC midnight). `opened`: the message ids a person opened
    (engagement events, machine opens aside); none given, no message counts as opened."""
    rows = outcomes.sort_values(["message_id", "attempt"], kind="stable")
    ts = pd.to_datetime(rows["event_ts"], utc=True)
    start = ts.min().normalize() if start is None else start
    if rows.empty:
        return DailyLog(np.array([], dtype=object), start, np.zeros((0, 0, len(COUNT_FIELDS))),
                        np.zeros((0, 0, LATENCY_BINS)))
    unit_code, units = pd.factorize(unit_keys(rows, unit), sort=True)
    day = ((ts - start) // pd.Timedelta(days=1)).to_numpy().astype(np.int64)
    keep = day >= 0
    n_days = int(day.max()) + 1
    status = rows["status"].astype(str).to_numpy()
    code = pd.to_numeric(rows["smtp_code"], errors="coerce").fillna(0).to_numpy()
    reason = rows["reason"].to_numpy()
    placement = rows["placement"].to_numpy()
    first = rows["attempt"].astype(int).to_numpy() == 1
    final = ~rows.duplicated("message_id", keep="last").to_numpy()
    refused = (status == "blocked") | (status == "deferred")
    flags = {
        "messages": first, "blocked": final & (status == "blocked"),
        "content_blocked": final & (status == "blocked") & (reason == "spamdetected"),
        "deferred": first & (status == "deferred"), "refusals": refused, "refusals_5xx": refused & (code >= 500),
        "placements": (placement == "inbox") | (placement == "spam"), "spam": placement == "spam",
        "accepted": final & (status == "accepted"),
        "opened": final & (status == "accepted") & rows["message_id"].isin(
            pd.Index([] if opened is None else opened)).to_numpy(),
    }
    cell = (unit_code * n_days + day)[keep]
    size = len(units) * n_days
    counts = np.stack([np.bincount(cell, weights=flags[k][keep].astype(float), minlength=size)
                       for k in COUNT_FIELDS], axis=1).reshape(len(units), n_days, len(COUNT_FIELDS))
    latency = pd.to_numeric(rows["latency_ms"], errors="coerce").to_numpy()
    measured = keep & np.isfinite(latency)
    bins = np.clip((np.log(np.clip(latency[measured], 1.0, None)) / LATENCY_BIN).astype(np.int64), 0, LATENCY_BINS - 1)
    hist = np.bincount((unit_code * n_days + day)[measured] * LATENCY_BINS + bins,
                       minlength=size * LATENCY_BINS).reshape(len(units), n_days, LATENCY_BINS)
    return DailyLog(np.asarray(units, dtype=object), start, counts, hist.astype(float))


def behaviour_profiles(outcomes: pd.DataFrame, unit: str = "domain", min_messages: int = 1,
                       opened: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
    """One row per unit with at least `min_messages` messages: `messages` and PROFILE_FEATURES.
    `outcomes` holds delivery-log rows (OUTCOME_COLUMNS; extra columns are ignored)."""
    if outcomes.empty:
        return pd.DataFrame(columns=["messages", *PROFILE_FEATURES]).rename_axis("unit")
    return daily_log(outcomes, unit, opened=opened).profiles(min_messages=min_messages)



def profile_from_counts(c: Counts) -> dict[str, np.ndarray]:
    """The share features from their counts (latency comes from the rows themselves)."""
    return {
        "block_share": shrunk(c.blocked, c.messages, TYPICAL_RATE["block_share"]),
        "content_block_share": shrunk(c.content_blocked, c.messages, TYPICAL_RATE["content_block_share"]),
        "deferral_share": shrunk(c.deferred, c.messages, TYPICAL_RATE["deferral_share"]),
        "refusal_5xx_share": shrunk(c.refusals_5xx, c.refusals, TYPICAL_RATE["refusal_5xx_share"]),
        "spam_share": shrunk(c.spam, c.placements, TYPICAL_RATE["spam_share"]),
        "open_share": shrunk(c.opened, c.accepted, TYPICAL_RATE["open_share"]),
    }


def windowed_profiles(log: DailyLog, days: int, every_days: int = 1, min_messages: int = 1) -> pd.DataFrame:
    """Profiles of each trailing `days`-day window ending every `every_days` days: `unit`,
    `end_day` (the window covers [end_day - days, end_day)) beside the unit's profile."""
    parts = [log.profiles(end - days, end, min_messages).reset_index().assign(end_day=end)
             for end in range(days, log.days + 1, every_days)]
    if not parts:
        return pd.DataFrame(columns=["unit", "messages", *PROFILE_FEATURES, "end_day"])
    return pd.concat(parts, ignore_index=True)


def provider_of_units(units: Sequence[str], unit: str) -> list[str]:
    """The provider each profiled unit belongs to (a domain's by the public catalogue)."""
    if unit == "domain":
        return [provider_for_domain(u) for u in units]
    return [u.split("|", 1)[0] for u in units]
