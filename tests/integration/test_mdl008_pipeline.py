"""MDL-008 through the platform for real: `adaptive-delivery model train MDL-008 --profile smoke`
runs its pipeline (the training worlds' delivery logs, the clusters and the change test, judged in
an unseen evaluation world against the operator's groupings and the providers' hidden classes,
register + gate), its steps in this process; the registered model is resolved by alias, served by
MLServer on 127.0.0.1 from the serving environment, and answers profile requests (REST and gRPC)
exactly as the registered pyfunc does offline; bad requests get 400 with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from first_training import (
    answers_as_registered,
    first_challenger,
    grpc_answers_as_rest,
    infer,
    monitor_on_logs,
    serve_challenger,
    train_smoke,
)

from adaptive_delivery.delivery.models.mdl008_isp_behaviour.service import OUTPUTS, example_request
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import evaluate_gates
from serving.client import frame_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-008")
NAME = "mdl-008"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_smoke(tmp_path_factory.mktemp("mdl008"), SPEC)


def test_train_registers_a_gated_challenger_judged_beside_the_operators_groupings(trained):
    root, client, metrics = first_challenger(trained, SPEC)
    for name in ("ari", "ari_rule_mx", "ari_rule_category"):
        assert -0.5 <= metrics[name] <= 1, name
    assert metrics["gain_over_rule"] == pytest.approx(metrics["ari"] - max(metrics["ari_rule_mx"],
                                                                           metrics["ari_rule_category"]))
    assert 0 <= metrics["false_flag_share"] <= 1 and metrics["flagged_within_week"] in (0.0, 1.0)
    mv = client.get_model_version(SPEC.registered_name, "1")
    passed, reasons = evaluate_gates(SPEC, metrics, None)
    assert mv.tags["gate"] == ("passed" if passed else "failed") and mv.tags["gate_reasons"] == "; ".join(reasons)
    run = client.get_run(mv.run_id)
    assert run.data.tags["trainer"] == "twin_logs" and run.data.params["profile"] == "smoke"
    logged = {a.path for a in client.list_artifacts(mv.run_id, "evaluation")}
    assert {"evaluation/isp_behaviour_eval.md", "evaluation/metrics.json"} <= logged


@pytest.fixture(scope="module")
def served(trained):
    server, folder = serve_challenger(trained, SPEC, NAME)
    yield server, folder
    server.stop()


def test_served_answers_equal_the_registered_pyfunc_offline(served):
    server, folder = served
    frame = example_request()
    got = answers_as_registered(server, folder, NAME, frame, frame_request(frame), OUTPUTS)
    # the provider whose mail went to spam moved furthest from its reference
    assert int(np.argmax(got["change_score"])) == 0


def test_grpc_answers_as_rest(served, tmp_path):
    server, _ = served
    body = frame_request(example_request())
    grpc_answers_as_rest(server, NAME, body, tmp_path)


@pytest.mark.parametrize(("change", "says"), [
    (lambda f: f.drop(columns="unit"), "missing input 'unit'"),
    (lambda f: f.assign(block_share=[0.01, -0.2, 0.01]), "'block_share' must be finite and within [0, 1]"),
    (lambda f: f.drop(columns="reference_spam_share"), "needs every reference_* input"),
    (lambda f: f.assign(mx_host=["a", "b", "c"]), "unknown inputs"),
])
def test_bad_requests_get_400_with_a_reason(served, change, says):
    server, _ = served
    r = infer(server, NAME, frame_request(change(example_request())))
    assert r.status_code == 400, r.text
    assert says in r.text


def test_the_knowledge_base_reads_the_champion_from_the_registry(trained, tmp_path):
    from adaptive_delivery.delivery.knowledge.behaviour import champion
    from adaptive_delivery.platform.training.registry import CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

    root, _ = trained
    uri = default_tracking_uri(root / "mlflow")
    version, _ = alias_metrics(Tracking(uri).client(), SPEC, CHAMPION)
    assert version == "1", "the smoke run's first version passes its gates and is crowned"
    model, got = champion(uri, tmp_path)
    assert got == version and model.names and np.isfinite(model.change_threshold)


def test_the_monitoring_job_checks_the_champion_on_the_deployments_own_logs(trained, twelve_day_world):
    """The weekly model's daily check: the recipient domains' daily profiles over the window beside
    the days before (drift of what it reads and of its distances), the domains whose group moved,
    and the providers its change test flags, in the report and MLflow."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.models.mdl008_isp_behaviour.profile import PROFILE_FEATURES

    report, dep, client = monitor_on_logs(trained, SPEC, twelve_day_world / "lake")
    assert report["source"] == "the deployment's logs" and report["rows_current"] > 0
    assert set(report["stability"]["features"]) <= set(PROFILE_FEATURES) and report["data_drift"]["checked"] > 0
    details, names = report["details"], set(group_names(dep.tracking_uri))
    assert details["domain_groups"] and set(details["domain_groups"].values()) <= names
    assert all({s["from"], s["to"]} <= names and s["from"] != s["to"] for s in details["group_switches"].values())
    # nothing changed in this world: a flag would be one of the test's false alarms, and never a retraining
    assert len(details["moved_providers"]) <= 2 and report["retrain"] == []
    runs = client.search_runs([client.get_experiment_by_name(jobs.MONITOR_EXPERIMENT).experiment_id],
                              "tags.model_id = 'MDL-008'")
    assert runs and "prediction_drift.html" in {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(
        runs[0].info.run_id, "reports")}


def group_names(tracking_uri: str) -> list[str]:
    """The group names of the registered version 1 (its clusters file)."""
    import tempfile
    from pathlib import Path

    from adaptive_delivery.delivery.models.mdl008_isp_behaviour.model import ClusterModel
    from adaptive_delivery.platform.training.policies import served_file

    with tempfile.TemporaryDirectory() as tmp:
        return ClusterModel.load(served_file(tracking_uri, SPEC, "1", Path(tmp))).names
