"""Monitoring a model that learned from logs rather than from the feature table (a spec whose
`policy_trainer` can `observe`: MDL-004's reputation scores, MDL-008's provider groups).

Such a model is trained in the twin's worlds, so its training rows are not the deployment's. What
it reads is recomputed from the deployment's own logs instead: its inputs over the judged window
beside the same inputs over the days before it (the deployment's recent normal), its outputs on
both, and whatever the logs already tell of its outcomes. The checks are the platform's usual ones:
Evidently's data and prediction drift and PSI/KS on the inputs, a gated metric measured on the
window's outcomes against its floor and against what the version scored at registration.

Retraining in the twin's worlds would not answer what the deployment's logs show (they are not its
training data), so these findings alert a person (the twin may need recalibrating) rather than
retrain; only a model's own `Observed.retrain` reasons (and a missing champion) retrain, and drift
past the act level does where the spec says `drift_retrains`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from adaptive_delivery.platform.monitoring.checks import (
    MAX_FEATURE_SHIFT_SD,
    MonitorResult,
    feature_shift,
)
from adaptive_delivery.platform.monitoring.drift import check_drift, drift_columns
from adaptive_delivery.platform.monitoring.stability import check_stability
from adaptive_delivery.platform.spec import ModelSpec

# A registered metric this far below its registered value on the window alerts (relative).
MAX_LOG_METRIC_DROP = 0.05


@dataclass
class Observed:
    """What a model's `observe` read from the deployment's logs for one window."""

    reference: pd.DataFrame  # its inputs over the days before the window (one row per unit and snapshot)
    current: pd.DataFrame  # the same over the window
    reference_out: pd.DataFrame  # its outputs on the reference rows (numeric columns)
    current_out: pd.DataFrame  # and on the window's
    # registry metrics measured on the window's outcomes, named as the version logged them; a
    # metric left out could not be judged (too few outcomes: `alerts` says so)
    metrics: dict[str, float] = field(default_factory=dict)
    labelled: int = 0  # outcomes the metrics rest on
    alerts: list[str] = field(default_factory=list)  # the model's own findings for a person
    retrain: list[str] = field(default_factory=list)  # the model's own reasons to retrain
    details: dict = field(default_factory=dict)  # what the report carries besides (per unit, say)


def judge_metrics(spec: ModelSpec, measured: dict[str, float], registered: dict[str, float]) -> list[str]:
    """Alerts from the metrics measured on the window: past a gate's floor, or more than
    MAX_LOG_METRIC_DROP below the value registered."""
    alerts = []
    for gate in spec.gates:
        value = measured.get(gate.metric)
        if value is None:
            continue
        worse = gate.floor is not None and (value < gate.floor if gate.higher_is_better else value > gate.floor)
        before = registered.get(gate.metric)
        if worse:
            alerts.append(f"{gate.metric} {value:.4f} on the deployment's logs is past its floor {gate.floor}: "
                          "the twin's worlds may no longer describe this deployment")
        elif before and gate.higher_is_better and (before - value) / abs(before) > MAX_LOG_METRIC_DROP:
            alerts.append(f"{gate.metric} {value:.4f} on the deployment's logs is "
                          f"{100 * (before - value) / abs(before):.0f}% below the {before:.4f} it scored at registration")
    return alerts


def check(spec: ModelSpec, observed: Observed, *, version: str, registered: dict[str, float] | None,
          out_dir: str | Path, window: tuple[datetime, datetime]) -> MonitorResult:
    """The platform's verdict on one window of a log-trained model (written to OUT/monitor.json,
    with the Evidently reports beside it)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    registered = registered or {}
    ref, cur = observed.reference, observed.current
    columns = drift_columns(ref, list(ref.columns), spec.drift_exempt) if len(ref) else []
    retrain, alerts = list(observed.retrain), [*observed.alerts, *judge_metrics(spec, observed.metrics, registered)]
    if not len(ref) or not len(cur):
        alerts.append(f"drift not judged: {len(ref)} reference and {len(cur)} current rows in the logs")
        data = pred = None
        shifted, stable = {}, None
    else:
        data = check_drift(ref, cur, columns, out_dir / "data_drift.html", drift_share=spec.drift_share)
        outputs = drift_columns(observed.reference_out, list(observed.reference_out.columns))
        pred = check_drift(observed.reference_out, observed.current_out, outputs, out_dir / "prediction_drift.html",
                           drift_share=spec.drift_share)
        shifted = feature_shift(ref, cur, columns)
        stable = check_stability(ref, cur, columns)
        alerts.extend(data.failures())
        if shifted:
            top = ", ".join(f"{k} ({v} SD)" for k, v in sorted(shifted.items(), key=lambda kv: -kv[1])[:5])
            alerts.append(f"{len(shifted)} input(s) shifted > {MAX_FEATURE_SHIFT_SD:.0f} SD: {top}")
        (retrain if spec.drift_retrains else alerts).extend(stable.retrain())
        alerts.extend(stable.alerts())
    metric = spec.primary_metric if spec.primary_metric in observed.metrics else next(iter(observed.metrics), None)
    floor = next((g.floor for g in spec.gates if g.metric == metric), None)
    result = MonitorResult(
        model_id=spec.model_id, version=str(version),
        window=(f"{window[0]:%Y-%m-%d %H:%M}", f"{window[1]:%Y-%m-%d %H:%M}"),
        rows_reference=len(ref), rows_current=len(cur), metric=metric or spec.primary_metric,
        current=None if metric is None else float(observed.metrics[metric]),
        registered=None if metric is None else registered.get(metric), oracle=None, floor=floor,
        data_drift=_drift_dict(data, len(columns)), prediction_drift=_drift_dict(pred, None), shifted=shifted,
        retrain=retrain, alerts=alerts, stability={} if stable is None else stable.as_dict(),
        reports={name: str(out_dir / f"{name}.html") for name, r in (("data_drift", data), ("prediction_drift", pred))
                 if r is not None})
    body = {**result.as_dict(), "source": "the deployment's logs", "measured": observed.metrics,
            "labelled": observed.labelled, "details": observed.details}
    (out_dir / "monitor.json").write_text(json.dumps(body, indent=2, default=str))
    result.reports["summary"] = str(out_dir / "monitor.json")
    return result


def _drift_dict(drift, checked: int | None) -> dict:
    if drift is None:
        return {"share": 0.0, "drifted": {}, "checked": 0, "summary": "not judged"}
    out = {"share": drift.share, "drifted": drift.drifted, "summary": drift.summary()}
    return out if checked is None else {**out, "checked": checked}
