"""DagBag integrity: every DAG imports, is tagged, owned, retried at least twice and bounded in
time, retraining DAGs follow their spec's schedule, and parsing loads nothing heavy."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adaptive_delivery.delivery.features import spark_jobs
from adaptive_delivery.platform.spec import all_specs

DAGS = Path(__file__).resolve().parents[2] / "dags"
HEAVY = ("torch", "xgboost", "mlflow", "pyspark", "feast", "kfp", "stable_baselines3", "sklearn", "evidently")

PARSE = """
import json, sys
from airflow.models import DagBag
bag = DagBag(dag_folder={dags!r})
dags = {{d.dag_id: {{"tags": sorted(d.tags), "retries": d.default_args.get("retries"), "owner": d.owner,
                     "timeout": bool(d.dagrun_timeout or d.default_args.get("execution_timeout")),
                     "timetable": type(d.timetable).__name__, "schedule": d.schedule if isinstance(d.schedule, str) else None,
                     "tasks": sorted(t.task_id for t in d.tasks)}} for d in bag.dags.values()}}
print(json.dumps({{"errors": {{k: v[-500:] for k, v in bag.import_errors.items()}}, "dags": dags,
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    # PYTHONPATH: Airflow's DAG processor puts the DAGs folder on the import path (ad_common)
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(DAGS)}
    done = subprocess.run([sys.executable, "-c", PARSE.format(dags=str(DAGS), heavy=HEAVY)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_import_errors(bag):
    assert bag["errors"] == {}


def test_every_dag_is_tagged_owned_retried_and_bounded(bag):
    assert bag["dags"]
    for dag_id, d in bag["dags"].items():
        assert "adaptive-delivery" in d["tags"], dag_id
        assert d["retries"] >= 2, dag_id
        assert d["owner"] == "ml-platform", dag_id
        assert d["timeout"], dag_id


def test_the_loop_has_its_dags(bag):
    expected = {"ad_main", "ad_world", "ad_features_hourly", "ad_features_daily", "ad_monitor", "ad_rollout",
                "ad_feature_discovery", "ad_campaign_features", "ad_knowledge", "ad_kpi", *(f"ad_retrain_{s.model_id.lower().replace('-', '_')}" for s in all_specs())}
    assert expected <= set(bag["dags"])


def test_retraining_follows_each_spec_schedule(bag):
    for spec in all_specs():
        d = bag["dags"][f"ad_retrain_{spec.model_id.lower().replace('-', '_')}"]
        assert d["schedule"] == spec.schedule.cron, spec.model_id
        tasks = ["start_rollout", "summarise", "train"] if spec.trainer == "pipeline" else ["summarise", "train"]
        assert spec.model_id in d["tags"] and d["tasks"] == tasks


def test_parsing_imports_nothing_heavy(bag):
    assert bag["heavy"] == []


def test_hourly_feature_dag_builds_the_packages_hourly_tables():
    """The DAG keeps its own copy of the table names so that parsing it needs no Spark."""
    tree = ast.parse((DAGS / "ad_features.py").read_text())
    copies = [ast.literal_eval(n.value) for n in tree.body
              if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "HOURLY_TABLES" for t in n.targets)]
    assert copies == [spark_jobs.HOURLY_TABLES]
