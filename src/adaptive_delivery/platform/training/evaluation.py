"""Classification metrics shared by every classifier, computed the same way for a model and for
the simulator's oracle (the true outcome probabilities), so every report shows both."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, log_loss, precision_recall_curve, roc_auc_score


def precision_at_recall(y_true: np.ndarray, score: np.ndarray, recall: float = 0.9) -> float:
    """The best precision reachable while keeping at least `recall` of the positives."""
    if y_true.sum() == 0:
        return float("nan")
    p, r, _ = precision_recall_curve(y_true, score)
    ok = r >= recall
    return float(p[ok].max()) if ok.any() else 0.0


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: how far the confidence of the predicted class is from its hit rate."""
    conf = proba.max(axis=1)
    hit = (proba.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return float(ece)


def class_roc_aucs(y: np.ndarray, proba: np.ndarray) -> list[float]:
    """One-vs-rest ROC-AUC per class column (NaN for a class absent from, or alone in, `y`)."""
    y = np.asarray(y).astype(int)
    return [float(roc_auc_score(y == i, proba[:, i])) if 0 < (y == i).sum() < len(y) else float("nan")
            for i in range(proba.shape[1])]


def macro_roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean of the per-class ROC-AUCs over the classes present (NaN when none is)."""
    aucs = [a for a in class_roc_aucs(y, proba) if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_report(y: np.ndarray, proba: np.ndarray, classes: tuple[str, ...]) -> dict[str, float]:
    """Per-class ROC-AUC and precision at 90% recall, their macro means, macro F1, ECE, log loss."""
    out: dict[str, float] = {}
    p90s = []
    aucs = class_roc_aucs(y, proba[:, :len(classes)])
    for i, (name, auc) in enumerate(zip(classes, aucs, strict=True)):
        positives = (y == i).astype(int)
        p90 = float("nan") if np.isnan(auc) else precision_at_recall(positives, proba[:, i])
        if not np.isnan(p90):
            p90s.append(p90)
        out[f"roc_auc_{name}"] = auc
        out[f"precision_at_90_recall_{name}"] = p90
    present = [a for a in aucs if not np.isnan(a)]
    out["macro_roc_auc"] = float(np.mean(present)) if present else float("nan")
    out["precision_at_90_recall_macro"] = float(np.mean(p90s)) if p90s else float("nan")
    out["macro_f1"] = float(f1_score(y, proba.argmax(axis=1), average="macro", labels=list(range(len(classes))), zero_division=0))
    out["ece"] = expected_calibration_error(y, proba)
    clipped = np.clip(proba, 1e-7, 1)
    out["log_loss"] = float(log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=list(range(len(classes)))))
    out["rows"] = float(len(y))
    return out
