"""MDL-008 on the deployment's own logs (its `observe` for the monitoring DAG).

- Inputs: every recipient domain's daily answer profile (days with at least MIN_MESSAGES of the
  sender's messages) over the judged window, beside the same over the REFERENCE_DAYS before it;
  outputs: each profile's distance to its group and to the next.
- Groups: each domain's group over the judged days beside its group over the days before (the
  deployment against itself: how far a profile lies from its group depends on the sender's volume
  and list, so no training-time distance can say whether this deployment's domains "fit").
- Its own verdict: the providers whose answers moved (the change test of the served model, each
  provider against its own reference days), for a person to look at — not a reason to retrain.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from adaptive_delivery.delivery.models.mdl008_isp_behaviour import model as mm
from adaptive_delivery.delivery.models.mdl008_isp_behaviour.profile import (
    OUTCOME_COLUMNS,
    PROFILE_FEATURES,
    DailyLog,
    daily_log,
)
from adaptive_delivery.platform.monitoring.logs import Observed

REFERENCE_DAYS = 14
MIN_MESSAGES = 50  # a domain-day with fewer says little about the domain
# a domain's profile over several days is compared between periods only with this much mail on
# each side (a profile's distance from its group grows as its volume falls: fewer messages, more noise)
PERIOD_MIN_MESSAGES = 500
# the newest day's opens are still arriving when the check runs: its profiles are left out
OPEN_LAG_DAYS = 1
OUTPUTS = ["distance", "next_distance"]


def read_logs(lake_root: str | Path, first: date, last: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lake's outcomes (OUTCOME_COLUMNS) and human opens of days [first, last]."""
    from adaptive_delivery.delivery.knowledge.learn import read_lake

    return read_lake(lake_root, [first + timedelta(days=i) for i in range((last - first).days + 1)],
                     list(OUTCOME_COLUMNS))


def daily_profiles(log: DailyLog, first_day: int, end_day: int) -> pd.DataFrame:
    """One row per domain and day in [first_day, end_day) with at least MIN_MESSAGES messages."""
    parts = [log.profiles(d, d + 1, MIN_MESSAGES).reset_index().assign(day=d) for d in range(max(first_day, 0), end_day)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["unit", "messages", *PROFILE_FEATURES])


def group_switches(model: mm.ClusterModel, log: DailyLog, cut: int) -> dict[str, dict[str, str]]:
    """Domains whose group over the judged days differs from their group over the days before
    (each with enough mail on both sides): what a person reads beside the change test's flags."""
    before, after = (log.profiles(0, cut, PERIOD_MIN_MESSAGES), log.profiles(cut, log.days, PERIOD_MIN_MESSAGES))
    both = before.index.intersection(after.index)
    if not len(both):
        return {}
    was, now = model.assign(before.loc[both])["cluster_name"], model.assign(after.loc[both])["cluster_name"]
    return {str(u): {"from": str(was[u]), "to": str(now[u])} for u in both if was[u] != now[u]}


def moved_providers(model: mm.ClusterModel, outcomes: pd.DataFrame, opens: pd.DataFrame, origin: pd.Timestamp,
                    cut: int) -> tuple[dict[str, float], list[str]]:
    """Providers the change test flags after day `cut` (days after it), and the alert naming them."""
    log = daily_log(outcomes, "provider", start=origin, opened=opens["message_id"].to_numpy())
    if cut < model.window_days + 1 or log.days - cut < model.window_days:
        return {}, []
    flags = mm.change_flags(model, log, cut).dropna()
    moved = {str(u): float(d) for u, d in zip(flags["unit"], flags["days_after"], strict=True)}
    if not moved:
        return {}, []
    words = ", ".join(f"{u} ({d:.0f} days in)" for u, d in sorted(moved.items()))
    return moved, [f"answers moved at {words}: see the knowledge base's behaviour_change"]


def observe(lake_root: str | Path, model_file: Path, start: datetime, end: datetime) -> Observed:
    """The champion on the deployment's logs of [start, end) beside the REFERENCE_DAYS before."""
    model = mm.ClusterModel.load(model_file)
    start_ts, end_ts = (pd.Timestamp(x).tz_convert("UTC") if pd.Timestamp(x).tzinfo else pd.Timestamp(x, tz="UTC")
                        for x in (start, end))
    origin = (start_ts - pd.Timedelta(days=REFERENCE_DAYS)).floor("D")
    outcomes, opens = read_logs(lake_root, origin.date(), (end_ts - pd.Timedelta(microseconds=1)).date())
    outcomes = outcomes[pd.to_datetime(outcomes["event_ts"], utc=True) < end_ts]
    if outcomes.empty:
        empty = pd.DataFrame(columns=list(PROFILE_FEATURES))
        return Observed(empty, empty, pd.DataFrame(), pd.DataFrame(), alerts=["the lake holds no outcomes in the window"])
    log = daily_log(outcomes, "domain", start=origin, opened=opens["message_id"].to_numpy())
    cut = int((start_ts.floor("D") - origin) / pd.Timedelta(days=1))
    reference = daily_profiles(log, 0, cut)
    current = daily_profiles(log, cut, max(log.days - OPEN_LAG_DAYS, cut + 1))
    details: dict = {"group_switches": group_switches(model, log, cut)} if cut > 0 else {}
    moved, moved_alerts = moved_providers(model, outcomes, opens, origin, cut)

    def outputs(frame: pd.DataFrame) -> pd.DataFrame:
        return model.assign(frame)[OUTPUTS].reset_index(drop=True) if len(frame) else pd.DataFrame(columns=OUTPUTS)

    groups = model.assign(log.profiles(cut, log.days, MIN_MESSAGES)) if log.days > cut else pd.DataFrame()
    details.update(moved_providers=moved, domain_groups={str(u): str(n) for u, n in groups.get("cluster_name", {}).items()},
                   domain_days=int(len(current)))
    return Observed(reference[list(PROFILE_FEATURES)].astype(float), current[list(PROFILE_FEATURES)].astype(float),
                    outputs(reference), outputs(current), alerts=moved_alerts,
                    details=details)
