"""The training pipeline for real: KFP's local SubprocessRunner ran every step in its own process
(the session's main job, through Airflow), against Feast, Optuna and an MLflow SQLite store.
A training set too small to train on: `test_training_stops.py`."""

import pytest

from adaptive_delivery.platform.spec import get, profile
from adaptive_delivery.platform.training.tracking import Tracking

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-001")
STEPS = {"load", "drift", "tune", "train", "evaluate", "register", "gate"}


def test_the_pipeline_logs_every_step_tunes_from_the_defaults_and_registers_a_champion(main_job):
    """The main job ran MDL-001's pipeline on KFP's local runner into an empty registry."""
    assert main_job.result.returncode == 0, main_job.result.stdout[-3000:]
    tracking = Tracking(main_job.tracking_uri, "adaptive-delivery")
    client = tracking.client()
    exp = client.get_experiment_by_name("adaptive-delivery").experiment_id
    parent = client.search_runs([exp], "tags.model_id = 'MDL-001'", order_by=["attributes.start_time ASC"])[0]
    assert parent.info.status == "FINISHED" and parent.data.tags["promoted"] == "true"
    assert "no champion yet" in parent.data.tags["verdict"]
    assert parent.data.params["profile"] == main_job.profile and int(parent.data.params["rows_train"]) > 1_000
    assert client.get_model_version(SPEC.registered_name, "1").tags["gate"] == "passed"

    # every step is visible in MLflow: a parent run and one child per step, tuning trials below
    m = parent.data.metrics
    # the records oracle stops where the sender's records stop; the clairvoyant sees past them
    assert m["macro_roc_auc"] > 0.6 and m["oracle_macro_roc_auc"] > m["macro_roc_auc"]
    assert m["oracle_macro_roc_auc"] < m["clairvoyant_macro_roc_auc"] <= 1
    assert m["oracle_log_loss"] > m["clairvoyant_log_loss"]
    assert {"roc_auc_block", "precision_at_90_recall_macro", "macro_f1", "ece", "cv_macro_roc_auc"} <= set(m)
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {c.data.tags["step"] for c in children} == STEPS
    tune_run = next(c for c in children if c.data.tags["step"] == "tune")
    trials = client.search_runs([exp], f"tags.mlflow.parentRunId = '{tune_run.info.run_id}'")
    # the spec's baseline parameters first, then the profile's draws
    assert len(trials) == profile(main_job.profile).trials + 1 and all("cv_macro_roc_auc" in t.data.metrics for t in trials)
    first = next(t for t in trials if t.data.tags["optuna.trial"] == "0")
    assert first.data.params["max_depth"] == str(SPEC.baseline_params()["max_depth"])
    reports = {a.path for a in client.list_artifacts(parent.info.run_id, "reports")}
    assert reports == {"reports/evaluation.html", "reports/reliability.png", "reports/drift.html",
                       "reports/feature_importance.json"}

    # the registered model loads as a pyfunc and answers with probabilities and an action
    import mlflow.pyfunc
    import pandas as pd

    holdout = pd.read_parquet(sorted((main_job.out / "kfp").rglob("holdout"))[0])
    model = mlflow.pyfunc.load_model(f"models:/{SPEC.registered_name}/1")
    out = model.predict(holdout.head(20))
    assert list(out.columns[-1:]) == ["action"] and out.shape == (20, 6)
    probabilities = out[[c for c in out.columns if c.startswith("p_")]].to_numpy()
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-6
