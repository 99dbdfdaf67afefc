"""The pandas reference implementation of every feature definition, for small data.

It is written to be read: each feature is computed the plain way, snapshot by snapshot. The Spark
jobs in `spark_jobs.py` must produce the same tables (tests/integration/test_feature_parity.py),
and the benchmark uses this module as the single-node baseline.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.delivery.providers import PROVIDER_NAMES

DAY = pd.Timedelta(days=1)
HOUR = pd.Timedelta(hours=1)


def _utc(ts: datetime) -> pd.Timestamp:
    return pd.Timestamp(ts).tz_localize(timezone.utc) if ts.tzinfo is None else pd.Timestamp(ts)


def load_inputs(lake_root: str | Path, snapshots: fd.Snapshots | fd.Instant | None = None) -> dict[str, pd.DataFrame]:
    """The lake as pandas frames, with outcomes, complaints and engagement tied to their send;
    features are described at `snapshots` (by default every snapshot the lake covers)."""
    lake = EventsLake(lake_root)
    sends = lake.read("sends").to_pandas()
    keys = sends[["message_id", "subscriber_id", "sending_domain", "sending_ip", "send_ts", "content_id", "provider"]]
    outcomes = lake.read("outcomes").to_pandas().drop(columns=["subscriber_id", "sending_domain", "sending_ip"])
    outcomes = outcomes.merge(keys.rename(columns={"provider": "send_provider"}), on="message_id", how="left")
    outcomes["provider"] = outcomes["provider"].fillna(outcomes["send_provider"])
    complaints = lake.read("complaints").to_pandas().drop(columns=["subscriber_id", "sending_domain", "sending_ip"])
    complaints = complaints.merge(keys[["message_id", "subscriber_id", "sending_domain", "sending_ip"]], on="message_id", how="left")
    engagement = lake.read("engagement").to_pandas().drop(columns=["subscriber_id"])
    engagement = engagement.merge(keys[["message_id", "subscriber_id", "sending_domain", "sending_ip", "send_ts"]],
                                  on="message_id", how="left")
    days = lake.partitions("sends")
    return {
        "sends": sends, "outcomes": outcomes, "complaints": complaints, "engagement": engagement,
        "subscribers": lake.read("subscribers").to_pandas(), "senders": lake.read("senders").to_pandas(),
        "ips": lake.read("ips").to_pandas(), "campaigns": lake.read("campaigns").to_pandas(),
        "contents": lake.read("contents").to_pandas(),
        "snapshots": snapshots if snapshots is not None else fd.Snapshots(days[0], days[-1]),
    }


# ---- subscriber ------------------------------------------------------------------------------
def subscriber_features(inp: dict) -> pd.DataFrame:
    human = inp["engagement"][~inp["engagement"]["machine_open"] & inp["engagement"]["subscriber_id"].notna()]
    weighted = pd.concat([
        human[["subscriber_id", "event_ts", "event_type"]],
        inp["complaints"].dropna(subset=["subscriber_id"]).assign(event_type="complaint")[["subscriber_id", "event_ts", "event_type"]],
    ])
    weighted["weight"] = weighted["event_type"].map(fd.ENGAGEMENT_WEIGHTS)
    opens = human[human["event_type"] == "open"]
    clicks = human[human["event_type"] == "click"]
    first_open = opens.groupby("message_id").agg(subscriber_id=("subscriber_id", "first"), open_ts=("event_ts", "min"),
                                                 send_ts=("send_ts", "first")).reset_index()
    out = inp["outcomes"]
    bounced = out[out["status"] == "bounced"]
    placed = out[(out["status"] == "accepted") & out["placement"].notna()]
    accepted = out[out["status"] == "accepted"]
    subs = inp["subscribers"]
    frames = []
    for t in inp["snapshots"].subscriber():
        T = _utc(t)
        alive = subs[subs["signup_ts"] < T].set_index("subscriber_id")
        f = pd.DataFrame(index=alive.index)
        w = weighted[weighted["event_ts"] < T]
        decay = 0.5 ** ((T - w["event_ts"]) / DAY / fd.HALF_LIFE_DAYS)
        raw = (w["weight"] * decay).groupby(w["subscriber_id"]).sum()
        f["engagement_score"] = np.clip(100.0 / (1.0 + np.exp(-raw.reindex(f.index).fillna(0.0) / 10.0)), 0.0, 100.0)
        o, c = opens[opens["event_ts"] < T], clicks[clicks["event_ts"] < T]
        f["days_since_last_open"] = ((T - o.groupby("subscriber_id")["event_ts"].max()) / DAY).reindex(f.index).fillna(fd.NEVER_DAYS)
        f["days_since_last_click"] = ((T - c.groupby("subscriber_id")["event_ts"].max()) / DAY).reindex(f.index).fillna(fd.NEVER_DAYS)
        month = T - 30 * DAY
        f["opens_30d"] = o[o["event_ts"] >= month].groupby("subscriber_id").size().reindex(f.index).fillna(0).astype("int64")
        f["clicks_30d"] = c[c["event_ts"] >= month].groupby("subscriber_id").size().reindex(f.index).fillna(0).astype("int64")
        s = inp["sends"]
        recent = s[(s["send_ts"] >= month) & (s["send_ts"] < T)]
        f["emails_received_30d"] = recent.groupby("subscriber_id").size().reindex(f.index).fillna(0).astype("int64")
        before = s[s["send_ts"] < T]
        f["emails_received_total"] = before.groupby("subscriber_id").size().reindex(f.index).fillna(0).astype("int64")
        open_hours = _share_table(o, o["event_ts"].dt.hour, 24, f.index)
        f["open_hour_heatmap"] = list(open_hours)
        f["click_hour_heatmap"] = list(_share_table(c, c["event_ts"].dt.hour, 24, f.index))
        f["open_weekday_heatmap"] = list(_share_table(o, o["event_ts"].dt.weekday, 7, f.index))
        fo = first_open[first_open["open_ts"] < T]
        resp = ((fo["open_ts"] - fo["send_ts"]) / HOUR).groupby(fo["subscriber_id"]).mean()
        f["typical_response_hours"] = resp.reindex(f.index).fillna(-1.0)
        f["engagement_consistency"] = [_consistency(row) for row in open_hours]
        b = bounced[bounced["event_ts"] < T]
        f["hard_bounces_total"] = b[b["bounce_class"] == "hard"].groupby("subscriber_id").size().reindex(f.index).fillna(0).astype("int64")
        f["soft_bounces_total"] = b[b["bounce_class"] == "soft"].groupby("subscriber_id").size().reindex(f.index).fillna(0).astype("int64")
        f["days_since_last_bounce"] = ((T - b.groupby("subscriber_id")["event_ts"].max()) / DAY).reindex(f.index).fillna(fd.NEVER_DAYS)
        d = accepted[accepted["event_ts"] < T]
        f["days_since_last_delivery"] = ((T - d.groupby("subscriber_id")["event_ts"].max()) / DAY).reindex(f.index).fillna(fd.NEVER_DAYS)
        p = placed[(placed["event_ts"] < T) & (placed["event_ts"] >= month)]
        for where in ("inbox", "spam"):
            f[f"{where}_placements_30d"] = p[p["placement"] == where].groupby("subscriber_id").size().reindex(f.index).fillna(0).astype("int64")
        cp = inp["complaints"][inp["complaints"]["event_ts"] < T]
        f["complaints_total"] = cp.groupby("subscriber_id").size().reindex(f.index).fillna(0).astype("int64")
        f["bounce_history"] = ((f["hard_bounces_total"] + f["soft_bounces_total"]) > 0).astype("int64")
        f["complaint_history"] = (f["complaints_total"] > 0).astype("int64")
        f["tenure_days"] = (T - alive["signup_ts"]) / DAY
        for col in ("email_domain", "domain_category", "provider", "client", "device"):
            f[col] = alive[col]
        f["event_timestamp"] = T
        frames.append(f.reset_index())
    return pd.concat(frames, ignore_index=True)


def _share_table(events: pd.DataFrame, bucket: pd.Series, width: int, index: pd.Index) -> np.ndarray:
    """Per entity, the share of its events in each bucket (zeros for an entity with none)."""
    rows = index.get_indexer(events["subscriber_id"])
    known = rows >= 0
    arr = np.zeros((len(index), width))
    np.add.at(arr, (rows[known], bucket.to_numpy(dtype=np.int64)[known]), 1.0)
    total = arr.sum(axis=1, keepdims=True)
    return np.divide(arr, total, out=np.zeros_like(arr), where=total > 0)


def _consistency(shares: np.ndarray) -> float:
    """1 - normalised entropy of the open-hour distribution: 1 = always the same hour."""
    p = shares[shares > 0]
    if p.size == 0:
        return 0.0
    return float(1.0 + (p * np.log(p)).sum() / np.log(len(shares)))


# ---- senders ---------------------------------------------------------------------------------
def sender_features(inp: dict, key: str) -> pd.DataFrame:
    """Rolling 24-hour rates, today's and this hour's volume and warm-up stage per `key`
    (sending_domain or sending_ip), at every hour."""
    snaps = [_utc(t) for t in inp["snapshots"].sender()]
    keys = sorted(set(inp["ips" if key == "sending_ip" else "senders"][key]))
    s, o = inp["sends"], inp["outcomes"]
    human = inp["engagement"][(inp["engagement"]["event_type"] == "open") & ~inp["engagement"]["machine_open"]]
    rows = []
    for T in snaps:
        day_start = (T - pd.Timedelta(microseconds=1)).floor("D")
        win = (T - 24 * HOUR, T)
        sw = s[(s["send_ts"] >= win[0]) & (s["send_ts"] < T)].groupby(key).size()
        ow = o[(o["event_ts"] >= win[0]) & (o["event_ts"] < T)]
        cw = inp["complaints"][(inp["complaints"]["event_ts"] >= win[0]) & (inp["complaints"]["event_ts"] < T)].groupby(key).size()
        hw = human[(human["event_ts"] >= win[0]) & (human["event_ts"] < T)].groupby(key).size()
        today = s[(s["send_ts"] >= day_start) & (s["send_ts"] < T)].groupby(key).size()
        hour = s[(s["send_ts"] >= T - HOUR) & (s["send_ts"] < T)].groupby(key).size()
        week = s[(s["send_ts"] >= day_start - 6 * DAY) & (s["send_ts"] < T)]
        daily_max = week.groupby([key, week["send_ts"].dt.floor("D")]).size().groupby(level=0).max()

        bounced = ow["status"] == "bounced"
        hard_w = ow[bounced & (ow["bounce_class"] == "hard")].groupby(key).size()
        soft_w = ow[bounced & (ow["bounce_class"] == "soft")].groupby(key).size()
        blocked_w = ow[ow["status"] == "blocked"].groupby(key).size()
        deferred_w = ow[ow["status"] == "deferred"].groupby(key).size()
        for k in keys:
            sent = int(sw.get(k, 0))
            denom = max(sent, 1)
            hard, soft = int(hard_w.get(k, 0)), int(soft_w.get(k, 0))
            mx = float(daily_max.get(k, 0))
            rows.append({
                key: k, "event_timestamp": T, "sent_24h": sent, "hard_bounce_rate_24h": hard / denom,
                "soft_bounce_rate_24h": soft / denom, "bounce_rate_24h": (hard + soft) / denom,
                "block_rate_24h": int(blocked_w.get(k, 0)) / denom,
                "deferral_rate_24h": int(deferred_w.get(k, 0)) / denom,
                "complaint_rate_24h": int(cw.get(k, 0)) / denom, "open_rate_24h": int(hw.get(k, 0)) / denom,
                "volume_today": int(today.get(k, 0)), "volume_this_hour": int(hour.get(k, 0)),
                "max_daily_volume_7d": mx, "warmup_stage": fd.warmup_stage(mx),
            })
    out = pd.DataFrame(rows)
    if key == "sending_domain":
        dim = inp["senders"].set_index("sending_domain")
        out["domain_age_days"] = (out["event_timestamp"] - out[key].map(dim["domain_created_ts"])) / DAY
        for col in ("spf", "dkim", "dmarc", "one_click_unsubscribe"):
            out[col] = out[key].map(dim[col]).astype(bool)
    else:
        dim = inp["ips"].set_index("sending_ip")
        out["ip_age_days"] = (out["event_timestamp"] - out[key].map(dim["first_used_ts"])) / DAY
    return out


# ---- sender x provider -----------------------------------------------------------------------
def sender_provider_features(inp: dict) -> pd.DataFrame:
    """Per sending IP and mailbox provider, hourly: 24-hour block, deferral, bounce and spam-placement
    rates and this hour's volume, as the provider sees this sender."""
    snaps = [_utc(t) for t in inp["snapshots"].sender()]
    keys = ["sending_ip", "provider"]
    pairs = [(ip, p) for ip in sorted(set(inp["ips"]["sending_ip"])) for p in sorted(set(inp["sends"]["provider"]))]
    s, o = inp["sends"], inp["outcomes"]
    rows = []
    for T in snaps:
        start = T - 24 * HOUR
        sw = s[(s["send_ts"] >= start) & (s["send_ts"] < T)].groupby(keys).size()
        hour = s[(s["send_ts"] >= T - HOUR) & (s["send_ts"] < T)].groupby(keys).size()
        ow = o[(o["event_ts"] >= start) & (o["event_ts"] < T)]
        accepted = ow["status"] == "accepted"
        counts = {name: ow[mask].groupby(keys).size() for name, mask in (
            ("blocked", ow["status"] == "blocked"), ("deferred", ow["status"] == "deferred"),
            ("bounced", ow["status"] == "bounced"), ("inbox", accepted & (ow["placement"] == "inbox")),
            ("spam", accepted & (ow["placement"] == "spam")))}
        for pair in pairs:
            sent = int(sw.get(pair, 0))
            denom = max(sent, 1)
            got = {k: int(v.get(pair, 0)) for k, v in counts.items()}
            placed = got["inbox"] + got["spam"]
            rows.append({
                "sending_ip": pair[0], "provider": pair[1], "event_timestamp": T, "sent_24h": sent,
                "volume_this_hour": int(hour.get(pair, 0)), "block_rate_24h": got["blocked"] / denom,
                "deferral_rate_24h": got["deferred"] / denom, "bounce_rate_24h": got["bounced"] / denom,
                "spam_placement_rate_24h": got["spam"] / placed if placed else 0.0, "placements_24h": placed,
            })
    return pd.DataFrame(rows)


