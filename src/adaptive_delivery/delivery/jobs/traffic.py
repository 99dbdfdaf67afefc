"""Rollout evidence from real traffic (spec §7.1, §8): each arm's decisions as the prediction log
holds them (both arms log theirs; a shadow candidate's mirrored decisions too), joined by message
id with what the lake says became of each message. This is what `ad_rollout` judges when the
deployment sends real mail. The simulated world's tally counts its own emitted events the same way
(`scenarios.rollout.tally_day`), and a test holds the two equal on the same decisions.

Request latency and errors are not in the prediction log: on real traffic those guardrails read
nothing here, and the serving metrics (Prometheus) watch them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.models.mdl001_deliverability.model import (
    ACCEPTED_UNSEEN,
    CLASSES,
    PARTIAL_LABELS,
    final_outcomes,
)
from adaptive_delivery.platform.feedback import MESSAGE_ID, VERSION, read_prediction_log
from adaptive_delivery.platform.rollout import controller as rc
from adaptive_delivery.platform.training.evaluation import classification_report

SENT_ACTIONS = ("send", "send_monitored")  # spec §6.1: the message goes out
INBOX, SPAM, SOFT, HARD = (CLASSES.index(c) for c in ("inbox", "spam", "soft_bounce", "hard_bounce"))
PENDING = -1


def outcomes_of(lake: Path) -> tuple[pd.Series, set[str]]:
    """Each message's outcome class as MDL-001 labels it (PENDING while only deferred), and the
    messages complained about."""
    lake_ = EventsLake(lake)
    events = lake_.read("outcomes", columns=["message_id", "event_ts", "status", "bounce_class", "placement"])
    final = final_outcomes(events.to_pandas())
    complaints = set(lake_.read("complaints", columns=["message_id"]).column(0).to_pylist())
    return final.set_index("message_id")["label"], complaints


def arm_stats(decisions: pd.DataFrame, labels: pd.Series, complaints: set[str], shadow: bool = False) -> rc.ArmStats:
    """One arm's stage: the messages it decided, those it let out (an action of SENT_ACTIONS; a log
    line with no action counts as sent), and what became of those. In shadow, also the macro
    ROC-AUC of its predictions on every decided message whose outcome came."""
    acted = decisions["action"]
    sent_ids = decisions.loc[acted.isna() | acted.isin(SENT_ACTIONS), MESSAGE_ID]
    label = labels.reindex(sent_ids).fillna(PENDING).to_numpy(dtype=int)
    stats = rc.ArmStats(messages=len(decisions), sent=len(sent_ids),
                        delivered=int(np.isin(label, (INBOX, SPAM, ACCEPTED_UNSEEN)).sum()),
                        inboxed=int((label == INBOX).sum()), placed=int(np.isin(label, (INBOX, SPAM)).sum()),
                        bounced=int(np.isin(label, (SOFT, HARD)).sum()),
                        complained=len(complaints.intersection(sent_ids)))
    if shadow:
        stats.shadow_score = shadow_score(decisions, labels)
    return stats


def shadow_score(decisions: pd.DataFrame, labels: pd.Series) -> float:
    """Macro ROC-AUC of the decisions' probabilities on the outcomes that came (NaN until every
    class has been seen), as the simulated tally scores a shadow stage."""
    y = labels.reindex(decisions[MESSAGE_ID]).fillna(PENDING).to_numpy(dtype=int)
    known = y >= 0
    if len(np.unique(y[known & (y < len(CLASSES))])) < len(CLASSES):
        return float("nan")
    proba = decisions[[f"p_{c}" for c in CLASSES]].to_numpy(dtype=float)
    return classification_report(y[known], proba[known], CLASSES, PARTIAL_LABELS)["macro_roc_auc"]


def stage_stats(predictions: Path, lake: Path, exp: rc.Experiment) -> tuple[rc.ArmStats, rc.ArmStats]:
    """Both arms of a running experiment over its current stage: decisions logged since the stage
    started, by each arm's model version."""
    log = read_prediction_log(predictions, CLASSES).decisions
    since = datetime.fromisoformat(exp.stage_started).timestamp() if exp.stage_started else 0.0
    log = log[pd.to_numeric(log["ts"], errors="coerce").fillna(-np.inf) >= since]
    labels, complaints = outcomes_of(lake)
    return tuple(arm_stats(log[log[VERSION].astype(str) == version], labels, complaints, exp.stage.mirror)
                 for version in (exp.control_version, exp.candidate_version))
