"""MKT-001 through the platform for real: `adaptive-delivery model train MKT-001 --profile smoke`
runs its pipeline (train the campaign network and its baselines on a seeded split of the Hillstrom
file, evaluate on the split's test rows, register + gate), its steps in this process (`--runner
in-process`: KFP's local runner runs the same policy-pipeline steps in MDL-003's test); the registered
network is resolved by alias, served by MLServer on 127.0.0.1 from the serving environment, and
answers V2 requests (REST and gRPC) exactly as the registered pyfunc does offline; bad requests get
400 with a reason. Campaign feedback streamed through a real Redis updates it online, and a campaign
that wears out asks for a retraining."""

from __future__ import annotations

import numpy as np
import pytest
from first_training import (
    answers_as_registered,
    first_challenger,
    grpc_answers_as_rest,
    infer,
    serve_challenger,
)
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.marketing.data import DATA_ENV
from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom, online
from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet
from adaptive_delivery.marketing.models.mkt001_campaign.service import (
    OUTPUTS,
    answer_rows,
    example_request,
)
from adaptive_delivery.platform.online.retraining import take_requests
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.streams import StreamConsumer, connect, ledger, publish
from adaptive_delivery.platform.training.registry import evaluate_gates
from serving.client import frame_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MKT-001")
NAME = "mkt-001"
SHIFT = 1_000  # the feedback event from which the campaign wears out


