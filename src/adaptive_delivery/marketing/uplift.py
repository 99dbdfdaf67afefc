"""Uplift metrics: how well a ranking of customers by predicted treatment effect finds the ones a
campaign moves. Computed on a randomised experiment's test rows (treatment 1 = sent the e-mail,
0 = not sent), so the difference of means inside any top slice is an unbiased effect estimate."""

from __future__ import annotations

import numpy as np


def _ranked(score: np.ndarray, outcome: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score, outcome, treated = (np.asarray(a, dtype=float).reshape(-1) for a in (score, outcome, treated))
    if not len(score) == len(outcome) == len(treated):
        raise ValueError("score, outcome and treatment need one value per customer")
    if not set(np.unique(treated)) <= {0.0, 1.0}:
        raise ValueError("treatment must be 0 or 1")
    order = np.argsort(-score, kind="stable")
    return outcome[order], treated[order]


def uplift_at(score: np.ndarray, outcome: np.ndarray, treated: np.ndarray, share: float = 0.3) -> float:
    """Treated minus control mean outcome among the `share` of customers ranked highest (the
    campaign sent to that share only). NaN when the slice lacks either group."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    y, t = _ranked(score, outcome, treated)
    k = max(1, int(round(len(y) * share)))
    y, t = y[:k], t[:k]
    if t.all() or not t.any():
        return float("nan")
    return float(y[t == 1].mean() - y[t == 0].mean())


def qini_curve(score: np.ndarray, outcome: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(targeted count, incremental outcomes) after each customer in ranked order: treated
    outcomes minus control outcomes scaled to the treated count (Radcliffe's Qini curve)."""
    y, t = _ranked(score, outcome, treated)
    n_t, n_c = np.cumsum(t), np.cumsum(1 - t)
    y_t, y_c = np.cumsum(y * t), np.cumsum(y * (1 - t))
    scale = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c > 0)
    x = np.arange(1, len(y) + 1, dtype=float)
    return np.concatenate([[0.0], x]), np.concatenate([[0.0], y_t - y_c * scale])


def _area(score: np.ndarray, outcome: np.ndarray, treated: np.ndarray) -> float:
    x, q = qini_curve(score, outcome, treated)
    return float(np.trapezoid(q, x))


def qini_coefficient(score: np.ndarray, outcome: np.ndarray, treated: np.ndarray) -> float:
    """The area between the ranking's Qini curve and random targeting, as a share of the area a
    perfect ranking would have (treated responders first, control responders last): 0 for a random
    ranking, 1 for a perfect one (scikit-uplift's `qini_auc_score` with negative effects allowed)."""
    y = np.asarray(outcome, dtype=float).reshape(-1)
    t = np.asarray(treated, dtype=float).reshape(-1)
    x, q = qini_curve(score, y, t)
    random_area = q[-1] * x[-1] / 2
    perfect = y * t - y * (1 - t)
    best = _area(perfect, y, t) - random_area
    return float((_area(score, y, t) - random_area) / best) if best > 0 else float("nan")
