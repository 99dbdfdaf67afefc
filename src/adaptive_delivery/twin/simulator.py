"""The log generator: a seeded, vectorised world that writes each day's events into the lake.

One `World` holds the hidden state (subscribers, reputations, warm-up capacities, blocklist
listings). `World.step_day` sends every campaign of the day, decides every message's fate from
`dynamics.outcome_probabilities`, draws engagement and complaints, updates the hidden state and
returns the day's event tables plus its truth tables. Nothing loops per message in Python.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from adaptive_delivery.delivery.events.lake import EventsLake, write_parquet_atomic
from adaptive_delivery.delivery.events.schema import TS
from adaptive_delivery.twin import dynamics as dyn
from adaptive_delivery.twin.config import SenderConfig, WorldConfig
from adaptive_delivery.twin.content import Content, make_content
from adaptive_delivery.twin.population import (
    ACQUISITION,
    CLIENTS,
    DEVICES,
    FILTER_STANDING_SD,
    NEVER,
    Population,
)
from adaptive_delivery.twin.providers import (
    N_PROVIDERS,
    PROVIDER_INDEX,
    PROVIDER_NAMES,
    PROVIDERS,
    provider_array,
    reply_catalog,
)
from adaptive_delivery.twin.records import AddressRecords, hidden_state_posterior

US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
CLASS_INDEX = {c: i for i, c in enumerate(dyn.CLASS_NAMES)}
# Truth columns of the records oracle blind to each subscriber's private standing with the filter,
# and the Gauss-Hermite nodes (logit shift, weight) over which it averages the standing.
STANDING_BLIND_PREFIX = "standing_blind_p_"
# How much less often mail in the spam folder is opened than mail in the inbox.
SPAM_FOLDER_OPEN_FACTOR = 0.04
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(9)
STANDING_NODES = tuple(zip(np.sqrt(2.0) * FILTER_STANDING_SD * _NODES, _WEIGHTS / np.sqrt(np.pi), strict=True))
# the law's inputs to the filter's score, but the subscriber's standing (read from the function:
# a hand list that missed one would silently take its default)
FILTER_INPUTS = tuple(name for name in inspect.signature(dyn.inbox_logit).parameters if name != "subscriber_noise")
# Horizon over which a delivered message can still be opened (hours).
OPEN_HORIZON_H = 72
# Public blocklists (Spamhaus-like): listing threshold on spam-trap hits and listing length.
BLOCKLIST_MIN_HITS = 5
BLOCKLIST_HITS_PER_10K = 5.0
BLOCKLIST_DAYS = 3


# Sees one day's planned sends (sends-log rows) and says which go out.
SendFilter = Callable[[int, pa.Table], np.ndarray]
# Sees each campaign's content before it goes out: the content to send (as written, or rewritten
# with `content.rewrite`), or None to hold the campaign (a sender's pre-send content check).
ContentGate = Callable[[Content], Content | None]
# A sender's per-subscriber send time (MDL-002 in the loop): sees the day's planned sends and
# returns the UTC hour of the day each one goes out at, NaN where it stays as planned. Only
# campaign mail moves; transactional mail goes when its event happens.
SendHours = Callable[[int, pa.Table], np.ndarray]


@dataclass
class DayResult:
    day: date
    events: dict[str, pa.Table]  # kind -> table (may hold events dated after `day`)
    truth: dict[str, pa.Table]


def _epoch_us(d: date) -> int:
    return int(datetime.combine(d, time(0), tzinfo=timezone.utc).timestamp()) * US_PER_S


def _ts(values_us: np.ndarray) -> pa.Array:
    return pa.array(values_us.astype("int64"), type=pa.int64()).cast(TS)


def _ids(prefix: str, numbers: np.ndarray, width: int = 7) -> list[str]:
    return [f"{prefix}{n:0{width}d}" for n in numbers.tolist()]


class World:
    """The hidden state of the simulated world and the rules that move it, one day at a time."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.senders: tuple[SenderConfig, ...] = config.senders
        rng = self._rng("init")
        self.total_share = total_share = sum(s.list_share for s in self.senders)
        growth = 1.0 + sum(s.signup_rate_per_day for s in self.senders) * config.days * 1.5
        imported = sum(s.import_size * s.list_share / total_share for s in self.senders if s.import_day is not None)
        self.pop = Population(capacity=int(config.subscribers * (growth + imported)) + 1000)
        self.records = AddressRecords(self.pop.capacity)
        for k, s in enumerate(self.senders):
            n = int(round(config.subscribers * s.list_share / total_share))
            self.pop.add(rng, n, k, 0, s.initial_invalid_share, s.trap_share, tenure_days=(1, 1500))
        # IPs: one global index per (sender, ip)
        self.ip_sender = np.concatenate([[k] * s.n_ips for k, s in enumerate(self.senders)]).astype(int)
        self.ip_names = [f"{s.ip_prefix}.{10 + i}" for s in self.senders for i in range(s.n_ips)]
        self.ip_cold = np.array([self.senders[k].new_ips for k in self.ip_sender])
        n_ips = len(self.ip_names)
        established = provider_array("base_limit_per_hour") * dyn.WARM_SPREAD_HOURS * 1.25
        self.established_capacity = np.tile(established, (n_ips, 1))
        cold = provider_array("cold_capacity_per_day")
        self.warm_capacity = np.where(self.ip_cold[:, None], cold[None, :], self.established_capacity)
        self.ip_reputation = np.where(self.ip_cold[:, None], dyn.REPUTATION_NEW, dyn.REPUTATION_ESTABLISHED) * np.ones((n_ips, N_PROVIDERS))
        self.domain_reputation = np.array(
            [[dyn.REPUTATION_NEW if s.domain_age_days < 60 else dyn.REPUTATION_ESTABLISHED] * N_PROVIDERS for s in self.senders]
        )
        self.blocklisted_until = np.full(n_ips, -1)
        self.trailing_volume = np.zeros(n_ips)
        self.complaint_rate = np.zeros((len(self.senders), N_PROVIDERS))
        self.day_index = 0
        self.contents: list[Content] = []
        self.campaign_rows: list[dict] = []
        # per campaign a content gate saw: held or sent, rewritten or not, spamminess as written and sent
        self.gate_log: list[dict] = []

    # ---- randomness ---------------------------------------------------------------------
    def _rng(self, *keys: object) -> np.random.Generator:
        """A generator per purpose and day: the same seed gives the same world, bit for bit."""
        material = "/".join(map(str, (self.config.seed, *keys))).encode()
        return np.random.default_rng(int.from_bytes(hashlib.sha256(material).digest()[:8], "little"))

    # ---- scenario hooks -----------------------------------------------------------------
    def _scales(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per provider on `day`: hidden-limit factor, content-strictness factor, inbox logit shift."""
        limit = np.ones(N_PROVIDERS)
        strict = np.ones(N_PROVIDERS)
        shift = np.zeros(N_PROVIDERS)
        c = self.config
        if c.change_day is not None and day >= c.change_day and c.change_provider:
            p = PROVIDER_INDEX[c.change_provider]
            limit[p] = c.limit_scale
            strict[p] = c.strictness_scale
            shift[p] = c.inbox_shift
        return limit, strict, shift

    # ---- one day ------------------------------------------------------------------------
    def step_day(self, send_filter: SendFilter | None = None, content_gate: ContentGate | None = None,
                 send_hours: SendHours | None = None) -> DayResult:
        """Advance one day. `send_filter` sees the day's planned sends (the sends-log rows) before
        anything happens and returns which of them go out: a sender's decision service in the loop.
        `content_gate` sees each campaign's content first and may rewrite or hold it. `send_hours`
        then moves each campaign message to the hour its sender's schedule gives it."""
        d = self.day_index
        today = self.config.start + timedelta(days=d)
        day0_us = _epoch_us(today)
        rng = self._rng("day", d)
        pop = self.pop
        if d > 0:
            pop.daily_drift(rng, d)
            for k, s in enumerate(self.senders):
                n_new = rng.poisson(s.signup_rate_per_day * max(np.sum(pop.sender[: pop.size] == k), 1))
                if n_new:
                    pop.add(rng, int(n_new), k, d, s.signup_invalid_share, s.trap_share * 0.3, tenure_days=None)
                if s.import_day == d and s.import_size > 0:
                    n_bought = int(round(self.config.subscribers * s.list_share / self.total_share * s.import_size))
                    pop.add(self._rng("import", d, k), n_bought, k, d, s.import_invalid_share, s.import_trap_share,
                            tenure_days=None)

        msgs = self._plan_sends(rng, d, day0_us, content_gate)
        if send_filter is not None and msgs["sub"].size:
            keep = np.asarray(send_filter(d, self.sends_table(msgs)), dtype=bool)
            msgs = {k: v[keep] for k, v in msgs.items()}
        if send_hours is not None and msgs["sub"].size:
            msgs = self._reschedule(d, day0_us, msgs, np.asarray(send_hours(d, self.sends_table(msgs)), dtype=float))
        if msgs["sub"].size == 0:
            self.day_index += 1
            return DayResult(today, {}, {})
        fate = self._decide_fates(rng, d, msgs)
        engagement = self._engage(rng, d, day0_us, msgs, fate)
        self._update_state(d, msgs, fate, engagement)
        events = self._event_tables(rng, d, msgs, fate, engagement)
        truth = self._truth_tables(d, msgs, fate, engagement)
        self.day_index += 1
        return DayResult(today, events, truth)

    def _plan_sends(self, rng: np.random.Generator, d: int, day0_us: int,
                    content_gate: ContentGate | None = None) -> dict[str, np.ndarray]:
        """Who gets which campaign when, from which IP, at what rate (a held campaign draws the same
        randomness and sends nothing, so gated and ungated runs of a world plan the same days)."""
        pop = self.pop
        live = np.arange(pop.size)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("sub", "ts", "ip", "campaign", "rate", "transactional")}
        for k, s in enumerate(self.senders):
            mine = live[(pop.sender[live] == k) & (pop.signup_day[live] <= d)]
            keep = ~pop.unsubscribed[mine] & ~pop.complained[mine]
            if s.suppress_after_hard_bounces:  # 0 means the sender never suppresses hard-bounced addresses
                keep &= pop.hard_bounces[mine] < s.suppress_after_hard_bounces
            eligible = mine[keep]
            n_campaigns = int(np.floor(s.campaigns_per_day) + (rng.random() < s.campaigns_per_day % 1))
            for c in range(n_campaigns):
                transactional = rng.random() < s.transactional_share
                share = 0.08 if transactional else s.audience_share
                # who is in the audience and in what order it goes out: a draw per person from a
                # stream of the campaign's own, so worlds whose lists differ (one sender stopped
                # mailing some addresses) still plan the same campaigns to the same people
                pick = self._rng("audience", d, k, c)
                chance, order = pick.random(pop.size), pick.random(pop.size)
                audience = eligible[chance[eligible] < share]
                audience = audience[np.argsort(order[audience], kind="stable")]
                if s.warmup_start_volume is not None and not transactional:
                    cap = int(s.warmup_start_volume * s.warmup_daily_growth ** d)
                    audience = audience[:cap]
                if audience.size == 0:
                    continue
                campaign_no = len(self.campaign_rows)
                written = make_content(rng, f"{s.org_id}-ct{campaign_no:05d}", s.spamminess, s.quality,
                                       s.one_click_unsubscribe)
                content = content_gate(written) if content_gate is not None else written
                self.contents.append(content if content is not None else written)
                rate = s.send_rate_per_min if not transactional else 60.0
                start_us = day0_us + int((s.send_hour_utc + rng.normal(0, 0.3)) * 3600 * US_PER_S)
                if transactional:  # transactional mail trickles through the day
                    offsets = np.sort(rng.random(audience.size)) * (US_PER_DAY - 1)
                    ts = day0_us + offsets.astype(np.int64)
                else:
                    ts = start_us + (np.arange(audience.size) / rate * 60 * US_PER_S).astype(np.int64)
                ts = np.minimum(ts, day0_us + US_PER_DAY - 1)
                ips = np.flatnonzero(self.ip_sender == k)
                self.campaign_rows.append(
                    dict(campaign_id=f"{s.org_id}-c{campaign_no:05d}", org_id=s.org_id, content_id=written.content_id,
                         campaign_type="transactional" if transactional else "marketing",
                         scheduled_ts=int(ts[0]), send_rate_per_min=rate,
                         audience_size=int(audience.size) if content is not None else 0)
                )
                if content_gate is not None:
                    self.gate_log.append({"campaign_id": self.campaign_rows[-1]["campaign_id"], "org_id": s.org_id,
                                          "held": content is None, "rewritten": _rewritten(written, content),
                                          "spamminess_written": written.spamminess, "audience": int(audience.size),
                                          "spamminess_sent": content.spamminess if content is not None else None})
                if content is None:
                    continue
                cols["sub"].append(audience)
                cols["ts"].append(ts)
                cols["ip"].append(ips[np.arange(audience.size) % ips.size])
                cols["campaign"].append(np.full(audience.size, campaign_no))
                cols["rate"].append(np.full(audience.size, rate))
                cols["transactional"].append(np.full(audience.size, transactional))
        if not cols["sub"]:
            return {"sub": np.zeros(0, int)}
        msgs = {k: np.concatenate(v) for k, v in cols.items()}
        order = np.argsort(msgs["ts"], kind="stable")
        msgs = {k: v[order] for k, v in msgs.items()}
        n = msgs["sub"].size
        msgs["message_id"] = np.array(_ids(f"m{d:04d}-", np.arange(n), 7), dtype=object)  # unique per day prefix
        msgs["provider"] = pop.provider[msgs["sub"]].astype(int)
        msgs["sender"] = pop.sender[msgs["sub"]].astype(int)
        return msgs

    def _reschedule(self, d: int, day0_us: int, msgs: dict[str, np.ndarray], hours: np.ndarray) -> dict[str, np.ndarray]:
        """Campaign messages at the UTC hours given (a uniform moment within the hour, from a
        generator of its own, so a world with a schedule draws everything else as one without),
        in time order again."""
        if hours.shape != msgs["sub"].shape:
            raise ValueError(f"send_hours answered {hours.shape[0] if hours.ndim else 0} hours for "
                             f"{msgs['sub'].size} planned sends")
        move = np.isfinite(hours) & ~msgs["transactional"]
        if ((hours[move] < 0) | (hours[move] >= 24)).any():
            raise ValueError("send_hours must give UTC hours of the day, 0 <= hour < 24")
        within = self._rng("send_hours", d).random(msgs["sub"].size)
        ts = msgs["ts"].copy()
        ts[move] = day0_us + ((np.floor(hours[move]) + within[move]) * 3600 * US_PER_S).astype(np.int64)
        order = np.argsort(ts, kind="stable")
        return {k: v[order] for k, v in {**msgs, "ts": ts}.items()}

    def _decide_fates(self, rng: np.random.Generator, d: int, m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pop = self.pop
        n = m["sub"].size
        prov, ip, sender, sub = m["provider"], m["ip"], m["sender"], m["sub"]
        limit_scale, strict_scale, inbox_shift = self._scales(d)
        # hourly pressure per (ip, provider, hour)
        hour = ((m["ts"] // (3600 * US_PER_S)) % 24).astype(int)
        rep = 0.5 * self.ip_reputation[ip, prov] + 0.5 * self.domain_reputation[sender, prov]
        limit = dyn.hourly_limit(prov, rep, self.warm_capacity[ip, prov], limit_scale[prov])
        group = (ip * N_PROVIDERS + prov) * 24 + hour
        counts = np.bincount(group, minlength=len(self.ip_names) * N_PROVIDERS * 24)
        attempted = counts[group].astype(float)
        # transactional trickle shares the allowance but spreads evenly; treat like any other mail
        pressure = dyn.rate_pressure(attempted, limit)
        contents = self.contents
        spam = np.array([c.spamminess for c in contents])[m["campaign"]]
        quality = np.array([c.quality for c in contents])[m["campaign"]]
        s_cfg = self.senders
        spf = np.array([s.spf_or_dkim for s in s_cfg])[sender]
        dmarc = np.array([s.dmarc for s in s_cfg])[sender]
        one_click = np.array([s.one_click_unsubscribe for s in s_cfg])[sender]
        domain_age = np.array([s.domain_age_days for s in s_cfg])[sender] + d
        invalid = (pop.invalid_from[sub] <= d) & ~pop.trap[sub]
        full = pop.mailbox_full[sub] & ~invalid
        engagement = dyn.sigmoid(pop.engagement_logit[sub])
        law = dict(
            provider=prov, reputation=rep, pressure=pressure, blocklisted=self.blocklisted_until[ip] >= d,
            spf_or_dkim=spf, dmarc=dmarc, one_click=one_click, engagement=engagement, spamminess=spam, quality=quality,
            domain_age_days=domain_age, complaint_rate=self.complaint_rate[sender, prov],
            subscriber_noise=pop.noise[sub], strictness_scale=strict_scale[prov], inbox_shift=inbox_shift[prov],
        )
        probs = dyn.outcome_probabilities(**law, address_invalid=invalid.astype(float), mailbox_full=full.astype(float))
        matrix = probs.matrix()
        cum = np.cumsum(matrix, axis=1)
        u = rng.random(n)[:, None]
        cls = np.minimum((u > cum).sum(axis=1), dyn.N_CLASSES - 1)
        # which rule blocked, which soft bounce: full mailbox or a deferral that expired
        parts = np.stack([probs.block_parts[k] for k in ("auth", "blocklist", "reputation", "rate", "spam_content")], axis=1)
        parts = parts / np.maximum(parts.sum(axis=1, keepdims=True), 1e-12)
        block_kind = (rng.random(n)[:, None] > np.cumsum(parts, axis=1)).sum(axis=1).clip(0, 4)
        over_share = 1.0 - 1.0 / (1.0 + pressure)
        p_first_defer = np.clip(dyn.BASE_DEFERRAL + over_share, 0, 1)
        p_expire = np.clip(dyn.EXPIRY_PER_PRESSURE * over_share + 0.02, 0, 1)
        is_soft = cls == CLASS_INDEX["soft_bounce"]
        soft_full = is_soft & full  # a full mailbox explains a soft bounce; otherwise a deferral expired
        accepted = (cls == CLASS_INDEX["inbox"]) | (cls == CLASS_INDEX["spam"])
        p_defer_then_ok = p_first_defer * (1 - p_expire) / np.maximum(1 - p_first_defer * p_expire, 1e-9)
        deferred_first = (accepted & (rng.random(n) < p_defer_then_ok)) | (is_soft & ~soft_full)
        # the records oracle: the same law with the address's hidden states as the sender could know them
        p_dead, p_full = hidden_state_posterior(pop, self.records, d, sub, cls, soft_full)
        seen = dyn.outcome_probabilities(**law, address_invalid=p_dead, mailbox_full=p_full)
        seen_matrix = seen.matrix()
        # and the same oracle blind to each subscriber's private standing with the provider's filter,
        # which no record shows directly: the law averaged over the standing's spread (what that
        # standing alone is worth to the oracle). The standing moves only the filter's score.
        score = dyn.inbox_logit(**{k: law[k] for k in FILTER_INPUTS}, subscriber_noise=0.0)
        blind_inbox = sum(weight * dyn.sigmoid(score + shift) for shift, weight in STANDING_NODES)
        standing_blind = seen.with_inbox_share(blind_inbox).matrix()
        self.records.observe(d, sub, cls, soft_full)
        return dict(
            cls=cls, block_kind=block_kind, soft_full=soft_full, deferred_first=deferred_first, matrix=matrix,
            seen_matrix=seen_matrix, standing_blind_matrix=standing_blind,
            pressure=pressure, limit=limit, rep=rep, spam=spam, quality=quality, hour=hour,
            trap=pop.trap[sub] & accepted, engagement=engagement,
        )

    def _engage(self, rng, d: int, day0_us: int, m, fate) -> dict[str, np.ndarray]:
        """Opens (human and machine), clicks, conversions, unsubscribes and complaints."""
        pop = self.pop
        n = m["sub"].size
        sub = m["sub"]
        cls = fate["cls"]
        inbox = cls == CLASS_INDEX["inbox"]
        spamf = cls == CLASS_INDEX["spam"]
        delivered = (inbox | spamf) & ~pop.trap[sub]
        delay_us = np.where(fate["deferred_first"], rng.uniform(15, 90, n) * 60 * US_PER_S, 0).astype(np.int64)
        deliver_ts = m["ts"] + delay_us + (rng.exponential(2.0, n) * US_PER_S).astype(np.int64)
        local_hour = (((deliver_ts // (3600 * US_PER_S)) + pop.tz[sub]) % 24).astype(int)
        curve = pop.curve[sub]
        fresh = np.log(24.0 * curve[np.arange(n), local_hour] + 0.3)
        # the chance a person opens this message if it lands in the inbox (the spam folder is read 25x less)
        p_open_inbox = dyn.sigmoid(pop.engagement_logit[sub] + 0.9 * (fate["quality"] - 0.5) + 0.45 * fresh)
        p_open = np.where(inbox, p_open_inbox, p_open_inbox * SPAM_FOLDER_OPEN_FACTOR) * delivered
        opened = rng.random(n) < p_open
        # open time: the next moments this person checks mail, weighted by habit and recency
        idx = np.flatnonzero(opened)
        open_ts = np.zeros(n, np.int64)
        if idx.size:
            k = np.arange(OPEN_HORIZON_H)
            hours = (local_hour[idx, None] + k[None, :]) % 24
            wd_local = ((((deliver_ts[idx] // (3600 * US_PER_S)) + pop.tz[sub[idx]])[:, None] + k[None, :]) // 24 + 3) % 7
            w = curve[idx[:, None], hours] * pop.weekday[sub[idx][:, None], wd_local] * np.exp(-k / 14.0)[None, :]
            w[:, 0] *= 0.5
            cw = np.cumsum(w, axis=1)
            pick = (rng.random(idx.size)[:, None] * cw[:, -1:] > cw).sum(axis=1)
            frac = np.where(pick == 0, rng.random(idx.size) * 0.5 + 0.5, rng.random(idx.size))
            open_ts[idx] = deliver_ts[idx] + ((pick + frac) * 3600 * US_PER_S).astype(np.int64) - (
                (deliver_ts[idx] % (3600 * US_PER_S)) * (pick > 0)
            )
        p_click = dyn.sigmoid(-2.2 + 2.0 * (fate["quality"] - 0.5) + 0.4 * (pop.engagement_logit[sub] + 1.35))
        clicked = opened & (rng.random(n) < p_click)
        click_ts = open_ts + (rng.exponential(90, n) * US_PER_S).astype(np.int64)
        converted = clicked & (rng.random(n) < 0.06 + 0.06 * fate["quality"])
        conv_ts = click_ts + (rng.exponential(600, n) * US_PER_S).astype(np.int64)
        p_unsub = dyn.unsubscribe_probability(fate["engagement"], fate["spam"], inbox)
        unsub = delivered & inbox & (rng.random(n) < p_unsub)
        unsub_ts = np.where(opened, open_ts, deliver_ts + (rng.exponential(6, n) * 3600 * US_PER_S).astype(np.int64))
        unsub_ts = unsub_ts + (rng.exponential(30, n) * US_PER_S).astype(np.int64)
        p_complaint = dyn.complaint_probability(fate["engagement"], pop.complainer[sub], fate["spam"], inbox)
        complained = delivered & ~unsub & (rng.random(n) < p_complaint)
        complaint_ts = deliver_ts + (rng.exponential(8, n) * 3600 * US_PER_S).astype(np.int64)
        mpp = (pop.client[sub] == CLIENTS.index("apple_mail")) & delivered
        mpp_ts = deliver_ts + (rng.uniform(1, 40, n) * 60 * US_PER_S).astype(np.int64)
        return dict(
            delivered=delivered, deliver_ts=deliver_ts, delay_us=delay_us, opened=opened, open_ts=open_ts,
            clicked=clicked, click_ts=click_ts, converted=converted, conv_ts=conv_ts, unsub=unsub,
            unsub_ts=unsub_ts, complained=complained, complaint_ts=complaint_ts, mpp=mpp, mpp_ts=mpp_ts,
            p_open=p_open, p_open_inbox=p_open_inbox, p_click=p_click,
        )

    def _update_state(self, d: int, m, fate, e) -> None:
        """Reputation, warm-up capacity, blocklists and the subscribers' own state after the day."""
        pop = self.pop
        sub, prov, ip, sender = m["sub"], m["provider"], m["ip"], m["sender"]
        cls = fate["cls"]
        n_ips = len(self.ip_names)

        def per(key: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
            return np.bincount(key, weights=weights, minlength=size).astype(float)

        hard = cls == CLASS_INDEX["hard_bounce"]
        block = cls == CLASS_INDEX["block"]
        soft = cls == CLASS_INDEX["soft_bounce"]
        delivered = (cls == CLASS_INDEX["inbox"]) | (cls == CLASS_INDEX["spam"])
        opens = e["opened"]
        ipk = ip * N_PROVIDERS + prov
        dk = sender * N_PROVIDERS + prov
        shape_ip = (n_ips, N_PROVIDERS)
        shape_d = (len(self.senders), N_PROVIDERS)
        stats_ip = {k: per(ipk, n_ips * N_PROVIDERS, v.astype(float)).reshape(shape_ip) for k, v in
                    dict(sent=np.ones_like(cls), hard=hard, block=block, soft=soft, delivered=delivered,
                         complaints=e["complained"], traps=fate["trap"], opens=opens, deferred=fate["deferred_first"]).items()}
        stats_d = {k: per(dk, len(self.senders) * N_PROVIDERS, v.astype(float)).reshape(shape_d) for k, v in
                   dict(sent=np.ones_like(cls), hard=hard, block=block, complaints=e["complained"],
                        traps=fate["trap"], opens=opens).items()}
        volume_today = stats_ip["sent"].sum(axis=1)
        ratio = np.where(self.trailing_volume > 0, volume_today / np.maximum(self.trailing_volume, 1.0), 1.0)
        self.ip_reputation = dyn.update_reputation(
            self.ip_reputation, sent=stats_ip["sent"], hard_bounces=stats_ip["hard"], complaints=stats_ip["complaints"],
            trap_hits=stats_ip["traps"], blocks=stats_ip["block"], human_opens=stats_ip["opens"],
            volume_ratio=ratio[:, None] * np.ones((1, N_PROVIDERS)),
        )
        self.domain_reputation = dyn.update_reputation(
            self.domain_reputation, sent=stats_d["sent"], hard_bounces=stats_d["hard"], complaints=stats_d["complaints"],
            trap_hits=stats_d["traps"], blocks=stats_d["block"], human_opens=stats_d["opens"],
        )
        self.warm_capacity = dyn.update_warm_capacity(
            self.warm_capacity, provider=np.arange(N_PROVIDERS)[None, :] * np.ones((n_ips, 1), int),
            delivered=stats_ip["delivered"], sent=stats_ip["sent"], bounces=stats_ip["hard"],
            complaints=stats_ip["complaints"], deferrals=stats_ip["deferred"], established_capacity=self.established_capacity,
        )
        self.trailing_volume = np.where(self.trailing_volume > 0, 0.7 * self.trailing_volume + 0.3 * volume_today, volume_today)
        trap_hits = stats_ip["traps"].sum(axis=1)
        # public blocklists list an IP whose trap hits are both several and frequent
        listed = (trap_hits >= BLOCKLIST_MIN_HITS) & (trap_hits / np.maximum(volume_today, 1.0) * 10_000 >= BLOCKLIST_HITS_PER_10K)
        self.blocklisted_until = np.where(listed, d + BLOCKLIST_DAYS, self.blocklisted_until)
        self.complaint_rate = stats_d["complaints"] / np.maximum(stats_d["sent"], 1.0)
        np.add.at(pop.hard_bounces, sub[hard], 1)
        pop.unsubscribed[sub[e["unsub"]]] = True
        pop.complained[sub[e["complained"]]] = True
        # mail fatigue and reward: engaged readers stay engaged, ignored mail wears people out
        pop.engagement_logit[sub] += np.where(e["opened"], 0.02, -0.006).astype(np.float32)

    # ---- tables -------------------------------------------------------------------------
    def sends_table(self, m: dict[str, np.ndarray]) -> pa.Table:
        """The sends log rows of planned messages `m` (what a sender knows before it sends)."""
        pop = self.pop
        sub, prov, ip, sender = m["sub"], m["provider"], m["ip"], m["sender"]
        mid = m["message_id"]
        domains = np.array([self._email_domain(i) for i in range(N_PROVIDERS * 8)], dtype=object)
        camp = self.campaign_rows
        return pa.table({
            "event_id": mid, "message_id": mid,
            "campaign_id": np.array([c["campaign_id"] for c in camp], dtype=object)[m["campaign"]],
            "org_id": np.array([s.org_id for s in self.senders], dtype=object)[sender],
            "subscriber_id": np.array(_ids("s", sub, 8), dtype=object),
            "recipient_domain": domains[prov * 8 + pop.domain[sub]],
            "provider": np.array(PROVIDER_NAMES, dtype=object)[prov],
            "sending_domain": np.array([s.sending_domain for s in self.senders], dtype=object)[sender],
            "sending_ip": np.array(self.ip_names, dtype=object)[ip],
            "content_id": np.array([c["content_id"] for c in camp], dtype=object)[m["campaign"]],
            "campaign_type": np.where(m["transactional"], "transactional", "marketing").astype(object),
            "send_ts": _ts(m["ts"]), "send_rate_per_min": m["rate"].astype(float),
        })

    def _event_tables(self, rng, d: int, m, fate, e) -> dict[str, pa.Table]:
        sub, prov = m["sub"], m["provider"]
        mid = m["message_id"]
        sends = self.sends_table(m)
        sub_ids = sends.column("subscriber_id").to_numpy(zero_copy_only=False)
        provider_names = np.array(PROVIDER_NAMES, dtype=object)
        rcpt_domain = sends.column("recipient_domain").to_numpy(zero_copy_only=False)
        sending_domain = sends.column("sending_domain").to_numpy(zero_copy_only=False)
        ip_name = sends.column("sending_ip").to_numpy(zero_copy_only=False)
        campaign_id = sends.column("campaign_id").to_numpy(zero_copy_only=False)
        outcomes = self._outcome_table(rng, d, m, fate, e, mid, sub_ids, rcpt_domain, sending_domain, ip_name, provider_names)
        c = e["complained"] & np.array([PROVIDERS[p].sends_fbl for p in range(N_PROVIDERS)])[prov]
        complaints = pa.table({
            "event_id": np.char.add(mid[c].astype(str), "-fbl").astype(object), "message_id": mid[c],
            "subscriber_id": sub_ids[c], "recipient": self._emails(sub[c], rcpt_domain[c]),
            "event_ts": _ts(e["complaint_ts"][c]), "provider": provider_names[prov[c]],
            "feedback_type": np.full(int(c.sum()), "abuse", dtype=object), "sending_domain": sending_domain[c],
            "sending_ip": ip_name[c], "source": np.full(int(c.sum()), "simulator", dtype=object),
        })
        engagement = self._engagement_table(m, e, mid, sub_ids, campaign_id)
        return {"sends": sends, "outcomes": outcomes, "complaints": complaints, "engagement": engagement}

    def _outcome_table(self, rng, d, m, fate, e, mid, sub_ids, rcpt_domain, sending_domain, ip_name, provider_names):
        n = mid.size
        cls = fate["cls"]
        prov = m["provider"]
        catalog = reply_catalog()
        latency = provider_array("reply_latency_ms")[prov] * rng.lognormal(0.0, 0.35, n) * (1 + fate["pressure"])
        rows: dict[str, list[np.ndarray]] = {k: [] for k in (
            "i", "attempt", "ts", "status", "kind", "bounce_class", "reason", "placement")}

        def add(mask: np.ndarray, attempt: int, ts: np.ndarray, status: str, kind: np.ndarray | str,
                bounce: str | None, reason: np.ndarray | str | None, placement: np.ndarray | None = None) -> None:
            idx = np.flatnonzero(mask)
            k = idx.size
            rows["i"].append(idx)
            rows["attempt"].append(np.full(k, attempt))
            rows["ts"].append(ts[idx])
            rows["status"].append(np.full(k, status, dtype=object))
            rows["kind"].append(kind[idx] if isinstance(kind, np.ndarray) else np.full(k, kind, dtype=object))
            rows["bounce_class"].append(np.full(k, bounce, dtype=object))
            rows["reason"].append(reason[idx] if isinstance(reason, np.ndarray) else np.full(k, reason, dtype=object))
            rows["placement"].append(placement[idx] if placement is not None else np.full(k, None, dtype=object))

        t0 = m["ts"] + (latency * 1000).astype(np.int64)
        retry_ts = m["ts"] + e["delay_us"]
        deferred = fate["deferred_first"]
        pressure_kind = np.where(fate["rep"] < 45, "reputation", "throttle").astype(object)
        add(deferred, 1, t0, "deferred", pressure_kind, None, np.where(pressure_kind == "reputation", "blocked", "speeding").astype(object))
        later = np.where(deferred, 2, 1)
        ts_final = np.where(deferred, retry_ts + (latency * 1000).astype(np.int64), t0)
        block_kinds = np.array(["auth", "blocklist", "block", "block", "spam_content"], dtype=object)
        block_reason = np.array(["authfailure", "blocked", "blocked", "blocked", "spamdetected"], dtype=object)
        is_block = cls == CLASS_INDEX["block"]
        for att in (1, 2):
            sel = later == att
            add(is_block & sel, att, ts_final, "blocked", block_kinds[fate["block_kind"]], None, block_reason[fate["block_kind"]])
            hard = (cls == CLASS_INDEX["hard_bounce"]) & sel
            inactive = rng.random(n) < 0.15
            add(hard & ~inactive, att, ts_final, "bounced", "user_unknown", "hard", "userunknown")
            add(hard & inactive, att, ts_final, "bounced", "inactive", "hard", "userunknown")
            add((cls == CLASS_INDEX["soft_bounce"]) & fate["soft_full"] & sel, att, ts_final, "bounced", "mailbox_full", "soft", "mailboxfull")
            add((cls == CLASS_INDEX["soft_bounce"]) & ~fate["soft_full"] & sel, att, ts_final, "bounced", "expired", "soft", "expired")
            acc = ((cls == CLASS_INDEX["inbox"]) | (cls == CLASS_INDEX["spam"])) & sel
            observed = panel_members(m["sub"], self.config.seed, self.config.placement_observed_share)
            placement = np.where(observed, np.where(cls == CLASS_INDEX["inbox"], "inbox", "spam"), None).astype(object)
            add(acc, att, ts_final, "accepted", "accepted", None, None, placement)
        i = np.concatenate(rows["i"])
        order = np.lexsort((np.concatenate(rows["attempt"]), i))
        cat = {k: np.concatenate(v)[order] for k, v in rows.items()}
        i = cat["i"]
        kinds = cat["kind"]
        codes = np.zeros(i.size, np.int16)
        enhanced = np.empty(i.size, dtype=object)
        texts = np.empty(i.size, dtype=object)
        pick = rng.random(i.size)
        for p in range(N_PROVIDERS):
            pmask = prov[i] == p
            if not pmask.any():
                continue
            for kind in set(kinds[pmask].tolist()):
                sel = np.flatnonzero(pmask & (kinds == kind))
                if kind == "expired":
                    codes[sel], enhanced[sel] = 451, "4.4.7"
                    texts[sel] = "Message expired: delivery time limit exceeded after repeated deferrals"
                    continue
                options = catalog[PROVIDER_NAMES[p]][kind]
                choice = (pick[sel] * len(options)).astype(int)
                for j, reply in enumerate(options):
                    rs = sel[choice == j]
                    codes[rs] = reply.code
                    enhanced[rs] = reply.enhanced
                    texts[rs] = _fill(reply.text, mid[i[rs]], ip_name[i[rs]], sub_ids[i[rs]], rcpt_domain[i[rs]], sending_domain[i[rs]])
        att = cat["attempt"]
        return pa.table({
            "event_id": [f"{a}-a{b}" for a, b in zip(mid[i].tolist(), att.tolist(), strict=False)],
            "message_id": mid[i], "attempt": att.astype(np.int16), "event_ts": _ts(cat["ts"]),
            "status": cat["status"], "smtp_code": codes, "enhanced_status": enhanced, "reply_text": texts,
            "latency_ms": np.round(latency[i], 1), "bounce_class": cat["bounce_class"], "reason": cat["reason"],
            "placement": cat["placement"], "provider": provider_names[prov[i]],
            "recipient": self._emails(m["sub"][i], rcpt_domain[i]), "subscriber_id": sub_ids[i],
            "sending_domain": sending_domain[i], "sending_ip": ip_name[i],
            "source": np.full(i.size, "simulator", dtype=object),
        })

    def _engagement_table(self, m, e, mid, sub_ids, campaign_id) -> pa.Table:
        pop = self.pop
        sub = m["sub"]
        parts = []
        for mask, ts, etype, machine, suffix in (
            (e["mpp"], e["mpp_ts"], "open", True, "mo"),
            (e["opened"], e["open_ts"], "open", False, "o"),
            (e["clicked"], e["click_ts"], "click", False, "c"),
            (e["converted"], e["conv_ts"], "conversion", False, "v"),
            (e["unsub"], e["unsub_ts"], "unsubscribe", False, "u"),
        ):
            idx = np.flatnonzero(mask)
            parts.append((idx, ts[idx], etype, machine, suffix))
        clients = np.array(CLIENTS, dtype=object)
        devices = np.array(DEVICES, dtype=object)
        cols: dict[str, list] = {k: [] for k in ("event_id", "message_id", "campaign_id", "subscriber_id", "event_ts",
                                                "event_type", "machine_open", "client", "device")}
        for idx, ts, etype, machine, suffix in parts:
            cols["event_id"].append(np.char.add(mid[idx].astype(str), f"-{suffix}").astype(object))
            cols["message_id"].append(mid[idx])
            cols["campaign_id"].append(campaign_id[idx])
            cols["subscriber_id"].append(sub_ids[idx])
            cols["event_ts"].append(ts)
            cols["event_type"].append(np.full(idx.size, etype, dtype=object))
            cols["machine_open"].append(np.full(idx.size, machine))
            cols["client"].append(clients[pop.client[sub[idx]]])
            cols["device"].append(np.where(machine, "unknown", devices[pop.device[sub[idx]]]).astype(object))
        out = {k: np.concatenate(v) for k, v in cols.items()}
        order = np.argsort(out["event_ts"], kind="stable")
        out = {k: v[order] for k, v in out.items()}
        out["event_ts"] = _ts(out["event_ts"])
        return pa.table(out)

    def _truth_tables(self, d: int, m, fate, e) -> dict[str, pa.Table]:
        mid = m["message_id"]
        mat = fate["matrix"]
        messages = pa.table({
            "message_id": mid,
            **{f"p_{c}": mat[:, j].astype(np.float32) for j, c in enumerate(dyn.CLASS_NAMES)},
            **{f"seen_p_{c}": fate["seen_matrix"][:, j].astype(np.float32) for j, c in enumerate(dyn.CLASS_NAMES)},
            **{f"{STANDING_BLIND_PREFIX}{c}": fate["standing_blind_matrix"][:, j].astype(np.float32)
               for j, c in enumerate(dyn.CLASS_NAMES)},
            "true_class": np.array(dyn.CLASS_NAMES, dtype=object)[fate["cls"]],
            "spam_trap": fate["trap"], "complained": e["complained"], "human_open": e["opened"],
            "p_open": e["p_open"].astype(np.float32), "p_open_inbox": e["p_open_inbox"].astype(np.float32),
            "p_click_if_opened": e["p_click"].astype(np.float32), "clicked": e["clicked"],
            "seen_p_open_if_accepted": _open_if_accepted(fate["seen_matrix"], e["p_open_inbox"], self.pop.trap[m["sub"]]),
            "org_id": np.array([s.org_id for s in self.senders], dtype=object)[m["sender"]],
            "provider": np.array(PROVIDER_NAMES, dtype=object)[m["provider"]],
            "pressure": fate["pressure"].astype(np.float32),
            "hourly_limit": fate["limit"].astype(np.float32), "reputation": fate["rep"].astype(np.float32),
            "content_spamminess": fate["spam"].astype(np.float32), "content_quality": fate["quality"].astype(np.float32),
            "subscriber_engagement": fate["engagement"].astype(np.float32),
        })
        n_ips = len(self.ip_names)
        limit_scale, _, _ = self._scales(d)
        ipi = np.repeat(np.arange(n_ips), N_PROVIDERS)
        pi = np.tile(np.arange(N_PROVIDERS), n_ips)
        rep = 0.5 * self.ip_reputation[ipi, pi] + 0.5 * self.domain_reputation[self.ip_sender[ipi], pi]
        state = pa.table({
            "day": pa.array([self.config.start + timedelta(days=d)] * (n_ips * N_PROVIDERS), type=pa.date32()),
            "sending_ip": np.array(self.ip_names, dtype=object)[ipi],
            "sending_domain": np.array([self.senders[k].sending_domain for k in self.ip_sender[ipi]], dtype=object),
            "provider": np.array(PROVIDER_NAMES, dtype=object)[pi],
            "ip_reputation": self.ip_reputation[ipi, pi], "domain_reputation": self.domain_reputation[self.ip_sender[ipi], pi],
            "hourly_limit": dyn.hourly_limit(pi, rep, self.warm_capacity[ipi, pi], limit_scale[pi]),
            "warm_capacity_per_day": self.warm_capacity[ipi, pi],
            "blocklisted": self.blocklisted_until[ipi] >= d + 1,
        })
        return {"messages": messages, "provider_state": state}

    # ---- helpers ------------------------------------------------------------------------
    def _email_domain(self, code: int) -> str | None:
        p, k = divmod(code, 8)
        doms = PROVIDERS[p].domains
        return doms[k] if k < len(doms) else None

    def _emails(self, sub: np.ndarray, domain: np.ndarray) -> np.ndarray:
        return np.array([f"u{s:08d}@{dm}" for s, dm in zip(sub.tolist(), domain.tolist(), strict=False)], dtype=object)

    # ---- dimensions and the whole-run truth -----------------------------------------------
    def dimension_tables(self) -> dict[str, pa.Table]:
        pop = self.pop
        idx = np.arange(pop.size)
        domains = np.array([self._email_domain(i) for i in range(N_PROVIDERS * 8)], dtype=object)
        dom = domains[pop.provider[idx].astype(int) * 8 + pop.domain[idx]]
        start_us = _epoch_us(self.config.start)
        subs = pa.table({
            "subscriber_id": np.array(_ids("s", idx, 8), dtype=object),
            "org_id": np.array([s.org_id for s in self.senders], dtype=object)[pop.sender[idx]],
            "email": self._emails(idx, dom), "email_domain": dom,
            "provider": np.array(PROVIDER_NAMES, dtype=object)[pop.provider[idx]],
            "domain_category": np.array([p.category for p in PROVIDERS], dtype=object)[pop.provider[idx]],
            "timezone_offset_hours": pop.tz[idx],
            "signup_ts": _ts(start_us + pop.signup_day[idx].astype(np.int64) * US_PER_DAY + 9 * 3600 * US_PER_S),
            "acquisition_source": np.array(ACQUISITION, dtype=object)[pop.acquisition[idx]],
            "client": np.array(CLIENTS, dtype=object)[pop.client[idx]],
            "device": np.array(DEVICES, dtype=object)[pop.device[idx]],
        })
        senders = pa.table({
            "org_id": [s.org_id for s in self.senders], "sending_domain": [s.sending_domain for s in self.senders],
            "domain_created_ts": _ts(np.array([start_us - s.domain_age_days * US_PER_DAY for s in self.senders])),
            "spf": [s.spf_or_dkim for s in self.senders], "dkim": [s.spf_or_dkim for s in self.senders],
            "dmarc": [s.dmarc for s in self.senders], "one_click_unsubscribe": [s.one_click_unsubscribe for s in self.senders],
        })
        ips = pa.table({
            "sending_ip": self.ip_names, "org_id": [self.senders[k].org_id for k in self.ip_sender],
            "sending_domain": [self.senders[k].sending_domain for k in self.ip_sender],
            "first_used_ts": _ts(np.where(self.ip_cold, start_us, start_us - 400 * US_PER_DAY)),
        })
        camp = self.campaign_rows
        campaigns = pa.table({
            "campaign_id": [c["campaign_id"] for c in camp], "org_id": [c["org_id"] for c in camp],
            "content_id": [c["content_id"] for c in camp], "campaign_type": [c["campaign_type"] for c in camp],
            "scheduled_ts": _ts(np.array([c["scheduled_ts"] for c in camp], dtype=np.int64)),
            "send_rate_per_min": [c["send_rate_per_min"] for c in camp], "audience_size": [c["audience_size"] for c in camp],
        })
        contents = pa.table({
            "content_id": [c.content_id for c in self.contents],
            "org_id": [c.content_id.split("-ct")[0] for c in self.contents],
            "subject": [c.subject for c in self.contents], "preheader": [c.preheader for c in self.contents],
            "body_text": [c.body_text for c in self.contents],
            "link_count": pa.array([c.link_count for c in self.contents], pa.int32()),
            "image_count": pa.array([c.image_count for c in self.contents], pa.int32()),
            "has_unsubscribe_link": [c.has_unsubscribe_link for c in self.contents],
            "has_list_unsubscribe_header": [c.has_list_unsubscribe_header for c in self.contents],
            "personalization_level": [c.personalization_level for c in self.contents],
            "spam_risk": pa.array([c.spam_risk for c in self.contents], pa.float64()),
        })
        return {"subscribers": subs, "senders": senders, "ips": ips, "campaigns": campaigns, "contents": contents}

    def subscriber_truth(self) -> pa.Table:
        """Each subscriber's true open probability for a send at each UTC hour (given an average
        campaign landing in the inbox), plus the hidden traits models must infer."""
        pop = self.pop
        idx = np.arange(pop.size)
        curve = pop.curve[idx]
        utc_hours = np.arange(24)
        local = (utc_hours[None, :] + pop.tz[idx, None]) % 24
        fresh = np.log(24.0 * np.take_along_axis(curve, local.astype(int), axis=1) + 0.3)
        p_open = dyn.sigmoid(pop.engagement_logit[idx, None] + 0.45 * fresh)
        return pa.table({
            "subscriber_id": np.array(_ids("s", idx, 8), dtype=object),
            "open_prob_by_utc_hour": pa.FixedSizeListArray.from_arrays(pa.array(p_open.astype(np.float32).ravel()), 24),
            "best_utc_hour": p_open.argmax(axis=1).astype(np.int8),
            "engagement_propensity": dyn.sigmoid(pop.engagement_logit[idx]).astype(np.float32),
            "invalid_from_day": np.where(pop.invalid_from[idx] == NEVER, -1, pop.invalid_from[idx]).astype(np.int32),
            "spam_trap": pop.trap[idx], "complainer": pop.complainer[idx],
            "unsubscribed": pop.unsubscribed[idx], "complained": pop.complained[idx],
        })

    def provider_truth(self) -> pa.Table:
        return pa.table({
            "provider": list(PROVIDER_NAMES),
            **{attr: provider_array(attr) for attr in (
                "base_limit_per_hour", "block_ratio", "block_reputation", "cold_capacity_per_day", "warm_growth",
                "inbox_intercept", "content_strictness", "complaint_soft_limit", "complaint_hard_limit")},
        })


def _fill(template: str, mid, ip, sub_ids, rcpt_domain, sending_domain) -> np.ndarray:
    """Put message-specific values into a reply template (only the placeholders it uses)."""
    needs = [k for k in ("{qid}", "{ip}", "{rcpt}", "{domain}") if k in template]
    if not needs:
        return np.full(len(mid), template, dtype=object)
    out = []
    for q, i, s, rd, sd in zip(mid.tolist(), ip.tolist(), sub_ids.tolist(), rcpt_domain.tolist(), sending_domain.tolist(), strict=False):
        t = template
        if "{qid}" in t:
            t = t.replace("{qid}", hashlib.blake2s(q.encode(), digest_size=6).hexdigest())
        if "{ip}" in t:
            t = t.replace("{ip}", i)
        if "{rcpt}" in t:
            t = t.replace("{rcpt}", f"u{int(s[1:]):08d}@{rd}")
        if "{domain}" in t:
            t = t.replace("{domain}", sd)
        out.append(t)
    return np.array(out, dtype=object)


def panel_members(subscribers: np.ndarray, seed: int, share: float) -> np.ndarray:
    """Which subscribers' placements the sender sees: a fixed `share` of the list, as a seed-list and
    panel provider's members are the same people every day (a hash of the subscriber and the world's
    seed, so membership draws no random number and never changes)."""
    if share >= 1.0:
        return np.ones(len(subscribers), dtype=bool)
    x = subscribers.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed & 0xFFFFFFFF)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53) < share


def write_day(result: DayResult, lake: EventsLake, truth_dir: Path, end_us: int | None = None) -> dict[str, int]:
    """Write one simulated day's events into the lake (partitioned by event day; events after
    `end_us`, e.g. opens after the world's last day, are dropped) and its truth tables."""
    gen = result.day.isoformat()
    written: dict[str, int] = {}
    for kind, table in result.events.items():
        ts = table.column("send_ts" if kind == "sends" else "event_ts").cast(pa.int64()).to_numpy()
        keep = ts < end_us if end_us is not None else np.ones(ts.size, bool)
        days = (ts // US_PER_DAY).astype("datetime64[D]")
        for day in np.unique(days[keep]):
            part = table.filter(pa.array(keep & (days == day)))
            lake.write_partition(kind, day.astype(date), part, part=f"sim-{gen}")
        written[kind] = int(keep.sum())
    for name, table in result.truth.items():
        write_parquet_atomic(table, truth_dir / name / f"date={gen}" / "part-0.parquet")
    return written


def write_dimensions(world: World, lake: EventsLake, truth_dir: Path) -> None:
    """The dimension tables (subscribers, senders, IPs, campaigns, contents) and the hidden traits."""
    for kind, table in world.dimension_tables().items():
        lake.write_dimension(kind, table)
    write_parquet_atomic(world.subscriber_truth(), truth_dir / "subscribers.parquet")
    write_parquet_atomic(world.provider_truth(), truth_dir / "providers.parquet")


def _open_if_accepted(seen_matrix: np.ndarray, p_open_inbox: np.ndarray, trap: np.ndarray) -> np.ndarray:
    """The records oracle's chance that a person opens an accepted message: where it lands is known
    only as the oracle's odds of inbox against spam folder; a spam trap never opens."""
    inbox, spam = seen_matrix[:, CLASS_INDEX["inbox"]], seen_matrix[:, CLASS_INDEX["spam"]]
    placed = inbox + spam
    share = np.divide(inbox, placed, out=np.ones_like(placed), where=placed > 0)
    reach = share + SPAM_FOLDER_OPEN_FACTOR * (1.0 - share)
    return np.where(trap, 0.0, reach * p_open_inbox).astype(np.float32)


def _rewritten(written: Content, sent: Content | None) -> bool:
    """Whether the gate changed the text (a score recorded on the content is not a rewrite)."""
    return sent is not None and (sent.subject, sent.preheader, sent.body_text) != (
        written.subject, written.preheader, written.body_text)


def simulate(config: WorldConfig, out: str | Path, progress: bool = True, content_gate: ContentGate | None = None) -> dict:
    """Generate `config.days` days into `out/lake` (events) and `out/truth` (what models never see);
    `content_gate` is the senders' pre-send check of each campaign's content, when they run one."""
    from rich.progress import Progress

    out = Path(out)
    lake = EventsLake(out / "lake")
    truth_dir = out / "truth"
    world = World(config)
    end_us = _epoch_us(config.start + timedelta(days=config.days))
    totals: dict[str, int] = {}
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"simulating {config.days} days", total=config.days)
        for _ in range(config.days):
            result = world.step_day(content_gate=content_gate)
            for kind, n in write_day(result, lake, truth_dir, end_us).items():
                totals[kind] = totals.get(kind, 0) + n
            bar.advance(task)
    write_dimensions(world, lake, truth_dir)
    return {"lake": str(lake.root), "truth": str(truth_dir), "events": totals, "subscribers": world.pop.size}
