"""MDL-004 through the platform for real: `adaptive-delivery model train MDL-004 --profile smoke`
runs its pipeline (the training worlds' logs, both heads, judged in an unseen world beside the
heuristic and the hidden-reputation oracle, register + gate), its steps in this process; the
registered model is resolved by alias, served by MLServer on 127.0.0.1 from the serving
environment, and answers signal requests (REST and gRPC) exactly as the registered pyfunc does
offline; bad requests get 400 with a reason."""

from __future__ import annotations

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

from adaptive_delivery.delivery.models.mdl004_domain_reputation.service import (
    OUTPUTS,
    example_request,
)
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import evaluate_gates
from serving.client import frame_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-004")
NAME = "mdl-004"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_smoke(tmp_path_factory.mktemp("mdl004"), SPEC)


def test_train_registers_a_gated_challenger_judged_beside_the_heuristic_and_the_oracle(trained):
    root, client, metrics = first_challenger(trained, SPEC)
    for scorer in ("model", "heuristic", "oracle"):
        for event in ("block_event", "listing"):
            assert 0 <= metrics[f"{event}_auc_{scorer}"] <= 1, (event, scorer)
    assert metrics["gain_over_heuristic"] == pytest.approx(metrics["block_event_auc_model"]
                                                           - metrics["block_event_auc_heuristic"])
    assert -1 <= metrics["spearman_model"] <= 1 and metrics["evaluation_worlds"] == 1
    mv = client.get_model_version(SPEC.registered_name, "1")
    passed, reasons = evaluate_gates(SPEC, metrics, None)
    assert mv.tags["gate"] == ("passed" if passed else "failed") and mv.tags["gate_reasons"] == "; ".join(reasons)
    run = client.get_run(mv.run_id)
    assert run.data.tags["trainer"] == "twin_logs" and run.data.params["profile"] == "smoke"
    logged = {a.path for a in client.list_artifacts(mv.run_id, "evaluation")}
    assert {"evaluation/reputation_eval.md", "evaluation/metrics.json"} <= logged


@pytest.fixture(scope="module")
def served(trained):
    server, folder = serve_challenger(trained, SPEC, NAME)
    yield server, folder
    server.stop()


def test_served_answers_equal_the_registered_pyfunc_offline(served):
    server, folder = served
    frame = example_request()
    got = answers_as_registered(server, folder, NAME, frame, frame_request(frame), OUTPUTS)
    # the IP that mailed a bought list today is the riskier one
    assert got["risk"][1] > got["risk"][0]


def test_grpc_answers_as_rest(served, tmp_path):
    server, _ = served
    grpc_answers_as_rest(server, NAME, frame_request(example_request()), tmp_path)


@pytest.mark.parametrize(("change", "says"), [
    (lambda f: f.drop(columns="unit"), "missing input 'unit'"),
    (lambda f: f.assign(block_rate_24h=[0.01, -0.2]), "'block_rate_24h' must be finite and within [0, 1]"),
    (lambda f: f.assign(listings_30d=[0.5, 1.0]), "'listings_30d' must be whole numbers"),
    (lambda f: f.assign(mx_host=["a", "b"]), "unknown inputs"),
])
def test_bad_requests_get_400_with_a_reason(served, change, says):
    server, _ = served
    r = infer(server, NAME, frame_request(change(example_request())))
    assert r.status_code == 400, r.text
    assert says in r.text


