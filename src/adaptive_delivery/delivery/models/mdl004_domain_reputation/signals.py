"""What MDL-004 reads, hour by hour, per sending IP and per sending domain: only what a sender can
see of its own mail. From its MTA's log, the messages sent and how they ended (accepted, bounced
hard or soft, refused for the sender, for the content or for authentication, first deferred);
from the feedback loops, complaints; from its tracking, the opens of people (not of mail-client
prefetch); from public lookups, whether a DNS blocklist lists the IP; from the providers' feeds,
Google Postmaster Tools' and Microsoft SNDS' published words (late, coded 0-4).

Everything is counted per unit and hour first (`HourlyCounts`), so 24-hour and 7-day windows are
differences of running sums and a snapshot at hour t reads only hours before t. The labels are
built from the same log: a block event is an hour in which one provider refuses at least
BLOCK_EVENT_SHARE of the unit's mail to it (BLOCK_EVENT_MIN messages or more) for the sender's
sake — not its content, not its authentication; a listing is the day a blocklist starts listing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.feeds import level_score

HOUR = pd.Timedelta(hours=1)
UNITS = {"ip": "sending_ip", "domain": "sending_domain"}
# Refusals that are about the sender (its IP or domain), by the reason vocabulary of events.reasons
SENDER_BLOCK_REASONS = ("blocked", "badreputation", "policyviolation", "rejected", "requireptr", "norelaying")
BLOCK_EVENT_SHARE = 0.2
BLOCK_EVENT_MIN = 20
HORIZON_H = 24
WEEK_H = 168
MAX_HOURS_SINCE = 720.0
# pseudo-messages each rate is shrunk with, towards a typical sender's rate (a unit that sent ten
# messages has no rates yet)
PRIOR_MESSAGES = 50.0
TYPICAL = {"hard": 0.01, "soft": 0.01, "block": 0.01, "content_block": 0.002, "deferral": 0.01,
           "complaint": 0.0005, "open": 0.15}
COUNTERS = ("sent", "final", "accepted", "hard", "soft", "block", "content_block", "deferred",
            "complaints", "opens")

FEATURES = (
    "is_domain", "log_sent_24h", "log_sent_7d", "volume_spike", "log_hours_since_sent",
    "hard_rate_24h", "hard_rate_7d", "soft_rate_7d", "block_rate_24h", "block_rate_7d", "block_trend",
    "worst_provider_block_24h", "content_block_rate_7d", "deferral_rate_24h",
    "complaint_rate_7d", "open_rate_7d", "open_trend",
    "listed_now", "log_hours_since_listed", "listings_30d", "postmaster", "snds",
)
RATE_FEATURES = tuple(f for f in FEATURES if "rate" in f or f in ("worst_provider_block_24h", "postmaster", "snds"))


def _rate(count: np.ndarray, n: np.ndarray, typical: float) -> np.ndarray:
    return (count + PRIOR_MESSAGES * typical) / (n + PRIOR_MESSAGES)


@dataclass
class HourlyCounts:
    """Per unit and hour since `start`: COUNTERS (`counts`, units × hours × counters), the finals
    and sender refusals per provider (`by_provider`, units × providers × hours × 2), and per unit
    and day the public lookups (`listed`, `postmaster`, `snds`: units × days)."""

    kind: str
    units: list[str]
    start: pd.Timestamp
    hours: int
    counts: np.ndarray
    by_provider: np.ndarray
    listed: np.ndarray
    postmaster: np.ndarray
    snds: np.ndarray

    def __post_init__(self) -> None:
        # running sums from hour 0, one column ahead: every window is a difference of two columns
        self.running = np.concatenate([np.zeros((len(self.units), 1, len(COUNTERS))), np.cumsum(self.counts, axis=1)],
                                      axis=1)

    def window(self, counter: str, t: np.ndarray, width: int) -> np.ndarray:
        """Sum of `counter` over hours [t - width, t), units × len(t)."""
        c = self.running[:, :, COUNTERS.index(counter)]
        return c[:, t] - c[:, np.maximum(t - width, 0)]


def hour_of(ts: pd.Series, start: pd.Timestamp) -> np.ndarray:
    return ((pd.to_datetime(ts, utc=True) - start) // HOUR).to_numpy(dtype=np.int64)


def hourly_counts(kind: str, start: pd.Timestamp, hours: int, ips: pd.DataFrame, sends: pd.DataFrame,
                  outcomes: pd.DataFrame, complaints: pd.DataFrame, opens: pd.DataFrame,
                  public: pd.DataFrame) -> HourlyCounts:
    """Count a sender's log per unit (`kind` 'ip' or 'domain') and hour over [start, start + hours).

    `ips` maps sending_ip to sending_domain; `sends` has message_id, sending_ip, sending_domain,
    provider, send_ts; `outcomes` message_id, attempt, event_ts, status, bounce_class, reason;
    `complaints` and `opens` message_id, event_ts; `public` per sending_ip and day (since start):
    listed, postmaster, snds."""
    key = UNITS[kind]
    units = sorted(set(ips[key]))
    unit_index = {u: i for i, u in enumerate(units)}
    providers = sorted(set(sends["provider"]))
    provider_index = {p: i for i, p in enumerate(providers)}
    counts = np.zeros((len(units), hours, len(COUNTERS)))
    by_provider = np.zeros((len(units), max(len(providers), 1), hours, 2))
    keys = sends[["message_id", key, "provider"]]

    def add(frame: pd.DataFrame, ts: str, counter: str, weights: np.ndarray | None = None) -> None:
        h = hour_of(frame[ts], start)
        ok = (h >= 0) & (h < hours)
        u = frame[key].map(unit_index).to_numpy()
        np.add.at(counts[:, :, COUNTERS.index(counter)], (u[ok].astype(int), h[ok]),
                  1.0 if weights is None else weights[ok])

    add(sends, "send_ts", "sent")
    o = outcomes.merge(keys, on="message_id", how="inner")
    final = o[o["status"].isin(("accepted", "bounced", "blocked"))]
    reason = final["reason"].fillna("")
    blocked = final["status"] == "blocked"
    masks = {"final": np.ones(len(final), bool), "accepted": (final["status"] == "accepted").to_numpy(),
             "hard": ((final["status"] == "bounced") & (final["bounce_class"] == "hard")).to_numpy(),
             "soft": ((final["status"] == "bounced") & (final["bounce_class"] == "soft")).to_numpy(),
             "block": (blocked & reason.isin(SENDER_BLOCK_REASONS)).to_numpy(),
             "content_block": (blocked & (reason == "spamdetected")).to_numpy()}
    for counter, mask in masks.items():
        add(final, "event_ts", counter, mask.astype(float))
    add(o[o["status"] == "deferred"], "event_ts", "deferred")
    add(complaints.merge(keys, on="message_id", how="inner"), "event_ts", "complaints")
    add(opens.merge(keys, on="message_id", how="inner"), "event_ts", "opens")
    h = hour_of(final["event_ts"], start)
    ok = (h >= 0) & (h < hours)
    u = final[key].map(unit_index).to_numpy().astype(int)
    p = final["provider"].map(provider_index).to_numpy().astype(int)
    np.add.at(by_provider[:, :, :, 0], (u[ok], p[ok], h[ok]), 1.0)
    np.add.at(by_provider[:, :, :, 1], (u[ok], p[ok], h[ok]), masks["block"][ok].astype(float))
    days = int(public["day"].max()) + 1 if len(public) else 1
    listed, postmaster, snds = public_by_unit(kind, units, ips, public, days)
    return HourlyCounts(kind, units, start, hours, counts, by_provider, listed, postmaster, snds)


def public_by_unit(kind: str, units: list[str], ips: pd.DataFrame, public: pd.DataFrame,
                   days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit and day: listed (an IP of the unit is listed), the Postmaster reading (the domain's)
    and the SNDS reading (the unit's worst IP); a day without a lookup: not listed, no reading."""
    frame = public.merge(ips, on="sending_ip", how="left")
    frame = frame[(frame["day"] >= 0) & (frame["day"] < days)]
    key = UNITS[kind]
    index = {u: i for i, u in enumerate(units)}
    listed = np.zeros((len(units), days), bool)
    postmaster = np.zeros((len(units), days))
    snds = np.full((len(units), days), np.inf)
    u = frame[key].map(index).to_numpy()
    keep = ~pd.isna(u)
    u, d = u[keep].astype(int), frame["day"].to_numpy()[keep].astype(int)
    np.logical_or.at(listed, (u, d), frame["listed"].to_numpy(bool)[keep])
    np.maximum.at(postmaster, (u, d), frame["postmaster"].to_numpy(float)[keep])
    reading = frame["snds"].to_numpy(float)[keep]
    np.minimum.at(snds, (u, d), np.where(reading > 0, reading, np.inf))
    return listed, postmaster, np.where(np.isfinite(snds), snds, 0.0)


