"""What the knowledge base learns about each provider from a sender's own events (the outcome,
send and engagement logs of the delivery lake), and the facts the providers publish (the public
catalogue). Each learner reads a frame of the window's rows and returns Facts with their evidence;
`learn` runs them all for every provider in the window, `learn_window` from a lake into the store.

Rates: a provider defers what one IP sends past its hourly allowance. Among the messages it
accepted, or let expire after deferring them, the share first deferred past the usual background
is the share over the allowance (`over = 1 - allowance / sent`; far past it a provider blocks
instead, and blocked mail is left out), so an hour in which an IP pushed past the allowance says
where it is: `sent x (1 - over)`. The estimate is the median over such hours of the newest day
that had any (the allowance moves with the sender's reputation); where no hour pushed past it,
the busiest hour with no push-back is a lower bound, and the fact says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.features.definitions import human_opens
from adaptive_delivery.delivery.knowledge.store import Fact
from adaptive_delivery.delivery.providers import is_rate_limit_reply, public_facts

TOP_PATTERNS = 5
MIN_HOUR_MESSAGES = 50  # an hour's first attempts per IP before its deferral share says anything
BACKGROUND_DEFERRAL = 0.005  # deferrals with no speed behind them (greylisting, a busy server)
PUSHBACK_MARGIN = 0.03  # over the background by this much: the IP was past its allowance
SAFE_SHARE = 0.8  # the optimal rate: this share of the allowance, room for a burst and a bad hour
MIN_HOUR_DELIVERED = 200  # messages on weekdays and at weekends before the two are compared
MIN_OPENS = 100  # human opens before the hours people read at say anything
BURST_FACTOR = 3.0  # an hour blocking this many times the provider's usual share is a block burst
# what the learners read, and MDL-008's profiles (latency, the recipient's domain) beside them
OUTCOME_COLUMNS = ["message_id", "attempt", "event_ts", "status", "smtp_code", "enhanced_status", "reply_text",
                   "reason", "placement", "provider", "sending_ip", "latency_ms", "recipient"]

_VARIABLE = [(re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b"), "<ip>"), (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<address>"),
             (re.compile(r"\b[0-9a-f]{8,}\b", re.IGNORECASE), "<id>"), (re.compile(r"\b[A-Z0-9]{10,}\b"), "<id>"),
             (re.compile(r"https?://\S+"), "<url>"), (re.compile(r"\s+"), " ")]


def reply_pattern(text: str) -> str:
    """A reply as a pattern: the addresses, IPs, queue ids and links one message's reply carries
    replaced by placeholders, so that the same refusal to two messages reads the same."""
    out = str(text)
    for pattern, placeholder in _VARIABLE:
        out = pattern.sub(placeholder, out)
    return out.strip()


def _patterns(rows: pd.DataFrame, now: datetime) -> Fact:
    """The commonest reply patterns among `rows`, with their share, codes and last sighting."""
    if rows.empty:
        return Fact([], {"replies": 0}, now)
    frame = rows.assign(pattern=rows["reply_text"].map(reply_pattern))
    grouped = frame.groupby("pattern").agg(count=("pattern", "size"), code=("smtp_code", "first"),
                                           enhanced=("enhanced_status", "first"), reason=("reason", "first"),
                                           last_seen=("event_ts", "max"))
    top = grouped.sort_values("count", ascending=False).head(TOP_PATTERNS)
    value = [{"pattern": p, "share": round(float(r["count"]) / len(frame), 4), "count": int(r["count"]),
              "smtp_code": int(r["code"]), "enhanced_status": r["enhanced"], "reason": r["reason"],
              "last_seen": pd.Timestamp(r["last_seen"]).isoformat()} for p, r in top.iterrows()]
    return Fact(value, {"replies": len(frame), "patterns": int(len(grouped))}, now)


def reply_facts(outcomes: pd.DataFrame, now: datetime) -> dict[str, Fact]:
    """Rate-limit signals, block patterns and deferral patterns, by the replies' own words."""
    refused = outcomes[outcomes["status"].isin(["deferred", "blocked"])]
    rate_limited = refused[refused["reply_text"].map(lambda t: is_rate_limit_reply(str(t)))]
    return {"rate_limit_signals": _patterns(rate_limited, now),
            "block_patterns": _patterns(outcomes[outcomes["status"] == "blocked"], now),
            "deferral_patterns": _patterns(outcomes[outcomes["status"] == "deferred"], now)}