# ---- providers -------------------------------------------------------------------------------
def provider_features(inp: dict) -> pd.DataFrame:
    """What each mailbox provider has been answering in the last 15 minutes."""
    o = inp["outcomes"]
    providers = sorted(set(PROVIDER_NAMES) | set(o["provider"].dropna()))
    counts = []
    for t in inp["snapshots"].provider():
        T = _utc(t)
        w = o[(o["event_ts"] >= T - pd.Timedelta(minutes=15)) & (o["event_ts"] < T)]
        flags = fd.provider_answer_flags(w["status"], w["smtp_code"], w["reason"])
        latency = w["latency_ms"].dropna()
        c = pd.DataFrame({
            "attempts": w.groupby("provider").size(),
            **{name: flag.groupby(w["provider"]).sum() for name, flag in flags.items()},
            "latency_n": latency.groupby(w["provider"]).size(), "latency_sum": latency.groupby(w["provider"]).sum(),
        }).reindex(providers).fillna(0)
        counts.append(c.rename_axis("provider").reset_index().assign(event_timestamp=T))
    return provider_rows(pd.concat(counts, ignore_index=True))


def provider_rows(c: pd.DataFrame) -> pd.DataFrame:
    """The features from a window's counts per provider (attempts, accepted, deferred, blocked,
    replies_4xx, replies_5xx, throttle_signals, latency_n, latency_sum) and its event_timestamp
    (the window's end): shared with the stream, which keeps the same counts in the outcome store and
    pushes these rows online as a window fills."""
    attempts = c["attempts"].astype("int64")

    def rate(num: pd.Series, den: pd.Series) -> pd.Series:
        return (num / den.where(den > 0)).fillna(-1.0).astype(float)

    return pd.DataFrame({
        "provider": c["provider"], "event_timestamp": c["event_timestamp"], "attempts_15m": attempts,
        "accept_rate_15m": rate(c["accepted"], attempts), "deferrals_per_min": c["deferred"] / 15.0,
        "blocks_per_min": c["blocked"] / 15.0, "rate_4xx_15m": rate(c["replies_4xx"], attempts),
        "rate_5xx_15m": rate(c["replies_5xx"], attempts),
        "mean_latency_ms_15m": rate(c["latency_sum"], c["latency_n"]),
        "throttle_signals_per_min": c["throttle_signals"] / 15.0,
    }).reset_index(drop=True)


