"""The twin's side of MDL-004: worlds whose senders range from careful to reckless, run day by day,
with what each sender can observe of its own mail (its MTA's log, feedback-loop complaints, opens,
the providers' reputation feeds, the public blocklists) kept apart from what only the referee may
read (the hidden reputations).

A world's senders are drawn from its seed: how sloppy each one's list is (dead addresses and spam
traps), how spammy its content, whether it keeps mailing addresses that bounced, and whether it
imports a bought list part-way through (`SenderConfig.import_day`) — the event that turns a healthy
sender into a listed one within days. Imported only by training and evaluation: nothing served
reads the twin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.features.definitions import human_opens
from adaptive_delivery.delivery.feeds import POSTMASTER_TOOLS, SNDS

WORLD_SUBSCRIBERS = 40_000
SENDERS_PER_WORLD = 6
ORGS = ("acme", "bolt", "cirrus", "delta", "ember", "fjord", "gale", "harbor")
SEND_COLUMNS = ["message_id", "sending_ip", "sending_domain", "provider", "send_ts"]
OUTCOME_COLUMNS = ["message_id", "attempt", "event_ts", "status", "bounce_class", "reason"]


def sample_senders(seed: int, n: int = SENDERS_PER_WORLD) -> tuple:
    """`n` senders drawn from the seed: most keep a decent list, some are sloppy, a few import a
    bought list part-way through the run."""
    from adaptive_delivery.twin.config import SenderConfig

    rng = np.random.default_rng([seed, 4004])
    senders = []
    for k in range(n):
        sloppy = float(rng.beta(1.1, 2.0))  # 0 careful … 1 reckless
        imports = rng.random() < 0.5
        senders.append(SenderConfig(
            ORGS[k % len(ORGS)], f"mail.{ORGS[k % len(ORGS)]}{k}.example", float(rng.uniform(0.08, 0.3)),
            n_ips=int(rng.integers(1, 4)), ip_prefix=f"198.18.{k}",
            spamminess=float(np.clip(0.12 + 0.4 * sloppy + rng.normal(0, 0.06), 0.02, 0.95)),
            quality=float(np.clip(0.65 - 0.3 * sloppy + rng.normal(0, 0.06), 0.05, 0.95)),
            initial_invalid_share=float(0.01 + 0.08 * sloppy * rng.uniform(0.5, 1.5)),
            signup_invalid_share=float(0.05 + 0.2 * sloppy),
            trap_share=float(1e-4 * 50.0 ** sloppy),
            suppress_after_hard_bounces=int(rng.choice([1, 3, 0], p=[0.6 * (1 - sloppy) + 0.1, 0.3, 0.6 - 0.6 * (1 - sloppy)])),
            one_click_unsubscribe=bool(rng.random() > 0.4 * sloppy),
            dmarc=bool(rng.random() > 0.1),
            campaigns_per_day=float(rng.choice([0.5, 1.0, 1.0, 2.0])),
            audience_share=float(rng.uniform(0.4, 0.9)),
            send_hour_utc=int(rng.integers(11, 21)),
            send_rate_per_min=float(np.exp(rng.uniform(np.log(300), np.log(3_000)))),
            import_day=int(rng.integers(6, 21)) if imports else None,
            import_size=float(rng.uniform(0.3, 1.5)) if imports else 0.0,
            import_invalid_share=float(rng.uniform(0.08, 0.35)),
            import_trap_share=float(10 ** rng.uniform(-3.0, -2.0)),
        ))
    return tuple(senders)


@dataclass
class WorldRun:
    """One world's run: the sender-side events, and per day the public blocklists, the feeds and
    (for the referee only) the hidden reputations."""

    start: pd.Timestamp
    days: int
    ips: pd.DataFrame  # sending_ip, sending_domain
    sends: pd.DataFrame
    outcomes: pd.DataFrame
    complaints: pd.DataFrame  # message_id, event_ts
    opens: pd.DataFrame  # message_id, event_ts (people, not machines)
    # per (sending_ip, day): listed (a DNSBL lookup during that day says so), snds and postmaster
    # (the readings the feeds publish that day, coded 0-4) — what a sender can look up
    public: pd.DataFrame
    # per (sending_ip, day): the hidden reputation the IP's mail met that day (volume-weighted over
    # providers) and its domain's — the referee's
    hidden: pd.DataFrame
    meta: dict = field(default_factory=dict)


def run_world(seed: int, days: int, subscribers: int = WORLD_SUBSCRIBERS) -> WorldRun:
    """Run a sampled world for `days` days."""
    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.feeds import published_code
    from adaptive_delivery.twin.providers import PROVIDER_INDEX
    from adaptive_delivery.twin.simulator import World

    config = WorldConfig(subscribers=subscribers, days=days, seed=seed, senders=sample_senders(seed))
    world = World(config)
    n_ips = len(world.ip_names)
    gmail, outlook = PROVIDER_INDEX["gmail"], PROVIDER_INDEX["outlook"]
    sends, outcomes, complaints, engagement, public, hidden = [], [], [], [], [], []
    # the reputations each feed will publish, by the day they describe: (ip, day) -> code
    postmaster_by_day: dict[int, np.ndarray] = {}
    snds_by_day: dict[int, np.ndarray] = {}
    listed_today = np.zeros(n_ips, bool)
    ip_index = {ip: i for i, ip in enumerate(world.ip_names)}
    for d in range(days):
        result = world.step_day()
        ev = result.events
        volume = np.zeros((n_ips, world.ip_reputation.shape[1]))
        if ev:
            sends.append(ev["sends"].select(SEND_COLUMNS).to_pandas())
            outcomes.append(ev["outcomes"].select(OUTCOME_COLUMNS).to_pandas())
            complaints.append(ev["complaints"].select(["message_id", "event_ts"]).to_pandas())
            engagement.append(ev["engagement"].select(["message_id", "event_ts", "event_type", "machine_open"]).to_pandas())
            msgs = sends[-1]
            np.add.at(volume, (msgs["sending_ip"].map(ip_index).to_numpy(), msgs["provider"].map(PROVIDER_INDEX).to_numpy()), 1)
        combined = 0.5 * world.ip_reputation + 0.5 * world.domain_reputation[world.ip_sender]
        weights = np.where(volume.sum(axis=1, keepdims=True) > 0, volume, 1.0)
        domain_rep = world.domain_reputation[world.ip_sender]
        postmaster_by_day[d] = np.array([published_code(POSTMASTER_TOOLS, r) if v >= POSTMASTER_TOOLS.min_daily_volume
                                         else 0 for r, v in zip(domain_rep[:, gmail], volume[:, gmail], strict=True)])
        snds_by_day[d] = np.array([published_code(SNDS, r) if v >= SNDS.min_daily_volume else 0
                                   for r, v in zip(world.ip_reputation[:, outlook], volume[:, outlook], strict=True)])
        public.append(pd.DataFrame({
            "sending_ip": world.ip_names, "day": d, "listed": listed_today,
            "postmaster": postmaster_by_day.get(d - POSTMASTER_TOOLS.delay_days, np.zeros(n_ips, int)),
            "snds": snds_by_day.get(d - SNDS.delay_days, np.zeros(n_ips, int))}))
        hidden.append(pd.DataFrame({
            "sending_ip": world.ip_names, "day": d, "sent": volume.sum(axis=1),
            "reputation": np.average(combined, axis=1, weights=weights),
            "domain_reputation": np.average(domain_rep, axis=1, weights=weights)}))
        # what a DNSBL lookup answers tomorrow
        listed_today = world.blocklisted_until >= d + 1
    public.append(pd.DataFrame({"sending_ip": world.ip_names, "day": days, "listed": listed_today,
                                "postmaster": 0, "snds": 0}))  # the lookup the morning after the run
    opens = human_opens(pd.concat(engagement, ignore_index=True))
    domains = [world.senders[k].sending_domain for k in world.ip_sender]
    return WorldRun(
        start=pd.Timestamp(config.start, tz="UTC"), days=days,
        ips=pd.DataFrame({"sending_ip": world.ip_names, "sending_domain": domains}),
        sends=pd.concat(sends, ignore_index=True), outcomes=pd.concat(outcomes, ignore_index=True),
        complaints=pd.concat(complaints, ignore_index=True), opens=opens[["message_id", "event_ts"]],
        public=pd.concat(public, ignore_index=True), hidden=pd.concat(hidden, ignore_index=True),
        meta={"seed": seed, "days": days, "subscribers": subscribers,
              "importers": [s.org_id for s in world.senders if s.import_day is not None]})
