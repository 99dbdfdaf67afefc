"""A control policy through its training pipeline for real: `adaptive-delivery model train MDL-003
--profile quick` runs train -> evaluate -> register + gate through KFP's local runner; MLflow holds
the run (params, metrics with the oracle's beside them, the evaluation files) and a `challenger`
with the gate's verdict."""

import pytest
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import CHALLENGER, alias_metrics, evaluate_gates
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_train_mdl_003_runs_the_policy_pipeline_and_registers_a_gated_challenger(tmp_path):
    home = tmp_path / "mlflow"
    result = CliRunner().invoke(app, ["model", "train", "MDL-003", "--profile", "quick", "--world", str(tmp_path / "world"),
                                      "--mlflow-home", str(home)])
    assert result.exit_code == 0, result.output
    client = Tracking(default_tracking_uri(home)).client()
    spec = get("MDL-003")
    version, metrics = alias_metrics(client, spec, CHALLENGER)
    assert version == "1"
    assert {"oracle_share", "rate_block_rate", "oracle_delivered_per_hour", "throughput_gain_vs_kumomta"} <= set(metrics)
    mv = client.get_model_version(spec.registered_name, version)
    passed, reasons = evaluate_gates(spec, metrics, None)  # the first version: the floors alone judge it
    assert mv.tags["gate"] == ("passed" if passed else "failed") and mv.tags["gate_reasons"] == "; ".join(reasons)
    assert ("PROMOTE" if passed else "STOP") in result.output
    run = client.get_run(mv.run_id)
    assert run.data.params["profile"] == "quick" and run.data.tags["trainer"] == "reinforcement"
    logged = {a.path for a in client.list_artifacts(mv.run_id, "evaluation")}
    assert {"evaluation/throttle_eval.md", "evaluation/metrics.json"} <= logged
