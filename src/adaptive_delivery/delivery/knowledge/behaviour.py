"""MDL-008's verdict as knowledge: the group of providers each one answers like, and whether its
answers moved in the last days (the change test of the champion model against the weeks before).
The knowledge DAG records them daily beside what the replies themselves taught."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.knowledge.store import Fact
from adaptive_delivery.delivery.models.mdl008_isp_behaviour import model as mm
from adaptive_delivery.delivery.models.mdl008_isp_behaviour.profile import daily_log

RECENT_DAYS = 7  # the days judged; the days before them are the reference
REFERENCE_DAYS = 14


def behaviour_facts(model: mm.ClusterModel, outcomes: pd.DataFrame, opens: pd.DataFrame, now: datetime,
                    version: str | None = None) -> dict[str, dict[str, Fact]]:
    """Per provider in `outcomes` (the last REFERENCE_DAYS + RECENT_DAYS days, or fewer):
    `behaviour_group` (its cluster over the window) and `behaviour_change` (whether the change test
    flagged it in the last RECENT_DAYS, and after how many days)."""
    log = daily_log(outcomes, "provider", opened=opens["message_id"].to_numpy())
    groups = model.assign(log.profiles())
    cut = log.days - RECENT_DAYS
    flags = (mm.change_flags(model, log, cut).set_index("unit")["days_after"] if cut >= model.window_days + 1
             else pd.Series(dtype=float))
    base = {"model_version": version, "window_days": model.window_days, "threshold": model.change_threshold}
    out: dict[str, dict[str, Fact]] = {}
    for provider, g in groups.iterrows():
        facts = {"behaviour_group": Fact({"cluster": int(g["cluster"]), "name": g["cluster_name"]},
                                         {**base, "distance": round(float(g["distance"]), 3),
                                          "next_distance": round(float(g["next_distance"]), 3), "days": log.days}, now)}
        if cut >= model.window_days + 1:
            days = flags.get(provider, np.nan)
            facts["behaviour_change"] = Fact(
                {"flagged": bool(np.isfinite(days)), "days_after_reference": None if not np.isfinite(days) else float(days)},
                {**base, "reference_days": cut, "judged_days": RECENT_DAYS}, now)
        out[str(provider)] = facts
    return out


def champion(tracking_uri: str, dest) -> tuple[mm.ClusterModel, str] | None:
    """MDL-008's champion from the deployment's registry (its clusters file copied under `dest`)
    and its version; None before the first champion."""
    from adaptive_delivery.delivery.models.mdl008_isp_behaviour.spec import SPEC
    from adaptive_delivery.platform.training.policies import served_file
    from adaptive_delivery.platform.training.registry import CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.tracking import Tracking

    client = Tracking(tracking_uri).client()
    version, _ = alias_metrics(client, SPEC, CHAMPION)
    if version is None:
        return None
    return mm.ClusterModel.load(served_file(tracking_uri, SPEC, version, dest)), version