def snapshot_frame(c: HourlyCounts, t: np.ndarray | None = None) -> pd.DataFrame:
    """The features of every unit at each snapshot hour `t` (events of hours < t; default every
    hour 1..hours), as rows `unit`, `t`, FEATURES."""
    t = np.arange(1, c.hours + 1) if t is None else np.asarray(t, dtype=int)
    n_units = len(c.units)

    def w(counter: str, width: int) -> np.ndarray:
        return c.window(counter, t, width)

    sent24, sent7 = w("sent", 24), w("sent", WEEK_H)
    final24, final7 = w("final", 24), w("final", WEEK_H)
    acc7, acc24 = w("accepted", WEEK_H), w("accepted", 24)
    last_sent = np.full((n_units, len(t)), np.nan)
    for i in range(n_units):
        hours_sent = np.flatnonzero(c.counts[i, :, 0] > 0)
        if hours_sent.size == 0:
            last_sent[i] = MAX_HOURS_SINCE
            continue
        pos = np.searchsorted(hours_sent, t, side="left") - 1
        last_sent[i] = np.where(pos >= 0, np.minimum(t - 1 - hours_sent[np.maximum(pos, 0)], MAX_HOURS_SINCE),
                                MAX_HOURS_SINCE)
    block24 = _rate(w("block", 24), final24, TYPICAL["block"])
    block7 = _rate(w("block", WEEK_H), final7, TYPICAL["block"])
    open7 = _rate(w("opens", WEEK_H), acc7, TYPICAL["open"])
    open24 = _rate(w("opens", 24), acc24, TYPICAL["open"])
    prov_c = np.concatenate([np.zeros(c.by_provider.shape[:2] + (1, 2)), np.cumsum(c.by_provider, axis=2)], axis=2)
    prov24 = prov_c[:, :, t, :] - prov_c[:, :, np.maximum(t - 24, 0), :]
    share = np.where(prov24[..., 0] >= BLOCK_EVENT_MIN, prov24[..., 1] / np.maximum(prov24[..., 0], 1.0), 0.0)
    day = np.minimum(t // 24, c.listed.shape[1] - 1)
    listed_now = c.listed[:, day]
    since_listed, onsets_30d = _listing_history(c.listed, t)
    frame = {
        "is_domain": np.full((n_units, len(t)), float(c.kind == "domain")),
        "log_sent_24h": np.log1p(sent24), "log_sent_7d": np.log1p(sent7),
        "volume_spike": np.log((sent24 + 50.0) / (sent7 / 7.0 + 50.0)),
        "log_hours_since_sent": np.log1p(last_sent),
        "hard_rate_24h": _rate(w("hard", 24), final24, TYPICAL["hard"]),
        "hard_rate_7d": _rate(w("hard", WEEK_H), final7, TYPICAL["hard"]),
        "soft_rate_7d": _rate(w("soft", WEEK_H), final7, TYPICAL["soft"]),
        "block_rate_24h": block24, "block_rate_7d": block7, "block_trend": block24 - block7,
        "worst_provider_block_24h": share.max(axis=1),
        "content_block_rate_7d": _rate(w("content_block", WEEK_H), final7, TYPICAL["content_block"]),
        "deferral_rate_24h": _rate(w("deferred", 24), sent24, TYPICAL["deferral"]),
        "complaint_rate_7d": _rate(w("complaints", WEEK_H), acc7, TYPICAL["complaint"]),
        "open_rate_7d": open7, "open_trend": open24 - open7,
        "listed_now": listed_now.astype(float), "log_hours_since_listed": np.log1p(since_listed),
        "listings_30d": onsets_30d,
        "postmaster": np.vectorize(level_score)(c.postmaster[:, day]),
        "snds": np.vectorize(level_score)(c.snds[:, day]),
    }
    out = pd.DataFrame({name: np.asarray(v, dtype=float).ravel() for name, v in frame.items()})
    out.insert(0, "t", np.tile(t, n_units))
    out.insert(0, "unit", np.repeat(np.array(c.units, dtype=object), len(t)))
    return out


def _listing_history(listed: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hours since the unit was last listed before the snapshot's day (MAX_HOURS_SINCE: never) and
    how many listings began in the 30 days before it."""
    day = t // 24
    n_units, n_days = listed.shape
    onset = listed & ~np.concatenate([np.zeros((n_units, 1), bool), listed[:, :-1]], axis=1)
    since = np.full((n_units, len(t)), MAX_HOURS_SINCE)
    count = np.zeros((n_units, len(t)))
    cum_onsets = np.concatenate([np.zeros((n_units, 1)), np.cumsum(onset, axis=1)], axis=1)
    for i in range(n_units):
        days_listed = np.flatnonzero(listed[i])
        pos = np.searchsorted(days_listed, day, side="left") - 1  # last listed day before today
        end_h = (days_listed[np.maximum(pos, 0)] + 1) * 24 if days_listed.size else np.zeros_like(t)
        since[i] = np.where(pos >= 0, np.minimum(t - end_h, MAX_HOURS_SINCE), MAX_HOURS_SINCE)
        count[i] = cum_onsets[i, np.minimum(day, n_days)] - cum_onsets[i, np.maximum(day - 30, 0)]
    return since, count


def labels(c: HourlyCounts, t: np.ndarray | None = None) -> pd.DataFrame:
    """Per unit and snapshot hour t: `block_event` (none in the past 24 hours, one in [t, t + 24h))
    and `listing` (not listed at t, listed within the next 24 hours): what is new is what there is
    to predict; NaN where one is under way or the log does not reach far enough to know."""
    t = np.arange(1, c.hours + 1) if t is None else np.asarray(t, dtype=int)
    finals, blocks = c.by_provider[..., 0], c.by_provider[..., 1]
    event_hour = ((finals >= BLOCK_EVENT_MIN) & (blocks >= BLOCK_EVENT_SHARE * finals)).any(axis=1)
    cum = np.concatenate([np.zeros((len(c.units), 1)), np.cumsum(event_hour, axis=1)], axis=1)
    ahead = np.minimum(t + HORIZON_H, c.hours)
    block = np.where(t + HORIZON_H <= c.hours, (cum[:, ahead] - cum[:, np.minimum(t, c.hours)] > 0).astype(float), np.nan)
    # a unit already in a block event (one in the past 24 hours) has no new one to predict
    ongoing = cum[:, np.minimum(t, c.hours)] - cum[:, np.maximum(t - HORIZON_H, 0)] > 0
    block = np.where(ongoing, np.nan, block)
    day = t // 24
    known = day + 1 < c.listed.shape[1]
    now = c.listed[:, np.minimum(day, c.listed.shape[1] - 1)]
    nxt = c.listed[:, np.minimum(day + 1, c.listed.shape[1] - 1)]
    listing = np.where(known[None, :] & ~now, (nxt & ~now).astype(float), np.nan)
    return pd.DataFrame({"unit": np.repeat(np.array(c.units, dtype=object), len(t)), "t": np.tile(t, len(c.units)),
                         "block_event": block.ravel(), "listing": listing.ravel()})
