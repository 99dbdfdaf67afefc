"""The alert rules and the Grafana dashboard read only metrics the code exports, and the exports
parse as Prometheus text."""

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from adaptive_delivery.platform.monitoring import metrics

MONITORING = Path(__file__).resolve().parents[2] / "k8s" / "monitoring"
FUNCTIONS = {"sum", "max", "min", "avg", "rate", "increase", "histogram_quantile", "stddev_over_time", "by", "without",
             "and", "or", "unless", "on", "ignoring", "bool"}
DURATION = re.compile(r"^\d+(ms|s|m|h|d|w)$")


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (label matchers, groupings and ranges removed)."""
    if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
        raise ValueError(f"unbalanced brackets in {expr!r}")
    bare = re.sub(r"\{[^}]*\}", "", expr)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    tokens = re.findall(r"\b[A-Za-z_:][A-Za-z0-9_:]*\b(?!\s*\()", bare)
    return {t for t in tokens if t not in FUNCTIONS and not re.fullmatch(r"\d+", t)}


def test_metric_name_extraction():
    assert metric_names('histogram_quantile(0.99, sum by (le, model) (rate(x_bucket{a="b"}[5m]))) > 0.05') == {"x_bucket"}
    with pytest.raises(ValueError):
        metric_names("sum(rate(x[5m])")


def _rules() -> list[dict]:
    doc = yaml.safe_load((MONITORING / "alerts.rules.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_alert_rules_are_well_formed_and_read_exported_metrics():
    rules = _rules()
    assert {"ModelPerformanceDegradation", "HighBlockRate", "FeatureComputationFailure", "ModelLatencyHigh",
            "FeatureShift"} <= {r["alert"] for r in rules}
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "high", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert "for" not in rule or DURATION.match(rule["for"]), rule["alert"]
        assert metric_names(rule["expr"]) <= metrics.exposed_names(), rule["alert"]


def test_spec_thresholds_are_the_rules_thresholds():
    by_name = {r["alert"]: r for r in _rules()}
    assert by_name["ModelPerformanceDegradation"]["expr"].endswith("< 0.83") and by_name["ModelPerformanceDegradation"]["for"] == "1h"
    assert by_name["HighBlockRate"]["expr"] == "block_rate > 0.01" and by_name["HighBlockRate"]["for"] == "15m"
    assert by_name["FeatureComputationFailure"]["expr"].endswith("[5m]) > 100")
    assert by_name["ModelLatencyHigh"]["expr"].endswith("> 0.05")


def test_dashboard_panels_read_exported_metrics():
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] == "adaptive-delivery"
    targets = [t for p in dash["panels"] for t in p.get("targets", [])]
    assert len(targets) >= 10
    for t in targets:
        assert metric_names(t["expr"]) <= metrics.exposed_names(), t["expr"]


def test_monitor_export_is_prometheus_text(tmp_path):
    result = {"model_id": "MDL-001", "version": "3", "current": 0.78, "oracle": 0.86, "drop": 0.031,
              "data_drift": {"share": 0.2}, "prediction_drift": {"share": 0.6}, "shifted": {"f1": 2.5},
              "retrain": ["AUC fell"], "block_rate_by_provider": {"gmail": 0.02, "yahoo": 0.001}}
    path = metrics.monitor_metrics(result).export(tmp_path)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(Path(path).read_text()) for s in f.samples}
    assert samples[("model_auc", (("model", "MDL-001"), ("version", "3")))] == 0.78
    assert samples[("block_rate", (("isp", "gmail"),))] == 0.02
    assert samples[("retraining_triggered_total", (("model", "MDL-001"),))] == 1.0
    assert samples[("feature_shift_sd", (("feature", "f1"), ("model", "MDL-001")))] == 2.5
    assert {name for name, _ in samples} <= metrics.exposed_names()
