"""Monitoring jobs: the world's calibration and the champion's drift and degradation checks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from adaptive_delivery.delivery.jobs.deployment import Deployment, record


def calibrate(dep: Deployment) -> dict:
    """The world's calibration report (rates beside public benchmarks) and its plot, in the home folder."""
    from adaptive_delivery.twin.report import write_report

    table = write_report(dep.home)
    overall, targets = table["overall"], table["targets"]
    rates = ", ".join(f"{name.removesuffix('_rate')} {overall[name]:.1%} (published {targets[name]:.1%})"
                      for name in ("inbox_rate", "bounce_rate", "block_rate"))
    record(dep, "calibrate", f"{int(overall['messages']):,} messages: {rates}")
    return table


# ---- monitoring: drift and degradation of the served models --------------------------------------
MONITOR_EXPERIMENT = "adaptive-delivery-monitoring"


# Reference rows drawn from the champion's training window (enough for the tests, quick to score).
REFERENCE_ROWS = 20_000


# The reference is the last week the champion trained on (its freshest picture of the world), and a
# check looks at the last three days of outcomes at least: one day of rare classes is too noisy.
REFERENCE_WINDOW = timedelta(days=7)


MONITOR_WINDOW = timedelta(days=3)


def previous_gaps(dep: Deployment, model_id: str, version: str, before: str) -> list[dict]:
    """The calibration gaps of the newest earlier check of the same champion version (empty when
    there is none): a gap seen two days running retrains, one day alerts."""

    earlier = sorted(p for p in (dep.reports / "monitor" / model_id).glob("*/monitor.json") if p.parent.name < before)
    if not earlier:
        return []
    report = json.loads(earlier[-1].read_text())
    if str(report.get("version")) != str(version):
        return []  # the newest earlier check judged another champion: start again
    return report.get("calibration") or []


def monitor(dep: Deployment, model_id: str, start: datetime, end: datetime) -> dict:
    """Check the champion of `model_id` on the outcomes of [start, end): Evidently data and
    prediction drift against its training window, feature shift, and its primary metric on the
    labelled outcomes beside the oracle's. Reports go to AD_HOME/reports and to MLflow."""
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from adaptive_delivery.platform.monitoring.checks import monitor as check
    from adaptive_delivery.platform.monitoring.metrics import monitor_metrics
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.steps import (
        referee,
        registered_bundle,
        training_frame,
    )

    spec = get(model_id)
    if not spec.monitored:
        raise ValueError(f"{model_id} is not trained on the feature table and cannot observe the deployment's logs; "
                         "its health is judged by its rails, rollouts and evaluations, not drift")
    if not spec.trains_on_features:
        return monitor_from_logs(dep, spec, start, end)
    mlflow.set_tracking_uri(dep.tracking_uri)  # models:/ URIs resolve through the global registry
    mlflow.set_registry_uri(dep.tracking_uri)
    client = MlflowClient(dep.tracking_uri, registry_uri=dep.tracking_uri)
    version, registered = alias_metrics(client, spec, CHAMPION)
    if version is None:
        record(dep, "monitor", f"{model_id}: no champion yet, nothing to monitor", model_id=model_id)
        return {"model_id": model_id, "retrain": [f"{model_id} has no champion"], "alerts": [], "summary": "no champion"}
    params = _training_params(client, client.get_model_version(spec.registered_name, version).run_id)
    labels = spec.labels(dep.lake)
    ts = pd.to_datetime(labels["event_timestamp"], utc=True)
    ref_until = pd.Timestamp(params["train_until"])
    ref_until = ref_until.tz_localize("UTC") if ref_until.tzinfo is None else ref_until
    in_ref = (ts > ref_until - REFERENCE_WINDOW) & (ts <= ref_until)
    start = min(pd.Timestamp(start), pd.Timestamp(end) - MONITOR_WINDOW)
    in_cur = (ts >= start) & (ts < pd.Timestamp(end))
    reference = labels[in_ref]
    if len(reference) > REFERENCE_ROWS:
        reference = reference.sample(REFERENCE_ROWS, random_state=0)
    frame = training_frame(spec, pd.concat([reference, labels[in_cur]]), dep.features, dep.feast_home)
    frame_ts = pd.to_datetime(frame["event_timestamp"], utc=True)
    ref_frame = frame[frame_ts <= ref_until].reset_index(drop=True)
    cur_frame = frame[frame_ts >= pd.Timestamp(start)].reset_index(drop=True)
    if cur_frame.empty:
        record(dep, "monitor", f"{model_id}: no labelled outcomes in {start} .. {end}", model_id=model_id)
        return {"model_id": model_id, "retrain": [], "alerts": ["no labelled outcomes in the window"], "summary": "no data"}
    oracle = None
    if (dep.truth / "messages").is_dir():
        oracle = referee(spec, dep.truth, cur_frame)[1]
    out_dir = dep.reports / "monitor" / model_id / f"{end:%Y-%m-%dT%H%M}"
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = registered_bundle(client, spec, f"models:/{spec.registered_name}/{version}")
    result = check(spec, bundle, ref_frame, cur_frame, version=version,
                   registered=(registered or {}).get(spec.primary_metric), out_dir=out_dir, window=(start, end),
                   oracle_proba=oracle, seen_before=previous_gaps(dep, model_id, version, out_dir.name))
    served = served_quality(spec, dep.predictions, dep.lake, version)
    _log_monitor_run(dep.tracking_uri, result, out_dir, served)
    out = {**result.as_dict(), "block_rate_by_provider": provider_block_rates(spec, labels[in_cur]), "served": served}
    monitor_metrics(out).export(dep.home)
    record(dep, "monitor", result.summary(), model_id=model_id, version=version, retrain=result.retrain,
           alerts=result.alerts, report=str(out_dir))
    return out