def hourly_pushback(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per sending IP and hour of the first attempt: first attempts (`sent`), and the share first
    deferred (`deferred`) among the messages that were accepted or whose deferral expired: blocks
    and bounces aside, which far past the allowance replace deferrals."""
    ordered = outcomes.sort_values(["message_id", "attempt"])
    first = ordered.drop_duplicates("message_id", keep="first")
    last = ordered.drop_duplicates("message_id", keep="last").set_index("message_id")
    final = first["message_id"].map(last["status"])
    expired = (final == "bounced") & (first["message_id"].map(last["reason"]) == "expired")
    was_deferred = first["status"] == "deferred"
    rows = first.assign(hour=pd.to_datetime(first["event_ts"], utc=True).dt.floor("h"),
                        answered=((final == "accepted") | (expired & was_deferred)).astype(float))
    rows = rows.assign(deferred=rows["answered"] * was_deferred)
    hours = rows.groupby(["sending_ip", "hour"]).agg(sent=("answered", "size"), answered=("answered", "sum"),
                                                      deferred=("deferred", "sum")).reset_index()
    hours["deferred"] = hours["deferred"] / hours["answered"].clip(lower=1)
    return hours


def rate_facts(outcomes: pd.DataFrame, now: datetime) -> dict[str, Fact]:
    """The allowance per IP and hour (safe maximum) and the rate to run at (optimal)."""
    hours = hourly_pushback(outcomes)
    hours = hours[hours["sent"] >= MIN_HOUR_MESSAGES]
    pushed = hours[hours["deferred"] > BACKGROUND_DEFERRAL + PUSHBACK_MARGIN]
    if len(pushed):
        allowance = pushed["sent"] * (1 - (pushed["deferred"] - BACKGROUND_DEFERRAL).clip(0, 1))
        # the allowance moves with the sender's reputation: the newest day that pushed back says where it is now
        newest = pushed["hour"].dt.date == pushed["hour"].max().date()
        estimate = float(np.median(allowance[newest]))
        evidence = {"kind": "estimate", "hours_past_allowance": int(len(pushed)), "hours_seen": int(len(hours)),
                    "hours_used": [h.isoformat() for h in pushed.loc[newest, "hour"]],
                    "allowance_by_hour": {h.isoformat(): round(float(a)) for h, a in zip(pushed["hour"], allowance,
                                                                                            strict=True)}}
    elif len(hours):
        estimate = float(hours["sent"].max())
        evidence = {"kind": "lower_bound", "hours_past_allowance": 0, "hours_seen": int(len(hours))}
    else:
        unknown = {"kind": "unknown", "hours_seen": 0,
                   "why": f"no hour with {MIN_HOUR_MESSAGES} or more first attempts from one IP"}
        return {"safe_max_rate_per_hour": Fact(None, unknown, now), "optimal_rate_per_hour": Fact(None, unknown, now)}
    # below a lower bound nothing was ever pushed back: the busiest hour seen is the rate known safe
    share = SAFE_SHARE if evidence["kind"] == "estimate" else 1.0
    return {"safe_max_rate_per_hour": Fact(round(estimate), evidence, now),
            "optimal_rate_per_hour": Fact(round(share * estimate), {**evidence, "share_of_safe_max": share}, now)}


def time_facts(outcomes: pd.DataFrame, opens: pd.DataFrame, now: datetime) -> dict[str, Fact]:
    """Best and avoid hours (UTC) by when this provider's people open the sender's mail, and how
    the weekend differs from the week in blocks and opens. `opens`: human opens (`message_id`,
    `event_ts`)."""
    final = outcomes.sort_values(["message_id", "attempt"]).drop_duplicates("message_id", keep="last")
    ts = pd.to_datetime(final["event_ts"], utc=True)
    mine = opens[opens["message_id"].isin(final["message_id"])]
    delivered = final.assign(weekend=ts.dt.dayofweek >= 5, opened=final["message_id"].isin(mine["message_id"]).astype(float),
                             blocked=(final["status"] == "blocked").astype(float))
    facts: dict[str, Fact] = {}
    if len(mine) >= MIN_OPENS:
        hours = pd.to_datetime(mine["event_ts"], utc=True).dt.hour.value_counts(normalize=True).reindex(range(24), fill_value=0.0)
        ranked = hours.sort_values(ascending=False)
        shares = {int(h): round(float(v), 4) for h, v in hours.items()}
        evidence = {"open_share_by_hour": shares, "opens": int(len(mine))}
        facts["best_hours_utc"] = Fact(sorted(int(h) for h in ranked.index[:3]), evidence, now)
        facts["avoid_hours_utc"] = Fact(sorted(int(h) for h in ranked.index[-3:]), evidence, now)
    parts = {name: part for name, part in (("weekday", delivered[~delivered["weekend"]]), ("weekend", delivered[delivered["weekend"]]))
             if len(part) >= MIN_HOUR_DELIVERED}
    if len(parts) == 2:
        stats = {name: {"block_share": round(float(p["blocked"].mean()), 5),
                        "open_share": round(float(p.loc[p["status"] == "accepted", "opened"].mean()), 4),
                        "messages": int(len(p))} for name, p in parts.items()}
        facts["weekend_behaviour"] = Fact(_weekend_words(stats), stats, now)
    return facts


def _weekend_words(stats: dict[str, dict]) -> str:
    blocks = stats["weekend"]["block_share"] / max(stats["weekday"]["block_share"], 1e-9)
    opens = stats["weekend"]["open_share"] / max(stats["weekday"]["open_share"], 1e-9)
    words = []
    if blocks > 1.25 or blocks < 0.8:
        words.append(f"blocks {'more' if blocks > 1 else 'less'} at weekends (x{blocks:.2f})")
    if opens > 1.1 or opens < 0.9:
        words.append(f"weekend mail is opened {'more' if opens > 1 else 'less'} (x{opens:.2f})")
    return "; ".join(words) or "the weekend answers like the week"


def content_facts(outcomes: pd.DataFrame, now: datetime) -> dict[str, Fact]:
    """How much it refuses or folders for content: content refusals per message, and the panel's
    spam-folder share."""
    first = outcomes[outcomes["attempt"] == 1]
    final = outcomes.sort_values(["message_id", "attempt"]).drop_duplicates("message_id", keep="last")
    placed = outcomes[outcomes["placement"].isin(["inbox", "spam"])]
    refused = final[(final["status"] == "blocked") & (final["reason"] == "spamdetected")]
    value = {"content_refusal_share": round(len(refused) / max(len(first), 1), 5),
             "panel_spam_share": None if placed.empty else round(float((placed["placement"] == "spam").mean()), 4)}
    return {"content_sensitivity": Fact(value, {"messages": int(len(first)), "panel_placements": int(len(placed)),
                                                "content_refusals": int(len(refused))}, now)}


def recovery_facts(outcomes: pd.DataFrame, now: datetime) -> dict[str, Fact]:
    """Reputation recovery: after an hour that blocked BURST_FACTOR times its usual share, the
    hours until it blocked no more than usual again (median over bursts)."""
    first = outcomes[outcomes["attempt"] == 1]
    hourly = first.assign(hour=pd.to_datetime(first["event_ts"], utc=True).dt.floor("h"),
                          blocked=(first["status"] == "blocked").astype(float)).groupby("hour")["blocked"].agg(["mean", "size"])
    hourly = hourly[hourly["size"] >= MIN_HOUR_MESSAGES]
    if len(hourly) < 3:
        return {}
    usual = float(hourly["mean"].median())
    burst = hourly["mean"] > max(BURST_FACTOR * usual, 0.02)
    hours = list(hourly.index)
    spans = []
    for k in np.flatnonzero(burst.to_numpy()):
        if k > 0 and burst.iloc[k - 1]:
            continue  # the burst's first hour only
        later = [h for h, m in zip(hours[k + 1:], hourly["mean"].iloc[k + 1:], strict=True) if m <= max(usual, 1e-9) * 1.5]
        if later:
            spans.append((later[0] - hours[k]) / pd.Timedelta(hours=1))
    if not spans:
        return {"reputation_recovery_hours": Fact(None, {"bursts": 0, "usual_block_share": round(usual, 5)}, now)}
    return {"reputation_recovery_hours": Fact(float(np.median(spans)), {"bursts": len(spans), "spans": spans,
                                                                         "usual_block_share": round(usual, 5)}, now)}


def published_facts(provider: str, outcomes: pd.DataFrame, now: datetime) -> dict[str, Fact]:
    """What the provider publishes (authentication, one-click unsubscribe, complaint limits) and
    how often the sender's mail was refused for authentication all the same."""
    facts = public_facts(provider)
    auth = int(((outcomes["status"] == "blocked") & (outcomes["reason"] == "authfailure")).sum())
    return {"authentication": Fact({"requires_spf_or_dkim_and_dmarc": facts.requires_auth,
                                    "requires_one_click_unsubscribe": facts.requires_one_click,
                                    "complaint_soft_limit": facts.complaint_soft_limit,
                                    "complaint_hard_limit": facts.complaint_hard_limit},
                                   {"source": "published sender rules (public catalogue)", "auth_refusals_seen": auth}, now)}


Learner = Callable[[pd.DataFrame, datetime], dict[str, Fact]]
LEARNERS: tuple[Learner, ...] = (reply_facts, rate_facts, content_facts, recovery_facts)


def mail_share(rows: pd.DataFrame, first_attempts: int, now: datetime) -> Fact:
    """The provider's share of the sender's mail (first attempts): what a day's volume puts on it."""
    mine = int((rows["attempt"] == 1).sum())
    return Fact(round(mine / max(first_attempts, 1), 5), {"first_attempts": mine, "all_first_attempts": first_attempts},
                now)


def learn(outcomes: pd.DataFrame, opens: pd.DataFrame, now: datetime) -> dict[str, dict[str, Fact]]:
    """Every learner, for every provider in `outcomes`."""
    out: dict[str, dict[str, Fact]] = {}
    first_attempts = int((outcomes["attempt"] == 1).sum())
    for provider, rows in outcomes.groupby("provider"):
        facts: dict[str, Fact] = {"mail_share": mail_share(rows, first_attempts, now)}
        for learner in LEARNERS:
            facts.update(learner(rows, now))
        facts.update(time_facts(rows, opens, now))
        facts.update(published_facts(str(provider), rows, now))
        out[str(provider)] = facts
    return out


def read_lake(lake_root: str | Path, days: list[date] | None = None,
              columns: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The window's outcomes (OUTCOME_COLUMNS, or `columns`) and its human opens (`message_id`,
    `event_ts`), from the delivery lake."""
    from adaptive_delivery.delivery.events.lake import EventsLake

    lake = EventsLake(lake_root)
    outcomes = lake.read("outcomes", days, columns=columns or OUTCOME_COLUMNS).to_pandas()
    engagement = lake.read("engagement", days, columns=["message_id", "event_ts", "event_type", "machine_open"]).to_pandas()
    return outcomes, human_opens(engagement)


@dataclass(frozen=True)
class LearningRun:
    version: int
    providers: int
    facts: int
    events: int


def learn_window(lake_root: str | Path, url: str, until: date | None = None, days: int | None = None,
                 source: str = "delivery lake", behaviour: tuple | None = None) -> LearningRun:
    """Learn from the lake's outcome days in [until - days, until) (all of them without `days`;
    `until` defaults to after the newest) and record a new version in the store at `url`.
    `behaviour`: MDL-008's (model, version), whose groups and change test join the facts (read
    over the three weeks to `until`)."""
    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.delivery.knowledge.store import KnowledgeBase, KnowledgeError

    held = sorted(EventsLake(lake_root).partitions("outcomes"))
    end = until or (held[-1] + timedelta(days=1) if held else None)
    window = [d for d in held if end is not None and d < end and (days is None or d >= end - timedelta(days=days))]
    if not window:
        raise KnowledgeError(f"{lake_root} holds no outcome events before {end} to learn from")
    now = datetime.now(UTC)
    if behaviour is None:
        outcomes, opens = read_lake(lake_root, window)
        facts = learn(outcomes, opens, now)
    else:
        # MDL-008's change test reads three weeks; the window's facts come from its last days (the
        # lake is partitioned by event day: the window's outcome rows, read once)
        from adaptive_delivery.delivery.knowledge.behaviour import (
            RECENT_DAYS,
            REFERENCE_DAYS,
            behaviour_facts,
        )

        span = [d for d in held if window[-1] >= d >= min(window[0], end - timedelta(days=REFERENCE_DAYS + RECENT_DAYS))]
        span_outcomes, span_opens = read_lake(lake_root, span)
        first = pd.Timestamp(window[0], tz="UTC")
        outcomes = span_outcomes[pd.to_datetime(span_outcomes["event_ts"], utc=True) >= first]
        opens = span_opens[pd.to_datetime(span_opens["event_ts"], utc=True) >= first]
        facts = learn(outcomes, opens, now)
        for provider, extra in behaviour_facts(behaviour[0], span_outcomes, span_opens, now, behaviour[1]).items():
            facts.setdefault(provider, {}).update(extra)
    ts = pd.to_datetime(outcomes["event_ts"], utc=True)
    version = KnowledgeBase(url).record(facts, source=f"{source}: {window[0]} to {window[-1]}",
                                        window=(ts.min().to_pydatetime(), ts.max().to_pydatetime()))
    return LearningRun(version, len(facts), sum(len(f) for f in facts.values()), len(outcomes))
