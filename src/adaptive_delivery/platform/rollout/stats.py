"""The two-proportion z-test of spec §8 (pooled standard error, two-sided p-value), the z-test
of two means for values per message, and one-sided tests that one arm's requests are slower."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import mannwhitneyu


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: a family of tests judged together
    keeps its chance of any false alarm at the level each adjusted p-value is compared with."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [1.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def two_proportion_z(successes_a: int, total_a: int, successes_b: int, total_b: int) -> tuple[float, float]:
    """z of (rate_b - rate_a) and its two-sided p-value; (0, 1) when there is nothing to compare."""
    if total_a <= 0 or total_b <= 0:
        return 0.0, 1.0
    p_a, p_b = successes_a / total_a, successes_b / total_b
    pooled = (successes_a + successes_b) / (total_a + total_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if se == 0:
        return 0.0, 1.0
    z = (p_b - p_a) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def mean_difference_z(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int) -> tuple[float, float]:
    """z of (mean_b - mean_a) with unpooled standard errors, and its two-sided p-value; (0, 1)
    when there is nothing to compare."""
    if n_a <= 0 or n_b <= 0:
        return 0.0, 1.0
    se = math.sqrt(var_a / n_a + var_b / n_b)
    if se == 0:
        return 0.0, 1.0
    z = (mean_b - mean_a) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def slower_by_rank(control: Sequence[float], candidate: Sequence[float]) -> float:
    """One-sided p-value that the candidate's request times are stochastically larger (Mann-Whitney
    U). Load moves both arms' times alike, so it cannot make one arm rank higher; a slower model
    does, even when the load splits both arms' times into an idle and a busy mode and the medians
    land on either. 1 when either arm has no times."""
    if not len(control) or not len(candidate):
        return 1.0
    return float(mannwhitneyu(candidate, control, alternative="greater").pvalue)


def slower_in_the_tail(control: Sequence[float], candidate: Sequence[float], q: float) -> float:
    """One-sided p-value that more of the candidate's requests lie above the q-quantile of both
    arms pooled, ties included (Mood's median test taken to the tail): a slow tail, which a rank test of the whole
    distribution would miss. 1 when either arm has no times."""
    if not len(control) or not len(candidate):
        return 1.0
    a, b = np.asarray(control, float), np.asarray(candidate, float)
    cut = float(np.quantile(np.concatenate([a, b]), q))
    z, p = two_proportion_z(int((a >= cut).sum()), len(a), int((b >= cut).sum()), len(b))
    return p / 2 if z > 0 else 1 - p / 2
