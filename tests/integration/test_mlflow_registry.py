"""The champion/challenger gate on a real MLflow registry (SQLite store, created once per session)."""

import dataclasses

import pytest

from adaptive_delivery.platform.spec import Gate, get
from adaptive_delivery.platform.training.registry import (
    CHALLENGER,
    CHAMPION,
    evaluate_gates,
    gate_and_promote,
    register_challenger,
)


@pytest.fixture(scope="module")
def mlflow_client(tmp_path_factory):
    import mlflow
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    # artifacts beside the store, never in the working directory
    client.create_experiment("gate-tests", artifact_location=(root / "artifacts").as_uri())
    mlflow.set_experiment("gate-tests")
    return client


def _run_with(metrics: dict) -> str:
    import mlflow

    with mlflow.start_run() as run:
        mlflow.log_metrics(metrics)
        mlflow.log_text("placeholder artifact standing for the model files", "model/README.txt")
    return run.info.run_id


def test_first_model_becomes_champion_then_a_worse_one_is_stopped(mlflow_client):
    spec = dataclasses.replace(get("MDL-001"), model_id="MDL-001", name="Gate Test One")
    v1 = register_challenger(mlflow_client, spec, _run_with({"macro_roc_auc": 0.80}))
    first = gate_and_promote(mlflow_client, spec, v1, {"macro_roc_auc": 0.80})
    assert first.passed and "no champion yet" in first.summary()
    assert str(mlflow_client.get_model_version_by_alias(spec.registered_name, CHAMPION).version) == v1

    v2 = register_challenger(mlflow_client, spec, _run_with({"macro_roc_auc": 0.77}))
    assert str(mlflow_client.get_model_version_by_alias(spec.registered_name, CHALLENGER).version) == v2
    second = gate_and_promote(mlflow_client, spec, v2, {"macro_roc_auc": 0.77})
    assert not second.passed and "3.8% worse" in second.summary() and second.champion_version == v1
    assert str(mlflow_client.get_model_version_by_alias(spec.registered_name, CHAMPION).version) == v1
    assert mlflow_client.get_model_version(spec.registered_name, v2).tags["gate"] == "failed"

    v3 = register_challenger(mlflow_client, spec, _run_with({"macro_roc_auc": 0.795}))
    third = gate_and_promote(mlflow_client, spec, v3, {"macro_roc_auc": 0.795})
    assert third.passed  # within the allowed 2% drop
    assert str(mlflow_client.get_model_version_by_alias(spec.registered_name, CHAMPION).version) == v3


def test_drift_failure_blocks_promotion_even_when_metrics_pass(mlflow_client):
    spec = dataclasses.replace(get("MDL-001"), name="Gate Test Two")
    v = register_challenger(mlflow_client, spec, _run_with({"macro_roc_auc": 0.9}))
    verdict = gate_and_promote(mlflow_client, spec, v, {"macro_roc_auc": 0.9},
                               extra_failures=["data drift: 7 of 40 features drifted between training and holdout"])
    assert not verdict.passed and "data drift" in verdict.summary()


def test_floors_and_lower_is_better_gates():
    spec = dataclasses.replace(get("MDL-001"), gates=(Gate("macro_roc_auc", floor=0.7), Gate("ece", max_drop=0.5, higher_is_better=False)))
    ok, reasons = evaluate_gates(spec, {"macro_roc_auc": 0.65, "ece": 0.02}, None)
    assert not ok and "past the floor" in reasons[0]
    ok, reasons = evaluate_gates(spec, {"macro_roc_auc": 0.8, "ece": 0.05}, {"macro_roc_auc": 0.8, "ece": 0.02})
    assert not ok and "150.0% worse" in " ".join(reasons)


def test_a_missing_metric_fails_the_gate_and_every_other_gate_still_speaks():
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import evaluate_gates

    passed, reasons = evaluate_gates(get("MDL-003"), {"oracle_share": 0.5, "rate_block_rate": 0.01}, None)
    assert not passed
    assert any("no throughput_gain_vs_best_rule" in r for r in reasons)
    assert any(r.startswith("oracle_share") and "floor" in r for r in reasons)


def test_a_champion_that_moves_while_a_gate_runs_is_not_overwritten(mlflow_client, monkeypatch):
    """Two gates at once: B promotes while A is still comparing with the champion it read; A's
    move is then refused (compare-and-set), so A never replaces a champion it was not judged against."""
    from adaptive_delivery.platform.training import registry

    spec = dataclasses.replace(get("MDL-001"), name="Gate Test Race")
    v1 = register_challenger(mlflow_client, spec, _run_with({"macro_roc_auc": 0.80}))
    assert gate_and_promote(mlflow_client, spec, v1, {"macro_roc_auc": 0.80}).passed
    va = register_challenger(mlflow_client, spec, _run_with({"macro_roc_auc": 0.81}))
    vb = register_challenger(mlflow_client, spec, _run_with({"macro_roc_auc": 0.90}))
    judged = registry.evaluate_gates

    def b_promotes_meanwhile(*args, **kwargs):
        monkeypatch.setattr(registry, "evaluate_gates", judged)
        assert gate_and_promote(mlflow_client, spec, vb, {"macro_roc_auc": 0.90}).passed
        return judged(*args, **kwargs)

    monkeypatch.setattr(registry, "evaluate_gates", b_promotes_meanwhile)
    a = gate_and_promote(mlflow_client, spec, va, {"macro_roc_auc": 0.81})
    assert not a.passed and f"champion moved to v{vb}" in a.summary()
    assert str(mlflow_client.get_model_version_by_alias(spec.registered_name, CHAMPION).version) == vb
    assert mlflow_client.get_model_version(spec.registered_name, va).tags["gate"] == "failed"
