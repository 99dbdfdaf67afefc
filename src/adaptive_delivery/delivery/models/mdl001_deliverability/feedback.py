"""MDL-001 on real outcomes: its logged decisions attributed to what the lake says became of each
message (`platform.feedback`), with the labels its training reads (`model.final_outcomes`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.models.mdl001_deliverability.model import (
    CLASSES,
    PARTIAL_LABELS,
    final_outcomes,
)
from adaptive_delivery.platform import feedback


def message_labels(lake: EventsLake) -> pd.DataFrame:
    """Per message with a final outcome: its class code (as in training) and its provider."""
    if not lake.partitions("outcomes"):
        return pd.DataFrame(columns=["message_id", "label", "provider"])
    outcomes = lake.read("outcomes", columns=["message_id", "event_ts", "status", "bounce_class", "placement",
                                              "provider"]).to_pandas()
    final = final_outcomes(outcomes)
    return final.loc[final["label"] >= 0, ["message_id", "label", "provider"]].reset_index(drop=True)


def report(prediction_log: Path, lake_root: Path) -> dict[str, object]:
    """Quality per model version of the decisions in `prediction_log`, on the outcomes in the lake."""
    log = feedback.read_prediction_log(prediction_log, CLASSES)
    attributed = feedback.attribute(log.decisions, message_labels(EventsLake(lake_root)))
    return {"unreadable_log_lines": log.unreadable,
            "versions": feedback.quality(attributed, CLASSES, PARTIAL_LABELS)}
