"""MDL-004 on the deployment's own logs (its `observe` for the monitoring DAG): every sending IP's
and domain's signals, hour by hour, over the judged window and over the week before it, computed
from the delivery lake exactly as training computes them from a twin world's log; where the
window's block events are already known (a unit-hour's next 24 hours are in the lake), the ROC-AUC
of P(block event) beside the tuned heuristic's on the same hours; and, for the drift tests, each
unit's midnight snapshots and the champion's risks on them (its hours overlap in what they read).

The lake holds the sender's MTA log, feedback loops and tracking, not its blocklist lookups or the
providers' feeds: here those signals read as a sender without them would send them (not listed, no
reading), so listings are not judged from the lake and their signals take no part in the drift.
Only snapshots with a whole week of the lake behind them are read: the lake's first week would
look like a sender starting from nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.models.mdl004_domain_reputation import model as rm
from adaptive_delivery.delivery.models.mdl004_domain_reputation import signals as sg
from adaptive_delivery.delivery.models.mdl004_domain_reputation.scoring import read_logs, unit_hours
from adaptive_delivery.delivery.models.mdl004_domain_reputation.training import (
    event_aucs,
    heuristic_risk,
)
from adaptive_delivery.platform.monitoring.logs import Observed

REFERENCE = pd.Timedelta(days=7)  # the deployment's recent normal: the week before the window
HISTORY = pd.Timedelta(hours=sg.WEEK_H)  # a snapshot reads the week before it
MIN_EVENTS = 5  # block events (and as many quiet unit-hours) before an AUC is judged
# signals the lake cannot give (lookups and feeds): left out of the drift checks
NOT_IN_LAKE = ("listed_now", "log_hours_since_listed", "listings_30d", "postmaster", "snds")


def window_metrics(model: rm.ReputationModel, rows: pd.DataFrame) -> tuple[dict[str, float], int, list[str]]:
    """(ROC-AUC of block events for the model and the heuristic, the known unit-hours, alerts) on
    the rows whose next 24 hours the lake already holds."""
    known = rows[rows["block_event"].notna()]
    events = int(known["block_event"].sum())
    if events < MIN_EVENTS or len(known) - events < MIN_EVENTS:
        return {}, len(known), [f"{events} block event(s) in {len(known)} known unit-hours (< {MIN_EVENTS}): "
                                "P(block event) not judged on the logs"]
    model_auc = event_aucs(known, model.probabilities(known)["p_block_event"].to_numpy())["block_event"]
    rule_auc = event_aucs(known, heuristic_risk(known))["block_event"]
    alerts = []
    if rule_auc > model_auc:
        alerts.append(f"the heuristic ranks this window's block events better than the model "
                      f"(ROC-AUC {rule_auc:.3f} vs {model_auc:.3f})")
    return {"block_event_auc_model": model_auc, "block_event_auc_heuristic": rule_auc}, len(known), alerts


def observe(lake_root: str | Path, model_file: Path, start: datetime, end: datetime) -> Observed:
    """The champion on the deployment's logs of [start, end) beside the week before."""
    model = rm.ReputationModel.load(model_file)
    start_ts, end_ts = (pd.Timestamp(x).tz_convert("UTC") if pd.Timestamp(x).tzinfo else pd.Timestamp(x, tz="UTC")
                        for x in (start, end))
    origin = (start_ts - REFERENCE - HISTORY).floor("D")
    logs = read_logs(lake_root, origin.date(), (end_ts + pd.Timedelta(hours=sg.HORIZON_H)).date())
    if logs["sends"].empty:
        empty = pd.DataFrame(columns=list(sg.FEATURES))
        return Observed(empty, empty, pd.DataFrame(), pd.DataFrame(), alerts=["the lake holds no sends in the window"])
    last_event = pd.to_datetime(logs["outcomes"]["event_ts"], utc=True).max() if len(logs["outcomes"]) else start_ts
    stop = min(end_ts + pd.Timedelta(hours=sg.HORIZON_H), last_event.floor("h") + sg.HOUR)
    rows = unit_hours(logs, origin, max(int((stop - origin) / sg.HOUR), 1))
    # a snapshot whose week began before the lake did reads a week it does not hold
    rows = rows[rows["ts"] >= pd.to_datetime(logs["sends"]["send_ts"], utc=True).min().floor("h") + HISTORY]
    current = rows[(rows["ts"] >= start_ts) & (rows["ts"] < end_ts)].reset_index(drop=True)
    reference = rows[(rows["ts"] >= start_ts - REFERENCE) & (rows["ts"] < start_ts)].reset_index(drop=True)
    checked = [f for f in sg.FEATURES if f not in NOT_IN_LAKE]
    metrics, labelled, alerts = window_metrics(model, current)

    def outputs(frame: pd.DataFrame) -> pd.DataFrame:
        return model.probabilities(frame)[["p_block_event"]] if len(frame) else pd.DataFrame(columns=["p_block_event"])

    cur_out = outputs(current)
    alerted = (cur_out["p_block_event"].to_numpy() >= model.alert.get("block_event", 1.0)) if len(current) else np.zeros(0, bool)
    details = {"units": int(current["unit"].nunique()) if len(current) else 0,
               "block_events": int(np.nansum(current["block_event"])) if len(current) else 0,
               "alerting_units": sorted(set(current.loc[alerted, "unit"])) if len(current) else []}
    ref_days, cur_days = daily(reference), daily(current)
    return Observed(ref_days[checked], cur_days[checked], outputs(ref_days), outputs(cur_days), metrics=metrics,
                    labelled=labelled, alerts=alerts, details=details)


def daily(rows: pd.DataFrame) -> pd.DataFrame:
    """One snapshot per unit and day (at midnight UTC): a unit's hours overlap in what they read
    (the same 24-hour and 7-day windows, an hour apart), so the drift tests see its days."""
    return rows[rows["ts"].dt.hour == 0].reset_index(drop=True)
