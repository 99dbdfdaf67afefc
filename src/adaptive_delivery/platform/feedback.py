"""Feedback: every logged prediction attributed to what became of its message (spec §7.1).

The prediction log (`platform.decision_log`: one JSON line per decision a caller received, with the
message id, the model version and a probability per class) is joined by message id with each
message's outcome class, as the product's labels say it from the events that came in. A message
whose outcome has not arrived yet keeps label -1 and is left out of the quality figures until it
does: attribution is a pure function of the log and the events, so running it again after late
outcomes arrive counts them, and running it twice changes nothing. Quality per model version uses
the same report as the offline evaluation (`training.evaluation.classification_report`), so a
model judged on real outcomes is judged as it was before it was registered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from adaptive_delivery.platform.training.evaluation import (
    Partial,
    classification_report,
    label_weights,
    macro_roc_auc,
)

if TYPE_CHECKING:
    from adaptive_delivery.platform.spec import ModelSpec

MESSAGE_ID = "message_id"
VERSION = "model_version"
PENDING = -1  # no outcome yet


@dataclass(frozen=True)
class PredictionLog:
    """The decisions read from a log, and how many of its lines were not decisions."""

    decisions: pd.DataFrame
    unreadable: int


def read_prediction_log(path: Path, classes: tuple[str, ...]) -> PredictionLog:
    """One row per logged decision with its message id, model version and class probabilities; a
    line that is not such a decision (cut short by a crash, written by something else) is counted,
    never guessed at. A message decided twice keeps its last decision (the one acted on)."""
    wanted = [MESSAGE_ID, VERSION, *(f"p_{c}" for c in classes)]
    rows, unreadable = [], 0
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
                row = {k: rec[k] for k in wanted}
                if not all(isinstance(row[f"p_{c}"], int | float) for c in classes):
                    raise TypeError("a probability is not a number")
            except (json.JSONDecodeError, KeyError, TypeError):
                unreadable += 1
                continue
            row["ts"] = rec.get("ts")
            rows.append(row)
    frame = pd.DataFrame(rows, columns=[*wanted, "ts"])
    return PredictionLog(frame.drop_duplicates(MESSAGE_ID, keep="last").reset_index(drop=True), unreadable)


def attribute(decisions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Each decision with its message's `label` (PENDING where no outcome has come) and whatever
    else `labels` carries per message (its provider)."""
    joined = decisions.merge(labels, on=MESSAGE_ID, how="left")
    joined["label"] = joined["label"].fillna(PENDING).astype(int)
    return joined


def quality(attributed: pd.DataFrame, classes: tuple[str, ...], partial: Partial | None = None,
            by: str | None = "provider") -> dict[str, dict[str, object]]:
    """Per model version: the offline evaluation's report over the decisions whose outcome came,
    how many are still pending, and the macro ROC-AUC per `by` group."""
    out: dict[str, dict[str, object]] = {}
    columns = [f"p_{c}" for c in classes]
    for version, rows in attributed.groupby(VERSION, sort=True):
        known = rows[rows["label"] != PENDING]
        report: dict[str, object] = {"decisions": len(rows), "attributed": len(known), "pending": len(rows) - len(known)}
        if len(known):
            report.update(classification_report(known["label"].to_numpy(), known[columns].to_numpy(dtype=float),
                                                classes, partial))
            if by is not None and by in known:
                report[f"macro_roc_auc_by_{by}"] = _by_group(known, by, columns, len(classes), partial)
        out[str(version)] = report
    return out


def _by_group(known: pd.DataFrame, by: str, columns: list[str], n_classes: int,
              partial: Partial | None) -> Mapping[str, float]:
    groups = {}
    for name, rows in known.groupby(by, sort=True):
        keep, weight = label_weights(rows["label"].to_numpy(), n_classes, partial)
        y, p, w = rows["label"].to_numpy()[keep], rows[columns].to_numpy(dtype=float)[keep], weight[keep]
        groups[str(name)] = macro_roc_auc(y, p, None if np.all(w == 1.0) else w)
    return groups


def report(spec: ModelSpec, prediction_log: Path, lake_root: Path) -> dict[str, object]:
    """A model's logged decisions on the outcomes in a lake, from its spec alone: its classes, the
    labels its training reads from the lake (`ModelSpec.labels`, so the figures are the offline
    evaluation's), its partial labels, and per `ModelSpec.segment` (MDL-001: the provider)."""
    if spec.labels is None or not spec.classes:
        raise ValueError(f"{spec.model_id} has no labels from events (spec.labels and classes): nothing to attribute")
    log = read_prediction_log(prediction_log, spec.classes)
    labels = spec.labels(lake_root)
    keep = [MESSAGE_ID, "label", *([spec.segment] if spec.segment in labels else [])]
    attributed = attribute(log.decisions, labels[keep])
    return {"model": spec.model_id, "unreadable_log_lines": log.unreadable,
            "versions": quality(attributed, spec.classes, spec.partial_labels, by=spec.segment)}
