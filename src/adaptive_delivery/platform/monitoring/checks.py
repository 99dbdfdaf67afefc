"""Drift and degradation checks of a served model against what it was trained on.

The reference is the champion's own training window; the current window is the messages whose
outcomes arrived in the data interval, with the feature values the store served for them (the
same point-in-time join training uses). Three signals, as spec §7.2 asks:

- data drift (Evidently, per feature and as a share of features) and prediction drift (Evidently
  on the predicted class probabilities);
- feature shift: a feature's mean moved more than 2 training standard deviations (alert);
- population stability per feature (PSI and KS, `stability`): past the act level it retrains a
  model whose spec says drift retrains it (`ModelSpec.drift_retrains`), and alerts otherwise;
- performance on labelled outcomes: the primary metric fell more than 2% below what the champion
  scored at registration (and a bootstrap bound says the window's noise does not explain it), or
  under an absolute floor, or a provider's observed class rate left the predicted one by more than
  5 points (prediction vs actual) (retrain). Drift alerts and is reported; the promotion gate acts on it.

The simulator oracle's score on the same window is reported beside ours where the truth exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.platform.monitoring.drift import DriftResult, check_drift, drift_columns
from adaptive_delivery.platform.monitoring.stability import check_stability
from adaptive_delivery.platform.spec import ModelSpec

# Spec §7.2: "AUC drop > 2%" triggers retraining (relative to the champion's registered score).
MAX_METRIC_DROP = 0.02
# Spec §7.2: a feature whose mean moved more than 2 training standard deviations alerts.
MAX_FEATURE_SHIFT_SD = 2.0
# Fewer labelled rows than this in the window: the performance check abstains (too noisy to act on).
MIN_LABELLED_ROWS = 500
# A drop retrains only when the bootstrap's 95th percentile of the window's metric is still below
# the registration score (a one-sided 5% test against the window's sampling noise).
BOOTSTRAP_RESAMPLES = 200
UPPER_QUANTILE = 0.95
# Prediction vs actual (spec §7.2's panel) per provider and class: MDL-001's actions are thresholds
# on probabilities (spec §6.1), so a provider whose observed rate left the predicted one by more
# than 5 points moves decisions even when rankings (AUC) hold. Judged on segments of >= 500
# labelled messages, and only when the gap is far outside binomial noise (|z| > 4).
CALIBRATION_GAP = 0.05
CALIBRATION_MIN_ROWS = 500
CALIBRATION_MIN_Z = 4.0
# A gap retrains when the previous day's check of the same champion saw it too: one day alerts.
# The retraining then has a day of the new behaviour to recalibrate on before the day it is gated on.

# A retraining that answers a performance or calibration alarm learns the level of the newest
# day: it is gated on the last day (holdout) and recalibrated per segment on the day before it
# (training.recalibration), while the model itself still learns its ranking from the whole window.
# The alarm has established that the newest data differs, and one day of mail never looks like a
# month of it (measured: 81% of features drift between a 1-day holdout and its training window on
# a steady world, against the 80% gate), so that drift is reported and tagged, not a stop; a
# feature that went missing still stops the gate, and the rollout still judges the new model.
ADAPTIVE_RETRAINING = {"holdout_days": 1, "recalibration_days": 1, "expected_drift": True}


@dataclass
class MonitorResult:
    model_id: str
    version: str
    window: tuple[str, str]
    rows_reference: int
    rows_current: int
    metric: str
    current: float | None  # the primary metric on the window's labelled outcomes
    registered: float | None  # what the champion scored on its own holdout
    oracle: float | None  # the simulator oracle on the same window
    floor: float | None
    data_drift: dict = field(default_factory=dict)
    prediction_drift: dict = field(default_factory=dict)
    shifted: dict[str, float] = field(default_factory=dict)  # feature -> shift in training SDs
    calibration: list[dict] = field(default_factory=list)  # segments whose observed rate left the predicted
    segments: dict[str, dict] = field(default_factory=dict)  # segment -> rows, predicted and observed class rates
    retrain: list[str] = field(default_factory=list)  # reasons to retrain (empty: none)
    alerts: list[str] = field(default_factory=list)  # reasons to tell a person
    stability: dict = field(default_factory=dict)  # PSI and KS per feature (stability.StabilityResult)
    reports: dict[str, str] = field(default_factory=dict)  # name -> file

    @property
    def drop(self) -> float | None:
        if self.current is None or not self.registered:
            return None
        return (self.registered - self.current) / self.registered

    def summary(self) -> str:
        perf = "n/a" if self.current is None else f"{self.current:.4f}"
        oracle = "" if self.oracle is None else f" (oracle {self.oracle:.4f})"
        verdict = "RETRAIN: " + "; ".join(self.retrain) if self.retrain else "OK"
        return (f"{self.model_id} v{self.version} {self.window[0]}..{self.window[1]}: {self.metric} {perf}{oracle} vs "
                f"{self.registered if self.registered is None else round(self.registered, 4)} at registration; "
                f"{self.data_drift.get('summary', '')}; {verdict}")

    def as_dict(self) -> dict:
        return {**asdict(self), "drop": self.drop, "summary": self.summary()}


def feature_shift(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """|mean(current) - mean(reference)| / sd(reference) per column, for columns above the alert level."""
    out = {}
    for c in columns:
        sd = float(reference[c].std())
        if not np.isfinite(sd) or sd == 0:
            continue
        shift = abs(float(current[c].mean()) - float(reference[c].mean())) / sd
        if np.isfinite(shift) and shift > MAX_FEATURE_SHIFT_SD:
            out[c] = round(shift, 2)
    return out


def metric_upper_bound(spec: ModelSpec, y: np.ndarray, proba: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = 0) -> float | None:
    """The bootstrap upper bound (UPPER_QUANTILE) of the primary metric on these outcomes: a day of
    mail is a sample, and a drop that this bound still shows is not the sample's luck."""
    from adaptive_delivery.platform.training.evaluation import spec_report

    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) < len(np.unique(y)):
            continue
        v = spec_report(spec, y[idx], proba[idx]).get(spec.primary_metric)
        if v is not None and np.isfinite(v):
            values.append(v)
    return float(np.quantile(values, UPPER_QUANTILE)) if values else None