def test_the_monitoring_job_checks_the_champion_on_the_deployments_own_logs(trained, twelve_day_world):
    """The daily check of a model trained on the twin's logs: its signals recomputed from the
    deployment's lake over the window (three days at least) and the days before, drift judged by
    Evidently and PSI/KS on what the lake can tell (not the lookups and feeds it lacks), and the
    verdict in the report, MLflow and the timeline."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.models.mdl004_domain_reputation.monitoring import NOT_IN_LAKE
    from adaptive_delivery.platform.training.tracking import Tracking

    report, dep, client = monitor_on_logs(trained, SPEC, twelve_day_world / "lake")
    assert report["source"] == "the deployment's logs" and report["version"] == "1"
    assert report["window"] == ["2026-03-11 00:00", "2026-03-14 00:00"]
    assert report["rows_current"] > 0 and report["rows_reference"] > 0
    assert report["data_drift"]["checked"] > 0 and not set(NOT_IN_LAKE) & set(report["stability"]["features"])
    # block events are judged only where the lake holds enough of them; else it says so
    judged = "block_event_auc_model" in report["measured"]
    assert judged or any("not judged on the logs" in a for a in report["alerts"])
    assert report["details"]["units"] > 0
    assert (dep.reports / "monitor" / "MDL-004" / "2026-03-14T0000" / "data_drift.html").stat().st_size > 10_000
    runs = client.search_runs([client.get_experiment_by_name(jobs.MONITOR_EXPERIMENT).experiment_id],
                              "tags.model_id = 'MDL-004'")
    assert runs and runs[0].data.tags["version"] == "1"
    # the reports sit beside the tracking store, never in the working directory
    assert runs[0].info.artifact_uri.startswith(Tracking(dep.tracking_uri).artifact_location())
    assert [e["step"] for e in jobs.timeline(dep)][-1:] == ["monitor"]


def test_its_champion_publishes_each_ips_hourly_reputation_as_features_other_models_read(trained, twelve_day_world):
    """MDL-004's scores as features (spec §2.1: they feed MDL-001): the features job scores the
    deployment's whole lake hour by hour with the champion and publishes the tables; Feast joins
    each message to the score its sending IP had in the hour it went out, and the online store
    serves the newest."""
    import pandas as pd

    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.platform import feature_store as st

    _, dep, _ = monitor_on_logs(trained, SPEC, twelve_day_world / "lake")  # version 1 is champion
    rows = jobs_score(dep)
    ip = pd.read_parquet(dep.features / "ip_reputation")
    sends = EventsLake(dep.lake).read("sends", columns=["sending_ip", "sending_domain", "send_ts"]).to_pandas()
    assert rows["ip_reputation"] == len(ip) and rows["domain_reputation"] > 0
    assert set(ip["sending_ip"]) == set(sends["sending_ip"])
    assert ip["health_score"].between(0, 100).all() and (ip["event_timestamp"].dt.minute == 0).all()
    sample = sends.sample(200, random_state=0).rename(columns={"send_ts": "event_timestamp"}).reset_index(drop=True)
    fs = st.open_store(dep.feast_home, dep.features, dep.feast_profile)
    st.apply(fs)
    joined = st.historical(fs, sample, ["ip_reputation_features:health_score"]).sort_values("event_timestamp")
    expect = pd.merge_asof(sample.sort_values("event_timestamp"), ip.sort_values("event_timestamp"),
                           on="event_timestamp", by="sending_ip", tolerance=pd.Timedelta(hours=1))
    assert joined["ip_reputation_features__health_score"].notna().mean() > 0.9
    assert joined["ip_reputation_features__health_score"].to_numpy() == pytest.approx(
        expect["health_score"].to_numpy(), nan_ok=True)
    end = ip["event_timestamp"].max().to_pydatetime()
    views = jobs_materialize(dep, end)
    assert {"ip_reputation_features", "domain_reputation_features"} <= set(views)
    newest = ip[ip["event_timestamp"] == ip["event_timestamp"].max()].set_index("sending_ip")["health_score"]
    online = st.online(fs, ["ip_reputation_features:health_score"], [{"sending_ip": i} for i in newest.index])
    assert online["ip_reputation_features__health_score"] == pytest.approx(newest.to_list())


def jobs_score(dep):
    from adaptive_delivery.delivery import jobs

    return jobs.score_features(dep)


def jobs_materialize(dep, end):
    from datetime import timedelta

    from adaptive_delivery.delivery import jobs

    return jobs.materialize(dep, end - timedelta(hours=6), end + timedelta(hours=1), tables=[])