@pytest.fixture(scope="module")
def trained(hillstrom_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("mkt001")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(DATA_ENV, str(hillstrom_file.parents[1]))
        result = CliRunner().invoke(app, ["model", "train", "MKT-001", "--profile", "smoke", "--runner", "in-process", "--world",
                                          str(root / "world"), "--mlflow-home", str(root / "mlflow")])
    return root, result


def test_train_runs_the_pipeline_and_registers_a_gated_challenger_beside_the_baselines(trained):
    root, client, metrics = first_challenger(trained, SPEC)
    for name in ("visit_auc", "conversion_auc", "logistic_visit_auc", "gbm_visit_auc", "womens_uplift_at_30",
                 "two_model_logistic_womens_uplift_at_30", "class_transformation_gbm_womens_qini"):
        assert name in metrics, name
    # three epochs of the smoke profile still rank visits well above chance on unseen customers
    assert metrics["visit_auc"] > 0.6
    assert metrics["womens_uplift_at_30_vs_two_model_logistic"] == pytest.approx(
        metrics["womens_uplift_at_30"] - metrics["two_model_logistic_womens_uplift_at_30"])
    mv = client.get_model_version(SPEC.registered_name, "1")
    passed, reasons = evaluate_gates(SPEC, metrics, None)
    assert mv.tags["gate"] == ("passed" if passed else "failed") and mv.tags["gate_reasons"] == "; ".join(reasons)
    run = client.get_run(mv.run_id)
    assert run.data.tags["trainer"] == "corpus" and run.data.params["profile"] == "smoke"
    logged = {a.path for a in client.list_artifacts(mv.run_id, "evaluation")}
    assert {"evaluation/campaign_eval.md", "evaluation/metrics.json"} <= logged


@pytest.fixture(scope="module")
def served(trained):
    server, folder = serve_challenger(trained, SPEC, NAME)
    yield server, folder
    server.stop()


def test_served_answers_equal_the_registered_pyfunc_offline(served):
    server, folder = served
    frame = example_request()
    got = answers_as_registered(server, folder, NAME, frame, frame_request(frame), OUTPUTS)
    assert got["email"][0] == "Womens E-Mail" and got["email"][1] == got["recommended_email"][1]


@pytest.mark.parametrize("raw", [False, True])
def test_grpc_answers_as_rest(served, tmp_path, raw):
    server, _ = served
    body = frame_request(example_request())
    grpc_answers_as_rest(server, NAME, body, tmp_path, raw=raw)


@pytest.mark.parametrize(("change", "says"), [
    (lambda f: f.drop(columns="channel"), "missing input 'channel'"),
    (lambda f: f.assign(channel=["Web", "Fax", "Phone"]), "unknown values ['Fax']"),
    (lambda f: f.assign(newbie=[0.0, 0.5, 1.0]), "'newbie' must be 0 or 1"),
    (lambda f: f.assign(email=["Mens E-Mail", "Kids E-Mail", ""]), "unknown e-mails"),
    (lambda f: f.assign(discount=[1.0, 2.0, 3.0]), "unknown inputs"),
])
def test_bad_requests_get_400_with_a_reason(served, change, says):
    server, _ = served
    r = infer(server, NAME, frame_request(change(example_request())))
    assert r.status_code == 400, r.text
    assert says in r.text


def _feedback(frame, rows, shift_from: int | None, seed: int = 0) -> list[tuple[str, dict]]:
    """Campaign feedback events of `rows` customers; from `shift_from` on, half their visits (and
    the purchases after them) are lost, as when a campaign wears out."""
    rng = np.random.default_rng(seed)
    events = []
    for k, r in enumerate(frame.iloc[rows].to_dict("records")):
        visit, conversion = int(r["visit"]), int(r["conversion"])
        if shift_from is not None and k >= shift_from and visit and rng.random() < 0.5:
            visit = conversion = 0
        events.append((online.FEEDBACK_KIND, {
            online.FEEDBACK_ID: f"{seed}-{k}", **{c: r[c] for c in hillstrom.RAW_COLUMNS},
            "email": r["segment"], "visit": visit, "conversion": conversion}))
    return events


def _learn(redis_server, stream: str, events, folder, reports, network_file) -> list[dict]:
    client = connect(redis_server)
    publish(client, stream, events)
    champion = ArrayNet.load(network_file)
    sink = online.FeedbackSink(online.OnlineCampaign(champion), folder, reports, online.load_reference(network_file))
    StreamConsumer(client, stream, "learner", "c1", sink, batch=250).drain()
    return ledger(client, stream)


def test_streamed_feedback_updates_the_network_and_a_worn_out_campaign_asks_for_retraining(
        served, redis_server, hillstrom_file, tmp_path):
    _, folder = served
    network_file = next(folder.rglob("*network*.npz"))
    champion = ArrayNet.load(network_file)
    frame = hillstrom.read(hillstrom_file)
    rows = hillstrom.split(frame, 0).test[:6_000]
    events = _feedback(frame, rows, shift_from=SHIFT)
    bad = [(online.FEEDBACK_KIND, {**events[0][1], "feedback_id": "bad-1", "visit": 2}),
           (online.FEEDBACK_KIND, {**events[0][1], "feedback_id": "bad-2", "channel": "Fax"}),
           (online.FEEDBACK_KIND, {**events[0][1], "feedback_id": "bad-3", "visit": 0, "conversion": 1}),
           ("campaign_feedbak", events[0][1])]
    out, reports = tmp_path / "online", tmp_path / "reports"
    lines = _learn(redis_server, "feedback-shift", [*events, *bad, *events[:50]], out, reports, network_file)
    entries = sum(line["entries"] for line in lines)
    accepted, quarantined = sum(line["accepted"] for line in lines), sum(line["quarantined"] for line in lines)
    assert entries == len(events) + 54 == accepted + quarantined + sum(line["duplicates"] for line in lines)
    assert accepted == len(events) and quarantined == 4
    reasons = {r for line in lines for r in line["reasons"]}
    assert {"'visit' must be 0 or 1", "a conversion without a visit"} <= reasons
    assert any("unknown values ['Fax']" in r for r in reasons) and any("unknown kind" in r for r in reasons)
    # the champion's visit errors moved after the shift, and its predictions ran above the visits in
    # the window of 5,000 that held 4,000 worn-out customers: retrainings were asked for, with the reasons
    requested = take_requests(reports)
    assert requested and {r["model_id"] for r in requested} == {"MKT-001"}
    assert all(r["feedback_seen"] > SHIFT for r in requested)
    assert any("ADWIN" in r["reason"] for r in requested)
    assert any("online window: predictions biased" in r["reason"] for r in requested)
    assert sum(line["windows_checked"] for line in lines) == 1  # one full window of 5,000 customers
    # the online network fits the worn-out campaign better than the champion, and serves as it does
    updated = ArrayNet.load(out / online.NETWORK_FILE)
    late = frame.iloc[rows[SHIFT:]]
    x, arm = hillstrom.encode(late), hillstrom.arms_of(late)
    visit = np.array([e[1]["visit"] for e in events[SHIFT:]], dtype=float)

    def loss(net):
        p = np.clip(net.predict(x)[np.arange(len(x)), arm, 0], 1e-7, 1 - 1e-7)
        return -np.mean(visit * np.log(p) + (1 - visit) * np.log(1 - p))

    assert loss(updated) < loss(champion)
    assert set(answer_rows(updated, {c: late[c].to_numpy() for c in hillstrom.RAW_COLUMNS})) == set(OUTPUTS)
    # a consumer started again on the same folder goes on from it: the same feedback teaches nothing twice
    again = _learn(redis_server, "feedback-again", events[:300], out, reports, network_file)
    assert sum(line["duplicates"] for line in again) == 300 and sum(line["accepted"] for line in again) == 0


def test_steady_feedback_asks_for_no_retraining(served, redis_server, hillstrom_file, tmp_path):
    _, folder = served
    frame = hillstrom.read(hillstrom_file)
    events = _feedback(frame, hillstrom.split(frame, 0).test[:6_000], shift_from=None)
    lines = _learn(redis_server, "feedback-steady", events, tmp_path / "online", tmp_path / "reports",
                   next(folder.rglob("*network*.npz")))
    assert take_requests(tmp_path / "reports") == []
    # the window of 5,000 customers was checked against the training customers, and nothing moved
    assert sum(line["windows_checked"] for line in lines) == 1
    assert [line for line in lines if line["stability"] or line["alerts"]] == []
    assert sum(line["accepted"] for line in lines) == 6_000