def monitor_from_logs(dep: Deployment, spec, start: datetime, end: datetime) -> dict:
    """Check the champion of a model trained on the twin's logs (`PolicyTrainer.observe`) on the
    deployment's own logs of [start, end) (at least MONITOR_WINDOW) beside the days before:
    drift of its inputs and outputs, and the gated metrics its outcomes already tell."""
    import tempfile

    import pandas as pd

    from adaptive_delivery.platform.monitoring.logs import check
    from adaptive_delivery.platform.monitoring.metrics import monitor_metrics
    from adaptive_delivery.platform.training.policies import served_file, trainer_of
    from adaptive_delivery.platform.training.registry import CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.tracking import Tracking

    client = Tracking(dep.tracking_uri).client()  # models:/ URIs resolve through the global registry
    version, registered = alias_metrics(client, spec, CHAMPION)
    if version is None:
        record(dep, "monitor", f"{spec.model_id}: no champion yet, nothing to monitor", model_id=spec.model_id)
        return {"model_id": spec.model_id, "retrain": [f"{spec.model_id} has no champion"], "alerts": [],
                "summary": "no champion"}
    start = min(pd.Timestamp(start), pd.Timestamp(end) - MONITOR_WINDOW).to_pydatetime()
    with tempfile.TemporaryDirectory() as tmp:
        model_file = served_file(dep.tracking_uri, spec, version, Path(tmp))
        observed = trainer_of(spec).observe(dep.lake, model_file, start, end)
    out_dir = dep.reports / "monitor" / spec.model_id / f"{end:%Y-%m-%dT%H%M}"
    result = check(spec, observed, version=version, registered=registered, out_dir=out_dir, window=(start, end))
    _log_monitor_run(dep.tracking_uri, result, out_dir)
    out = {**result.as_dict(), "measured": observed.metrics, "details": observed.details}
    monitor_metrics(out).export(dep.home)
    record(dep, "monitor", result.summary(), model_id=spec.model_id, version=version, retrain=result.retrain,
           alerts=result.alerts, report=str(out_dir))
    return out


def served_quality(spec, predictions: Path, lake: Path, version: str) -> dict | None:
    """The champion's served decisions attributed to the outcomes that came (`platform.feedback`:
    the offline evaluation's report, per provider, decisions still pending); None where it served
    none. On real traffic this is the figure that needs no simulator: what the model said, what
    happened."""
    from adaptive_delivery.platform import feedback

    if not predictions.exists():
        return None
    return feedback.report(spec, predictions, lake)["versions"].get(str(version))


def provider_block_rates(spec, labels) -> dict[str, float]:
    """Share of the window's labelled messages each provider blocked (spec §7.2's block-rate alert)."""
    if "block" not in spec.classes or "provider" not in labels or labels.empty:
        return {}
    blocked = labels["label"] == spec.classes.index("block")
    return {str(p): round(float(v), 5) for p, v in blocked.groupby(labels["provider"]).mean().items()}


def _training_params(client, run_id: str) -> dict[str, str]:
    """A training run's parameters, with those its steps logged on their own (nested) runs."""
    run = client.get_run(run_id)
    params = dict(run.data.params)
    if "train_from" not in params:
        for child in client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"):
            params = {**child.data.params, **params}
    if "train_from" not in params:
        raise KeyError(f"training run {run_id} did not record its training window (train_from/train_until)")
    return params


def _log_monitor_run(tracking_uri: str, result, out_dir: Path, served: dict | None = None) -> str:
    """One MLflow run per check: its metrics, verdict and the Evidently HTML reports (its
    artifacts beside the tracking store, never in the working directory)."""
    from adaptive_delivery.platform.training.tracking import Tracking

    tracking = Tracking(tracking_uri, MONITOR_EXPERIMENT)
    client, experiment_id = tracking.client(), tracking.experiment_id()
    run = client.create_run(experiment_id, run_name=f"monitor {result.model_id} {result.window[1]}",
                            tags={"model_id": result.model_id, "version": result.version,
                                  "verdict": ("RETRAIN: " + "; ".join(result.retrain))[:4900] if result.retrain else "OK",
                                  "alerts": "; ".join(result.alerts)[:4900]})
    metrics = {"rows_current": result.rows_current, "rows_reference": result.rows_reference,
               "data_drift_share": result.data_drift["share"], "prediction_drift_share": result.prediction_drift["share"],
               "shifted_features": len(result.shifted), "retrain": float(bool(result.retrain))}
    for name, value in ((result.metric, result.current), (f"oracle_{result.metric}", result.oracle),
                        (f"{result.metric}_drop", result.drop),
                        (f"served_{result.metric}", (served or {}).get(result.metric)),
                        ("served_attributed", (served or {}).get("attributed"))):
        if value is not None:
            metrics[name] = float(value)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, float(value))
    for path in out_dir.iterdir():
        client.log_artifact(run.info.run_id, str(path), "reports")
    client.set_terminated(run.info.run_id)
    return run.info.run_id