# ---- campaigns in flight ---------------------------------------------------------------------
def content_provider_features(inp: dict) -> pd.DataFrame:
    """Per content and mailbox provider: its outcomes there so far and their rates (-1 before any),
    at the end of every minute in which the provider answered one of its messages (or, for one
    instant, everything answered before it)."""
    keys = ["content_id", "provider"]
    o = inp["outcomes"].dropna(subset=keys)
    accepted = o["status"] == "accepted"
    counts = pd.DataFrame({
        "content_id": o["content_id"], "provider": o["provider"],
        "accepted": accepted, "inbox": accepted & (o["placement"] == "inbox"),
        "spam": accepted & (o["placement"] == "spam"), "blocked": o["status"] == "blocked",
        "bounced": o["status"] == "bounced", "deferred": o["status"] == "deferred", "answers": True,
    })
    cols = ["accepted", "inbox", "spam", "blocked", "bounced", "deferred", "answers"]
    counts[cols] = counts[cols].astype("int64")
    snaps = inp["snapshots"]
    if isinstance(snaps, fd.Instant):
        at = _utc(snaps.at)
        f = counts[(o["event_ts"] < at).to_numpy()].groupby(keys, as_index=False)[cols].sum()
        f["event_timestamp"] = at
    else:
        counts["event_timestamp"] = o["event_ts"].dt.floor(fd.CAMPAIGN_EVERY) + fd.CAMPAIGN_EVERY
        f = counts.groupby([*keys, "event_timestamp"], as_index=False)[cols].sum().sort_values([*keys, "event_timestamp"])
        f[cols] = f.groupby(keys)[cols].cumsum()
    return content_provider_rows(f)


