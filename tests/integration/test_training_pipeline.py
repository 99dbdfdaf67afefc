"""The training pipeline for real: KFP's local SubprocessRunner runs every step in its own process,
against Feast, Optuna and an MLflow SQLite store, on a small simulated world."""

import subprocess
import sys

import pytest

from adaptive_delivery.platform.spec import get, profile
from adaptive_delivery.platform.training.registry import CHALLENGER, CHAMPION
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate
from pipelines.training import run_local

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-001")
STEPS = {"load", "drift", "tune", "train", "evaluate", "register", "gate"}


def _world(root, spark, subscribers, days, seed):
    from adaptive_delivery.delivery.features.spark_jobs import build_features

    simulate(WorldConfig(subscribers=subscribers, days=days, seed=seed), root, progress=False)
    build_features(root / "lake", root / "features", spark)
    return root


@pytest.fixture(scope="module")
def training_world(tmp_path_factory, spark):
    """3,000 subscribers over 12 days: 5 days to train on, 7 held out."""
    return _world(tmp_path_factory.mktemp("training_world"), spark, 3_000, 12, 5)


def _run(world, tracking):
    return run_local(SPEC, lake=world / "lake", features=world / "features", feast_home=world / "feast",
                     tracking_uri=tracking.uri, pipeline_root=world / "kfp", truth_dir=world / "truth", profile="quick",
                     experiment=tracking.experiment)


def test_pipeline_registers_a_challenger_gates_it_and_a_second_run_meets_the_champion(training_world, tmp_path):
    tracking = Tracking(default_tracking_uri(tmp_path), "pipeline-test")
    first = _run(training_world, tracking)
    client = tracking.client()
    assert first.startswith("PROMOTE") and "no champion yet" in first
    assert str(client.get_model_version_by_alias(SPEC.registered_name, CHAMPION).version) == "1"

    # every step is visible in MLflow: a parent run and one child per step, tuning trials below
    exp = client.get_experiment_by_name("pipeline-test").experiment_id
    parent = client.search_runs([exp], "tags.model_id = 'MDL-001'")[0]
    assert parent.info.status == "FINISHED" and parent.data.tags["promoted"] == "true"
    assert parent.data.params["profile"] == "quick" and int(parent.data.params["rows_train"]) > 1_000
    m = parent.data.metrics
    assert 0.5 < m["macro_roc_auc"] <= 1 and 0.5 < m["oracle_macro_roc_auc"] <= 1
    # the records oracle stops where the sender's records stop; the clairvoyant sees past them
    assert m["oracle_macro_roc_auc"] < m["clairvoyant_macro_roc_auc"] <= 1
    assert m["oracle_log_loss"] > m["clairvoyant_log_loss"]
    assert {"roc_auc_block", "precision_at_90_recall_macro", "macro_f1", "ece", "cv_macro_roc_auc"} <= set(m)
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {c.data.tags["step"] for c in children} == STEPS
    tune_run = next(c for c in children if c.data.tags["step"] == "tune")
    trials = client.search_runs([exp], f"tags.mlflow.parentRunId = '{tune_run.info.run_id}'")
    # the spec's baseline parameters first, then the quick profile's four draws
    assert len(trials) == profile("quick").trials + 1 and all("cv_macro_roc_auc" in t.data.metrics for t in trials)
    first = next(t for t in trials if t.data.tags["optuna.trial"] == "0")
    assert first.data.params["max_depth"] == str(SPEC.baseline_params()["max_depth"])
    reports = {a.path for a in client.list_artifacts(parent.info.run_id, "reports")}
    assert reports == {"reports/evaluation.html", "reports/reliability.png", "reports/drift.html",
                       "reports/feature_importance.json"}

    # the registered model loads as a pyfunc and answers with probabilities and an action
    import mlflow.pyfunc
    import pandas as pd

    holdout = pd.read_parquet(next((training_world / "kfp").rglob("holdout")))
    model = mlflow.pyfunc.load_model(f"models:/{SPEC.registered_name}@{CHAMPION}")
    out = model.predict(holdout.head(20))
    assert list(out.columns[-1:]) == ["action"] and out.shape == (20, 6)

    second = _run(training_world, tracking)
    assert "vs champion" in second
    assert str(client.get_model_version_by_alias(SPEC.registered_name, CHALLENGER).version) == "2"
    tags = client.get_model_version(SPEC.registered_name, "2").tags
    assert tags["gate"] in {"passed", "failed"} and "vs champion" in tags["gate_reasons"]


def test_a_too_small_training_set_stops_the_pipeline_and_registers_nothing(tmp_path, spark):
    world = _world(tmp_path / "short", spark, 800, 3, 2)  # three days: all of it is holdout
    mlflow_home = tmp_path / "mlflow"
    cmd = [sys.executable, "-m", "adaptive_delivery.cli", "model", "train", "MDL-001", "--world", str(world),
           "--mlflow-home", str(mlflow_home)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stdout[-2000:]
    assert "training stopped" in result.stdout and "training set too small" in result.stdout
    client = Tracking(default_tracking_uri(mlflow_home)).client()
    assert client.search_registered_models() == []
    failed = client.search_runs([e.experiment_id for e in client.search_experiments()], "attributes.status = 'FAILED'")
    parents = [r for r in failed if "model_id" in r.data.tags]
    assert len(parents) == 1 and parents[0].data.tags["failed_step"] == "load"
    assert "training set too small" in parents[0].data.tags["stopped_reason"]
    assert {r.data.tags.get("step") for r in failed if r not in parents} == {"load"}
