"""`airflow dags test`, for real, on a tiny world: the world DAG simulates the data interval, the
daily feature DAG builds with Spark and materialises into Feast, MDL-001's retraining DAG runs its
Kubeflow pipeline into MLflow, and the monitoring DAG checks the new champion."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from adaptive_delivery.delivery import jobs
from adaptive_delivery.twin import live

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAGS = Path(__file__).resolve().parents[2] / "dags"
AIRFLOW = str(Path(sys.executable).parent / "airflow")


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    env = {**os.environ, "AIRFLOW_HOME": str(root / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__PARALLELISM": "2",
           "AD_PROFILE": "local", "AD_HOME": str(root / "home"), "AD_WORLD_SUBSCRIBERS": "2000",
           "AD_WORLD_HORIZON_DAYS": "12"}
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def dags_test(env: dict, dag_id: str, day: str, conf: dict | None = None) -> str:
    cmd = [AIRFLOW, "dags", "test", *(["-c", json.dumps(conf)] if conf else []), dag_id, day]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "state=success" in out, out[-4000:]
    return out


def test_feature_then_retraining_then_monitoring_dags(loop):
    dep = jobs.deployment(loop)
    dags_test(loop, "ad_world", "2026-03-12")  # a manual run covers [03-11, 03-12): ten days simulated
    world = live.status(dep.home)
    assert world["days_run"] == 10 and world["today"] == "2026-03-12"

    dags_test(loop, "ad_features_daily", "2026-03-12")
    for table in ("subscriber", "sender_ip", "provider", "content", "calendar"):
        assert list((dep.features / table).glob("*.parquet")), table
    assert (dep.feast_home / "online.db").exists()
    online = jobs.online_sample(dep, 3)
    assert all(v is not None for v in online["subscriber_features__engagement_score"])

    out = dags_test(loop, "ad_retrain_mdl_001", "2026-03-12", conf={"reason": "integration test"})
    assert "PROMOTE" in out or "STOP" in out
    client = MlflowClient(dep.tracking_uri)
    versions = client.search_model_versions("name = 'mdl-001-deliverability-predictor'")
    assert [str(v.version) for v in versions] == ["1"]

    dags_test(loop, "ad_monitor", "2026-03-12")
    reports = list((dep.reports / "monitor" / "MDL-001").glob("*/monitor.json"))
    assert reports, "the monitoring DAG wrote no report"
    verdict = json.loads(reports[0].read_text())
    assert verdict["rows_current"] > 0 and verdict["oracle"] is not None and verdict["current"] is not None
    assert (reports[0].parent / "data_drift.html").stat().st_size > 10_000
    monitoring = client.get_experiment_by_name(jobs.MONITOR_EXPERIMENT)
    assert client.search_runs([monitoring.experiment_id])

    steps = [s["step"] for s in jobs.timeline(dep)]
    assert steps[:1] == ["world"] and {"features", "materialize", "retrain", "monitor"} <= set(steps)
