"""Prometheus metrics of the loop, named as spec §7.2's dashboards and alerts query them.

Serving processes (MLServer) expose their metrics on MLServer's own metrics endpoint; batch jobs
(monitoring, the throttle harness, feature builds) end before a scraper could reach them, so they
write the node-exporter textfile format (`AD_HOME/metrics/<job>.prom`, embedded default) or push
to a Prometheus Pushgateway (`AD_PUSHGATEWAY`, cluster). The rule file and the Grafana dashboard
in `k8s/monitoring/` read only names declared here (tests check it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    push_to_gateway,
    write_to_textfile,
)

# Latency buckets (seconds): spec §3.1 asks p99 < 10 ms for 1,000 messages; §7.2 alerts above 50 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: str  # gauge | counter | histogram
    help: str
    labels: tuple[str, ...] = ()


CATALOGUE: tuple[MetricDef, ...] = (
    MetricDef("model_auc", "gauge", "Primary ROC-AUC of a model's champion on the latest labelled outcomes.",
              ("model", "version")),
    MetricDef("model_auc_oracle", "gauge", "The simulator oracle's ROC-AUC on the same outcomes (the best possible).",
              ("model",)),
    MetricDef("model_auc_served", "gauge", "Primary ROC-AUC of the champion's served decisions (the prediction "
              "log) on the outcomes that came for them.", ("model", "version")),
    MetricDef("model_auc_drop", "gauge", "Relative drop of the champion's AUC against its registration score.",
              ("model",)),
    MetricDef("feature_drift_share", "gauge", "Share of a model's features Evidently finds drifted vs training.",
              ("model",)),
    MetricDef("prediction_drift_share", "gauge", "Share of predicted class probabilities that drifted vs training.",
              ("model",)),
    MetricDef("feature_shift_sd", "gauge", "|mean(current) - mean(training)| / sd(training) of a shifted feature.",
              ("model", "feature")),
    MetricDef("calibration_gap", "gauge", "Observed minus predicted class rate where monitoring found a gap.",
              ("model", "segment", "class")),
    MetricDef("retraining_triggered", "counter", "Retraining runs requested by monitoring, by model.", ("model",)),
    MetricDef("prediction_latency_seconds", "histogram", "Time to answer one inference request (one batch).",
              ("model",)),
    MetricDef("prediction_batch_size", "histogram", "Messages per inference request.", ("model",)),
    MetricDef("throttle_recommended_rate", "gauge", "Sending rate (messages/min) the throttle policy recommends.",
              ("isp",)),
    MetricDef("rl_action", "gauge", "The throttle policy's last multiplier on the base rate.", ("isp", "model")),
    MetricDef("block_rate", "gauge", "Share of the window's labelled messages the provider blocked.", ("isp",)),
    MetricDef("feature_computation_errors", "counter", "Events quarantined or rows rejected by feature builds.",
              ("stage",)),
    MetricDef("feature_rows", "gauge", "Rows in a published feature table.", ("table",)),
)
BY_NAME = {m.name: m for m in CATALOGUE}


def exposed_names() -> set[str]:
    """Every series name a scraper can see (histograms add _bucket/_sum/_count, counters _total)."""
    out: set[str] = set()
    for m in CATALOGUE:
        out.add(m.name)
        if m.kind == "histogram":
            out |= {f"{m.name}_bucket", f"{m.name}_sum", f"{m.name}_count"}
        if m.kind == "counter":
            out |= {f"{m.name}_total", f"{m.name}_created"}
    return out


def make(name: str, registry: CollectorRegistry):
    """The prometheus_client object of a catalogued metric, registered in `registry`."""
    m = BY_NAME[name]
    if m.kind == "gauge":
        return Gauge(m.name, m.help, m.labels, registry=registry)
    if m.kind == "counter":
        return Counter(m.name, m.help, m.labels, registry=registry)
    return Histogram(m.name, m.help, m.labels, registry=registry, buckets=LATENCY_BUCKETS
                     if name.endswith("_seconds") else (1, 10, 100, 1_000, 10_000))


class JobMetrics:
    """The metrics one batch job sets, exported once at its end (textfile or Pushgateway)."""

    def __init__(self, job: str) -> None:
        self.job = job
        self.registry = CollectorRegistry()
        self._metrics: dict[str, object] = {}

    def metric(self, name: str):
        if name not in self._metrics:
            self._metrics[name] = make(name, self.registry)
        return self._metrics[name]

    def set(self, name: str, value: float, **labels: str) -> None:
        m = self.metric(name)
        (m.labels(**labels) if labels else m).set(float(value))

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        m = self.metric(name)
        (m.labels(**labels) if labels else m).inc(float(value))

    def export(self, home: str | Path, pushgateway: str | None = None) -> str:
        """Push to `pushgateway` when given (cluster), else write `home/metrics/<job>.prom`."""
        pushgateway = pushgateway or os.environ.get("AD_PUSHGATEWAY")
        if pushgateway:
            push_to_gateway(pushgateway, job=self.job, registry=self.registry)
            return pushgateway
        path = Path(home) / "metrics" / f"{self.job}.prom"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), self.registry)
        return str(path)


def monitor_metrics(result: Mapping[str, object]) -> JobMetrics:
    """The metrics of one monitoring check (`monitoring.checks.MonitorResult.as_dict()`)."""
    model = str(result["model_id"])
    out = JobMetrics(f"monitor_{model.lower().replace('-', '_')}")
    if result.get("current") is not None:
        out.set("model_auc", result["current"], model=model, version=str(result.get("version")))
    if result.get("oracle") is not None:
        out.set("model_auc_oracle", result["oracle"], model=model)
    if result.get("drop") is not None:
        out.set("model_auc_drop", result["drop"], model=model)
    served = result.get("served") or {}
    if served.get(str(result.get("metric"))) is not None:
        out.set("model_auc_served", served[str(result["metric"])], model=model, version=str(result.get("version")))
    out.set("feature_drift_share", (result.get("data_drift") or {}).get("share", 0.0), model=model)
    out.set("prediction_drift_share", (result.get("prediction_drift") or {}).get("share", 0.0), model=model)
    for feature, sd in (result.get("shifted") or {}).items():
        out.set("feature_shift_sd", sd, model=model, feature=feature)
    for gap in result.get("calibration") or []:
        out.set("calibration_gap", gap["observed"] - gap["predicted"], model=model, segment=gap["segment"],
                **{"class": gap["class"]})
    out.inc("retraining_triggered", 1.0 if result.get("retrain") else 0.0, model=model)
    for isp, rate in (result.get("block_rate_by_provider") or {}).items():
        out.set("block_rate", rate, isp=isp)
    return out


def feature_metrics(rows: Mapping[str, int], errors: Iterable[tuple[str, int]] = ()) -> JobMetrics:
    """Rows per published feature table, and errors by stage (quarantined events, failed builds)."""
    out = JobMetrics("features")
    for table, n in rows.items():
        out.set("feature_rows", n, table=table)
    out.inc("feature_computation_errors", 0.0, stage="build")
    for stage, n in errors:
        out.inc("feature_computation_errors", n, stage=stage)
    return out
