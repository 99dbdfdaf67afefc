"""MDL-004 over a sender's whole events lake: every sending IP's and domain's signals at every hour,
computed as training computes them from a twin world's log (`signals`), and the champion's scores
on them, published as feature tables other models read (`ModelSpec.scored_features`: MDL-001 reads
each message's sending IP and domain as MDL-004 saw them when it went out).

The lake holds the sender's MTA log, feedback loops and tracking, not its blocklist lookups or the
providers' feeds: those signals read as a sender without them would send them (not listed, no
reading). A row at hour t reads the hours before t only, as every feature table's row does.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from adaptive_delivery.delivery.models.mdl004_domain_reputation import model as rm
from adaptive_delivery.delivery.models.mdl004_domain_reputation import signals as sg
from adaptive_delivery.delivery.models.mdl004_domain_reputation.spec import PUBLISHED, SCORES
from adaptive_delivery.delivery.models.mdl004_domain_reputation.worlds import (
    OUTCOME_COLUMNS,
    SEND_COLUMNS,
)

PUBLIC_COLUMNS = ["sending_ip", "day", "listed", "postmaster", "snds"]
TABLES = PUBLISHED  # the published scores, per table: the entity's join key and what each row carries
KIND_OF_TABLE = {"ip_reputation": "ip", "domain_reputation": "domain"}


def read_logs(lake_root: str | Path, first: date, last: date) -> dict[str, pd.DataFrame]:
    """The lake's sends, final and deferred outcomes, complaints and human opens of days
    [first, last], in the columns `signals.hourly_counts` reads."""
    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.delivery.features.definitions import human_opens

    lake = EventsLake(lake_root)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    engagement = lake.read("engagement", days, columns=["message_id", "event_ts", "event_type", "machine_open"])
    return {"sends": lake.read("sends", days, columns=SEND_COLUMNS).to_pandas(),
            "outcomes": lake.read("outcomes", days, columns=OUTCOME_COLUMNS).to_pandas(),
            "complaints": lake.read("complaints", days, columns=["message_id", "event_ts"]).to_pandas(),
            "opens": human_opens(engagement.to_pandas())[["message_id", "event_ts"]]}


def unit_hours(logs: dict[str, pd.DataFrame], origin: pd.Timestamp, hours: int) -> pd.DataFrame:
    """Every IP's and domain's signals and labels at each hour since `origin` (the row at t reads
    hours < t), units that sent nothing in the week before left out; `ts` is the snapshot's time."""
    sends = logs["sends"]
    ips = sends[["sending_ip", "sending_domain"]].drop_duplicates().reset_index(drop=True)
    public = pd.DataFrame({c: pd.Series(dtype=float if c != "sending_ip" else object) for c in PUBLIC_COLUMNS})
    parts = []
    for kind in sg.UNITS:
        counts = sg.hourly_counts(kind, origin, hours, ips, sends, logs["outcomes"], logs["complaints"],
                                  logs["opens"], public)
        parts.append(sg.snapshot_frame(counts).merge(sg.labels(counts), on=["unit", "t"]).assign(kind=kind))
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows["log_sent_7d"] > 0].reset_index(drop=True)
    return rows.assign(ts=origin + pd.to_timedelta(rows["t"], unit="h"))


def score_lake(lake_root: str | Path, model_file: Path) -> dict[str, pd.DataFrame]:
    """Every unit's scores at every hour the lake covers (units that sent in the week before),
    per published table: the join key, `event_timestamp` and SCORES."""
    from adaptive_delivery.delivery.events.lake import EventsLake

    model = rm.ReputationModel.load(model_file)
    days = sorted(EventsLake(lake_root).partitions("sends"))
    if not days:
        return {}  # nothing sent yet: the features job publishes the tables empty, in their declared types
    logs = read_logs(lake_root, days[0], days[-1] + timedelta(days=1))
    origin = pd.Timestamp(days[0], tz="UTC")
    last = pd.to_datetime(pd.concat([logs["sends"]["send_ts"], logs["outcomes"]["event_ts"]]), utc=True).max()
    rows = unit_hours(logs, origin, int((last.floor("h") + sg.HOUR - origin) / sg.HOUR))
    probs = model.probabilities(rows)
    scored = rows[["unit", "kind", "ts"]].assign(health_score=100.0 * (1.0 - rm.either(probs)).to_numpy(),
                                                 p_block_event=probs["p_block_event"].to_numpy(),
                                                 p_listing=probs["p_listing"].to_numpy())
    out = {}
    for table, (key, _) in TABLES.items():
        part = scored[scored["kind"] == KIND_OF_TABLE[table]]
        out[table] = pd.DataFrame({key: part["unit"].astype(str).to_numpy(), "event_timestamp": part["ts"].to_numpy(),
                                   **{c: part[c].to_numpy(dtype=float) for c in SCORES}})
    return out
