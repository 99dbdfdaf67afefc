"""The two-proportion z-test of spec §8 (pooled standard error, two-sided p-value), and the z-test
of two means for values per message."""

from __future__ import annotations

import math


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
