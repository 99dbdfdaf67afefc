"""Population stability (PSI) and the two-sample Kolmogorov-Smirnov test per feature, and
prediction bias: the drift checks both products' monitors and retraining triggers share (the
marketing spec's monitoring; Evidently's report stays beside them for people to read).

- PSI over the reference's deciles: sum over bins of (current% - reference%) * ln(current% / reference%).
  The industry's reading, used as is: under 0.1 stable, 0.1-0.25 watch (warn), 0.25 and over act.
- KS: the largest gap between the two empirical distributions. With thousands of rows a gap too
  small to matter is still "significant", so a feature counts as moved only when the test rejects
  at 1% after a Bonferroni correction over the features checked *and* the gap is at least 0.1.
- Prediction bias: the mean prediction against the observed rate on labelled rows, judged by its
  z-score (binomial noise) and an absolute floor, as the delivery monitor judges its segments.

A feature is *acted on* only when PSI reaches 0.25 and KS agrees, so one noisy statistic alone
does not retrain a model; PSI between 0.1 and 0.25 warns. PSI is read only with PSI_MIN_ROWS rows
on each side: below that its sampling noise alone reaches the warn level."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

PSI_WARN = 0.1
PSI_ACT = 0.25
PSI_BINS = 10
PSI_FLOOR = 1e-4  # an empty bin's share, so the logarithm stays finite
# Rows each side needs before PSI is read: two samples of one population score about
# (bins - 1) * (1/n_ref + 1/n_cur) by chance, under half the warn level from 400 rows each. With
# fewer (a small deployment's unit-days) PSI is not judged and KS alone may warn.
PSI_MIN_ROWS = 400
KS_ALPHA = 0.01  # family-wise, split over the features checked (Bonferroni)
KS_MIN_GAP = 0.1  # the smallest distribution gap worth acting on
BIAS_MIN_GAP = 0.02  # prediction vs observed rate: an absolute gap smaller than this is tolerated
BIAS_MIN_Z = 4.0  # ... and one binomial noise can explain is too


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """PSI of `current` against `reference`, binned at the reference's quantiles (a value with many
    ties, such as a flag, gets one bin per distinct value instead)."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    distinct = np.unique(ref)
    if len(distinct) <= bins:
        edges = (distinct[:-1] + distinct[1:]) / 2
    else:
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    ref_share, cur_share = np.maximum(ref_share, PSI_FLOOR), np.maximum(cur_share, PSI_FLOOR)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(statistic, p-value) of the two-sample KS test on the finite values."""
    from scipy.stats import ks_2samp

    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return float("nan"), float("nan")
    result = ks_2samp(ref, cur, method="asymp")  # exact is slow past a few thousand rows
    return float(result.statistic), float(result.pvalue)


@dataclass
class FeatureStability:
    psi: float
    ks: float
    p_value: float
    level: str  # "stable", "warn" or "act"


@dataclass
class StabilityResult:
    features: dict[str, FeatureStability] = field(default_factory=dict)
    bias: dict[str, float] | None = None  # predicted, observed, z, rows; None: no labels given
    biased: bool = False

    @property
    def acted(self) -> list[str]:
        return [c for c, f in self.features.items() if f.level == "act"]

    @property
    def warned(self) -> list[str]:
        return [c for c, f in self.features.items() if f.level == "warn"]

    def retrain(self) -> list[str]:
        """Reasons to retrain: features moved past the act level (PSI and KS agree), or predictions
        biased against the observed outcomes."""
        out = []
        if self.acted:
            top = ", ".join(f"{c} (PSI {self.features[c].psi:.2f}, KS {self.features[c].ks:.2f})"
                            for c in sorted(self.acted, key=lambda c: -self.features[c].psi)[:5])
            out.append(f"{len(self.acted)} feature(s) moved: PSI >= {PSI_ACT} and KS agrees: {top}")
        if self.biased and self.bias is not None:
            out.append(f"predictions biased: mean predicted {self.bias['predicted']:.4f} vs observed "
                       f"{self.bias['observed']:.4f} on {int(self.bias['rows']):,} rows (z={self.bias['z']:.1f})")
        return out

    def alerts(self) -> list[str]:
        if not self.warned:
            return []
        return [f"{len(self.warned)} feature(s) to watch (PSI {PSI_WARN}-{PSI_ACT} or KS alone): "
                + ", ".join(sorted(self.warned)[:5])]

    def as_dict(self) -> dict:
        return {"features": {c: asdict(f) for c, f in self.features.items()}, "bias": self.bias,
                "biased": self.biased, "acted": self.acted, "warned": self.warned}


def _level(psi_value: float, gap: float, p_value: float, checked: int) -> str:
    ks_moved = np.isfinite(p_value) and p_value < KS_ALPHA / max(checked, 1) and gap >= KS_MIN_GAP
    if np.isfinite(psi_value) and psi_value >= PSI_ACT and ks_moved:
        return "act"
    if (np.isfinite(psi_value) and psi_value >= PSI_WARN) or ks_moved:
        return "warn"
    return "stable"


def prediction_bias(predicted: np.ndarray, observed: np.ndarray) -> tuple[dict[str, float], bool]:
    """Mean prediction vs observed rate of a binary outcome, and whether the gap is past both the
    absolute floor and binomial noise."""
    p = np.asarray(predicted, dtype=float)
    y = np.asarray(observed, dtype=float)
    mean_p, rate = float(p.mean()), float(y.mean())
    sd = float(np.sqrt(max(mean_p * (1 - mean_p), 1e-12) / len(y)))
    z = (rate - mean_p) / sd
    return ({"predicted": mean_p, "observed": rate, "z": float(z), "rows": float(len(y))},
            bool(abs(rate - mean_p) >= BIAS_MIN_GAP and abs(z) >= BIAS_MIN_Z))


def check_stability(reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str],
                    predicted: np.ndarray | None = None, observed: np.ndarray | None = None) -> StabilityResult:
    """PSI and KS for every numeric column present in both frames; prediction bias when the
    current rows' predictions and observed outcomes are given."""
    checked = [c for c in columns if c in reference and c in current
               and pd.api.types.is_numeric_dtype(reference[c]) and pd.api.types.is_numeric_dtype(current[c])]
    result = StabilityResult()
    for c in checked:
        ref, cur = reference[c].to_numpy(dtype=float), current[c].to_numpy(dtype=float)
        enough = min(np.isfinite(ref).sum(), np.isfinite(cur).sum()) >= PSI_MIN_ROWS
        value = psi(ref, cur) if enough else float("nan")
        gap, p_value = ks(ref, cur)
        result.features[c] = FeatureStability(psi=value, ks=gap, p_value=p_value,
                                              level=_level(value, gap, p_value, len(checked)))
    if predicted is not None and observed is not None and len(observed):
        result.bias, result.biased = prediction_bias(predicted, observed)
    return result