def content_provider_rows(f: pd.DataFrame) -> pd.DataFrame:
    """The features from running counts per content and provider (answers, accepted, inbox, spam,
    blocked, bounced, deferred) and their event_timestamp: shared with the stream, which keeps the
    same counts in the outcome store and pushes these rows online as outcomes arrive."""
    done = f["accepted"] + f["blocked"] + f["bounced"]

    def share(num: pd.Series, den: pd.Series) -> pd.Series:
        return (num / den.where(den > 0)).fillna(-1.0).astype(float)

    return pd.DataFrame({
        "content_id": f["content_id"], "provider": f["provider"], "event_timestamp": f["event_timestamp"],
        "outcomes_so_far": done.astype("int64"), "block_rate_so_far": share(f["blocked"], done),
        "spam_share_so_far": share(f["spam"], f["inbox"] + f["spam"]), "bounce_rate_so_far": share(f["bounced"], done),
        "deferral_rate_so_far": share(f["deferred"], f["answers"]),
    }).reset_index(drop=True)


# ---- content ---------------------------------------------------------------------------------
def count_triggers(text: str) -> int:
    low = text.lower()
    return sum(low.count(w) for w in fd.SPAM_TRIGGER_WORDS)


def content_features(inp: dict) -> pd.DataFrame:
    c = inp["contents"].copy()
    first = inp["campaigns"].groupby("content_id")["scheduled_ts"].min()
    letters = c["subject"].str.count(r"[A-Za-z]")
    text = c["subject"] + " " + c["body_text"]
    words = c["body_text"].str.split().str.len().clip(lower=1)
    return pd.DataFrame({
        "content_id": c["content_id"],
        "event_timestamp": c["content_id"].map(first) - pd.Timedelta(minutes=1),
        "subject_length": c["subject"].str.len().astype("int64"),
        "subject_spam_words": c["subject"].map(count_triggers).astype("int64"),
        "body_spam_words": c["body_text"].map(count_triggers).astype("int64"),
        "all_caps_share": (c["subject"].str.count(r"[A-Z]") / letters.clip(lower=1)).astype(float),
        "exclamation_density": (text.str.count("!") / text.str.len().clip(lower=1) * 100.0).astype(float),
        "link_count": c["link_count"].astype("int64"),
        "image_count": c["image_count"].astype("int64"),
        "image_to_text_ratio": (c["image_count"] / words * 100.0).astype(float),
        "personalization_level": c["personalization_level"].map(fd.PERSONALIZATION_LEVEL).astype("int64"),
        "has_unsubscribe_link": c["has_unsubscribe_link"].astype(bool),
        "has_list_unsubscribe_header": c["has_list_unsubscribe_header"].astype(bool),
        "content_spam_risk": c["spam_risk"].fillna(fd.UNSCORED).astype(float),
    })


