"""Classification metrics shared by every classifier, computed the same way for a model and for
the simulator's oracle (the true outcome probabilities), so every report shows both.

Labels may be partial: a code past the last class (`ModelSpec.partial_labels`) says the row is one
of a group of classes without saying which (MDL-001: a message accepted with no placement seen, as
most are; seed and panel addresses show inbox or spam for a few percent). Metrics then read the
rows whose class is known, each weighted so the seen members of a group stand for the whole group
(the panel is a random sample of the group's rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import f1_score, log_loss, precision_recall_curve, roc_auc_score

if TYPE_CHECKING:
    from adaptive_delivery.platform.spec import ModelSpec

Partial = Mapping[int, tuple[int, ...]]


def label_weights(y: np.ndarray, n_classes: int, partial: Partial | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose class is known, weight of every row): a known row of a partial group's class
    weighs (seen + unseen) / seen of its group, every other known row 1, partial rows 0."""
    y = np.asarray(y).astype(int)
    unknown = sorted(set(np.unique(y[y >= n_classes]).tolist()) - set(partial or {}))
    if unknown:
        raise ValueError(f"label codes {unknown} are neither classes nor declared partial labels")
    known = (y >= 0) & (y < n_classes)
    weight = known.astype(float)
    groups: dict[tuple[int, ...], list[int]] = {}  # codes that stand for the same classes weigh as one
    for code, members in (partial or {}).items():
        groups.setdefault(tuple(sorted(members)), []).append(code)
    for members, codes in groups.items():
        unseen = int(np.isin(y, codes).sum())
        seen = np.isin(y, members)
        if unseen and seen.any():
            weight[seen] *= (int(seen.sum()) + unseen) / int(seen.sum())
    return known, weight


def precision_at_recall(y_true: np.ndarray, score: np.ndarray, recall: float = 0.9,
                        weight: np.ndarray | None = None) -> float:
    """The best precision reachable while keeping at least `recall` of the positives."""
    if y_true.sum() == 0:
        return float("nan")
    p, r, _ = precision_recall_curve(y_true, score, sample_weight=weight)
    ok = r >= recall
    return float(p[ok].max()) if ok.any() else 0.0


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = 15,
                               weight: np.ndarray | None = None) -> float:
    """Top-label ECE: how far the confidence of the predicted class is from its hit rate."""
    conf = proba.max(axis=1)
    hit = (proba.argmax(axis=1) == y).astype(float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    total = w.sum()
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any() and w[m].sum() > 0:
            ece += w[m].sum() / total * abs(np.average(hit[m], weights=w[m]) - np.average(conf[m], weights=w[m]))
    return float(ece)


def class_roc_aucs(y: np.ndarray, proba: np.ndarray, weight: np.ndarray | None = None) -> list[float]:
    """One-vs-rest ROC-AUC per class column (NaN for a class absent from, or alone in, `y`)."""
    y = np.asarray(y).astype(int)
    return [float(roc_auc_score(y == i, proba[:, i], sample_weight=weight)) if 0 < (y == i).sum() < len(y)
            else float("nan") for i in range(proba.shape[1])]


def macro_roc_auc(y: np.ndarray, proba: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Mean of the per-class ROC-AUCs over the classes present (NaN when none is)."""
    aucs = [a for a in class_roc_aucs(y, proba, weight) if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_report(y: np.ndarray, proba: np.ndarray, classes: tuple[str, ...],
                          partial: Partial | None = None) -> dict[str, float]:
    """Per-class ROC-AUC and precision at 90% recall, their macro means, macro F1, ECE, log loss;
    over the rows whose class is known, weighted for partial labels (see the module's docstring)."""
    known, weight = label_weights(y, len(classes), partial)
    y, proba, weight = np.asarray(y).astype(int)[known], proba[known], weight[known]
    w = None if np.all(weight == 1.0) else weight
    out: dict[str, float] = {}
    p90s = []
    aucs = class_roc_aucs(y, proba[:, :len(classes)], w)
    for i, (name, auc) in enumerate(zip(classes, aucs, strict=True)):
        positives = (y == i).astype(int)
        p90 = float("nan") if np.isnan(auc) else precision_at_recall(positives, proba[:, i], weight=w)
        if not np.isnan(p90):
            p90s.append(p90)
        out[f"roc_auc_{name}"] = auc
        out[f"precision_at_90_recall_{name}"] = p90
    present = [a for a in aucs if not np.isnan(a)]
    out["macro_roc_auc"] = float(np.mean(present)) if present else float("nan")
    out["precision_at_90_recall_macro"] = float(np.mean(p90s)) if p90s else float("nan")
    out["macro_f1"] = float(f1_score(y, proba.argmax(axis=1), average="macro", labels=list(range(len(classes))),
                                     zero_division=0, sample_weight=w))
    out["ece"] = expected_calibration_error(y, proba, weight=w)
    clipped = np.clip(proba, 1e-7, 1)
    out["log_loss"] = float(log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=list(range(len(classes))),
                                     sample_weight=w))
    out["rows"] = float(len(y))
    return out


def spec_report(spec: ModelSpec, y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The classification report plus the spec's own metrics (`ModelSpec.report`): what every
    evaluation, gate and monitor of that model reads its primary metric from."""
    out = classification_report(y, proba, spec.classes, spec.partial_labels)
    if spec.report is not None:
        out.update(spec.report(np.asarray(y).astype(int), proba))
    return out


def binary_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """ECE of one probability (equal-width bins, weighted by rows): how far the mean prediction of
    each bin is from the share of positives in it."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    which = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, y, bins) - np.bincount(which, p, bins))
    return float(gap.sum() / max(count.sum(), 1))