def segment_rates(classes: tuple[str, ...], y: np.ndarray, proba: np.ndarray, segment: np.ndarray,
                  partial: Mapping[int, tuple[int, ...]] | None = None) -> dict[str, dict]:
    """Per segment (provider): rows, and mean predicted vs observed rate of each class (the
    prediction-vs-actual panel, kept for every monitored day); a partial label counts through its
    group's seen members (`evaluation.label_weights`)."""
    from adaptive_delivery.platform.training.evaluation import label_weights

    out = {}
    for seg in np.unique(segment.astype(str)):
        mask = segment.astype(str) == seg
        known, weight = label_weights(y[mask], len(classes), partial)
        total = max(float(weight.sum()), 1e-12)
        ys = np.asarray(y[mask]).astype(int)
        out[str(seg)] = {"rows": int(mask.sum()),
                         "predicted": {c: round(float(proba[mask, k].mean()), 4) for k, c in enumerate(classes)},
                         "observed": {c: round(float(weight[known & (ys == k)].sum() / total), 4)
                                      for k, c in enumerate(classes)}}
    return out


def calibration_gaps(rates: dict[str, dict]) -> list[dict]:
    """Per segment (provider) and class of `segment_rates`: the gaps between mean predicted and
    observed rate beyond CALIBRATION_GAP that binomial noise cannot explain."""
    out = []
    for seg, r in rates.items():
        n = r["rows"]
        if n < CALIBRATION_MIN_ROWS:
            continue
        for name, predicted in r["predicted"].items():
            observed = r["observed"][name]
            sd = np.sqrt(max(predicted * (1 - predicted), 1e-9) / n)
            z = (observed - predicted) / sd
            if abs(observed - predicted) > CALIBRATION_GAP and abs(z) > CALIBRATION_MIN_Z:
                out.append({"segment": seg, "class": name, "predicted": predicted, "observed": observed,
                            "z": round(float(z), 1), "rows": n})
    return out


def judge(spec: ModelSpec, current: float | None, registered: float | None, rows: int, data: DriftResult,
          shifted: dict[str, float], upper: float | None = None, calibration: list[dict] | None = None,
          seen_before: list[dict] | None = None) -> tuple[list[str], list[str]]:
    """(reasons to retrain, alerts): performance retrains (a drop of more than 2% against
    registration that the bootstrap bound confirms, or a score under the floor); a calibration gap
    retrains when `seen_before` (the previous day's gaps; None: do not wait) holds it too, and alerts
    on its first day; drift and feature shift alert and are reported (the promotion gate stops a
    challenger on drift)."""
    retrain, alerts = [], []
    floor = next((g.floor for g in spec.gates if g.metric == spec.primary_metric), None)
    if current is not None and rows >= MIN_LABELLED_ROWS:
        if registered and (registered - current) / registered > MAX_METRIC_DROP:
            sure = upper is None or upper < registered
            text = (f"{spec.primary_metric} {current:.4f} is {100 * (registered - current) / registered:.1f}% "
                    f"below the {registered:.4f} it scored at registration (> {100 * MAX_METRIC_DROP:.0f}%"
                    + (f"; {100 * UPPER_QUANTILE:.0f}% bound {upper:.4f})" if upper is not None else ")"))
            (retrain if sure else alerts).append(text if sure else text + ": within the sample's noise")
        if floor is not None and current < floor:
            retrain.append(f"{spec.primary_metric} {current:.4f} is under the floor {floor}")
    elif rows < MIN_LABELLED_ROWS:
        alerts.append(f"only {rows} labelled outcomes in the window (< {MIN_LABELLED_ROWS}): performance not judged")
    before = None if seen_before is None else {(g["segment"], g["class"]) for g in seen_before}
    for gap in calibration or []:
        text = (f"{gap['segment']}: {gap['class']} observed {gap['observed']:.1%} vs predicted "
                f"{gap['predicted']:.1%} on {gap['rows']:,} messages (z={gap['z']})")
        if before is None or (gap["segment"], gap["class"]) in before:
            retrain.append(text)
        else:
            alerts.append(text + ": first day seen, retrains if it persists")
    alerts.extend(data.failures())
    if shifted:
        top = ", ".join(f"{k} ({v} SD)" for k, v in sorted(shifted.items(), key=lambda kv: -kv[1])[:5])
        alerts.append(f"{len(shifted)} feature(s) shifted > {MAX_FEATURE_SHIFT_SD:.0f} SD: {top}")
    return retrain, alerts