# ---- calendar --------------------------------------------------------------------------------
def calendar_features(inp: dict) -> pd.DataFrame:
    snaps = inp["snapshots"]
    start = _utc(datetime.combine(snaps.first_day, datetime.min.time()))
    hours = pd.date_range(start, start + (snaps.last_day - snaps.first_day + timedelta(days=1)) / timedelta(hours=1) * HOUR,
                          freq="h", inclusive="left")
    holidays = set().union(*(fd.us_holidays(y) for y in {h.year for h in hours}))
    return pd.DataFrame({
        "hour_ts": hours, "event_timestamp": hours, "hour_of_day": hours.hour.astype("int64"),
        "day_of_week": hours.weekday.astype("int64"), "is_weekend": hours.weekday >= 5,
        "is_holiday": [h.date() in holidays for h in hours],
    })


def build_all(lake_root: str | Path, snapshots: fd.Snapshots | fd.Instant | None = None) -> dict[str, pd.DataFrame]:
    inp = load_inputs(lake_root, snapshots)
    return {
        "subscriber": subscriber_features(inp),
        "sender_domain": sender_features(inp, "sending_domain"),
        "sender_ip": sender_features(inp, "sending_ip"),
        "sender_provider": sender_provider_features(inp),
        "provider": provider_features(inp),
        "content": content_features(inp),
        "content_provider": content_provider_features(inp),
        "calendar": calendar_features(inp),
    }
