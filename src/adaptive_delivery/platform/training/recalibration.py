"""Per-segment recalibration: shift a model's class probabilities, per mailbox provider, so their
means match the class rates of the newest days.

Why: when one provider changes its filtering, the ranking of messages within it mostly holds
(AUC holds) but every probability for it is off by a near-constant amount in log-odds, and MDL-001's
actions are thresholds on those probabilities (spec §6.1). The monitoring check sees this as a
prediction-vs-actual gap per provider. A retraining that answers it fits the model on the longer
past (for ranking) and these offsets on the newest slice (for level): the prior-shift correction
p'_k ∝ p_k · exp(b_k), with b found by iterative proportional fitting so that mean(p'_k) equals the
observed rate of class k in the segment.
"""

from __future__ import annotations

import numpy as np

from adaptive_delivery.platform.training.evaluation import Partial, label_weights

# Segments with fewer rows than this keep the base model's probabilities (the monitoring check
# judges calibration on the same minimum).
MIN_SEGMENT_ROWS = 500
# A class never seen in the slice is not driven to zero; offsets are bounded in log space.
MAX_OFFSET = 3.0
ITERATIONS = 50


def shift(proba: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """p' ∝ p · exp(offsets), row-normalised."""
    q = proba * np.exp(offsets)[None, :]
    return q / q.sum(axis=1, keepdims=True)


def fit_offsets(y: np.ndarray, proba: np.ndarray, n_classes: int, iterations: int = ITERATIONS,
                partial: Partial | None = None) -> np.ndarray:
    """Log-offsets per class that make the shifted probabilities' means equal the observed class
    rates (classes absent from `y` are left where the model put them; partial labels count through
    their group's seen members, `evaluation.label_weights`)."""
    known, weight = label_weights(y, n_classes, partial)
    observed = np.bincount(np.asarray(y).astype(int)[known], weights=weight[known], minlength=n_classes)[:n_classes]
    observed = observed / max(float(weight.sum()), 1e-12)
    b = np.zeros(n_classes)
    seen = observed > 0
    for _ in range(iterations):
        mean = shift(proba, b).mean(axis=0)
        step = np.where(seen & (mean > 0), np.log(np.where(seen, observed, 1.0) / np.maximum(mean, 1e-12)), 0.0)
        b = np.clip(b + step, -MAX_OFFSET, MAX_OFFSET)
        if np.abs(step).max() < 1e-6:
            break
    return b - b[seen].mean() if seen.any() else b  # softmax is shift-invariant: centre for readability


def fit_segment_offsets(y: np.ndarray, proba: np.ndarray, segment: np.ndarray, n_classes: int,
                        min_rows: int = MIN_SEGMENT_ROWS, partial: Partial | None = None) -> dict[str, list[float]]:
    """Offsets per segment value with at least `min_rows` rows."""
    out = {}
    for value in np.unique(segment.astype(str)):
        mask = segment.astype(str) == value
        if mask.sum() >= min_rows:
            offsets = fit_offsets(y[mask], proba[mask], n_classes, partial=partial)
            out[str(value)] = [round(float(v), 6) for v in offsets]
    return out


def apply_segment_offsets(proba: np.ndarray, segment: np.ndarray, offsets: dict[str, list[float]]) -> np.ndarray:
    """The shifted probabilities; rows of segments without offsets are returned unchanged."""
    if not offsets:
        return proba
    out = proba.copy()
    values = segment.astype(str)
    for value, b in offsets.items():
        mask = values == value
        if mask.any():
            out[mask] = shift(proba[mask], np.asarray(b, dtype=float))
    return out