def monitor(spec: ModelSpec, bundle, reference: pd.DataFrame, current: pd.DataFrame, *, version: str,
            registered: float | None, out_dir: str | Path, window: tuple[datetime, datetime],
            oracle_proba: np.ndarray | None = None, seen_before: list[dict] | None = None) -> MonitorResult:
    """Compare `current` (labelled rows of the window) with `reference` (the training window);
    `seen_before`: the calibration gaps the previous day's check of this champion found."""
    from adaptive_delivery.platform.training.evaluation import spec_report
    from adaptive_delivery.platform.training.steps import LABEL

    out_dir = Path(out_dir)
    ref_data = spec.to_dataset(reference)
    cur_data = spec.to_dataset(current, ref_data.categories)
    columns = drift_columns(ref_data.X, list(ref_data.X.columns), spec.drift_exempt)
    data = check_drift(ref_data.X, cur_data.X, columns, out_dir / "data_drift.html", drift_share=spec.drift_share)
    names = [f"p_{c}" for c in spec.classes]
    ref_pred = pd.DataFrame(bundle.predict_proba(reference), columns=names)
    cur_proba = bundle.predict_proba(current)
    pred = check_drift(ref_pred, pd.DataFrame(cur_proba, columns=names), names, out_dir / "prediction_drift.html",
                       drift_share=spec.drift_share)
    shifted = feature_shift(ref_data.X, cur_data.X, columns)
    y = current[LABEL].to_numpy(dtype=int)
    present = len(np.unique(y)) >= 2
    value = spec_report(spec, y, cur_proba).get(spec.primary_metric) if present else None
    oracle = (spec_report(spec, y, oracle_proba).get(spec.primary_metric)
              if present and oracle_proba is not None else None)
    value = None if value is None or not np.isfinite(value) else float(value)
    oracle = None if oracle is None or not np.isfinite(oracle) else float(oracle)
    upper = None
    if value is not None and registered and (registered - value) / registered > MAX_METRIC_DROP:
        upper = metric_upper_bound(spec, y, cur_proba)
    segment = spec.segment
    rates = (segment_rates(spec.classes, y, cur_proba, current[segment].to_numpy(), spec.partial_labels)
             if segment in current else {})
    gaps = calibration_gaps(rates)
    retrain, alerts = judge(spec, value, registered, len(current), data, shifted, upper, gaps, seen_before)
    stable = check_stability(ref_data.X, cur_data.X, columns)
    (retrain if spec.drift_retrains else alerts).extend(stable.retrain())
    alerts.extend(stable.alerts())
    floor = next((g.floor for g in spec.gates if g.metric == spec.primary_metric), None)
    result = MonitorResult(
        model_id=spec.model_id, version=version, window=(f"{window[0]:%Y-%m-%d %H:%M}", f"{window[1]:%Y-%m-%d %H:%M}"),
        rows_reference=len(reference), rows_current=len(current), metric=spec.primary_metric, current=value,
        registered=registered, oracle=oracle, floor=floor,
        data_drift={"share": data.share, "drifted": data.drifted, "checked": len(data.checked), "summary": data.summary()},
        prediction_drift={"share": pred.share, "drifted": pred.drifted, "summary": pred.summary()}, shifted=shifted,
        calibration=gaps, segments=rates, retrain=retrain, alerts=alerts, stability=stable.as_dict(),
        reports={"data_drift": str(out_dir / "data_drift.html"), "prediction_drift": str(out_dir / "prediction_drift.html")})
    (out_dir / "monitor.json").write_text(json.dumps(result.as_dict(), indent=2, default=str))
    result.reports["summary"] = str(out_dir / "monitor.json")
    return result
