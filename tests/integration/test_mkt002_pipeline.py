"""MKT-002 through the platform for real: `adaptive-delivery model train MKT-002 --profile smoke`
runs its pipeline (collect the training worlds' clicks, fit the conversion trees, bid with them in
an unseen evaluation world beside the rules and the oracle, register + gate), its steps in this
process (`--runner in-process`: KFP's local runner runs the same policy-pipeline steps in MDL-003's
test); the registered model is resolved by alias, served by MLServer on 127.0.0.1 from the serving
environment, and answers bid requests (REST and gRPC) exactly as the registered pyfunc does
offline; bad requests get 400 with a reason."""

from __future__ import annotations

import pytest
from first_training import (
    answers_as_registered,
    first_challenger,
    grpc_answers_as_rest,
    infer,
    serve_challenger,
    train_smoke,
)

from adaptive_delivery.marketing.models.mkt002_bidding.service import OUTPUTS, example_request
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import evaluate_gates
from serving.client import frame_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MKT-002")
NAME = "mkt-002"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_smoke(tmp_path_factory.mktemp("mkt002"), SPEC)


def test_train_registers_a_gated_challenger_judged_beside_the_rules_and_the_oracle(trained):
    root, client, metrics = first_challenger(trained, SPEC)
    # the hindsight oracle buys more than any bidder; the served bids buy something
    for bidder in ("", "optimiser_no_prior_", "value_", "linear_"):
        assert 0 < metrics[f"{bidder}share_of_oracle"] < 1, bidder
    assert metrics["gain_over_linear"] == pytest.approx(metrics["share_of_oracle"] - metrics["linear_share_of_oracle"])
    # trained on other campaigns' clicks, the trees rank unseen clicks better than chance
    assert metrics["cvr_auc"] > 0.55
    mv = client.get_model_version(SPEC.registered_name, "1")
    passed, reasons = evaluate_gates(SPEC, metrics, None)
    assert mv.tags["gate"] == ("passed" if passed else "failed") and mv.tags["gate_reasons"] == "; ".join(reasons)
    run = client.get_run(mv.run_id)
    assert run.data.tags["trainer"] == "twin_logs" and run.data.params["profile"] == "smoke"
    logged = {a.path for a in client.list_artifacts(mv.run_id, "evaluation")}
    assert {"evaluation/bidding_eval.md", "evaluation/metrics.json"} <= logged


@pytest.fixture(scope="module")
def served(trained):
    server, folder = serve_challenger(trained, SPEC, NAME)
    yield server, folder
    server.stop()


def test_served_bids_equal_the_registered_pyfunc_offline(served):
    server, folder = served
    frame = example_request()
    got = answers_as_registered(server, folder, NAME, frame, frame_request(frame), OUTPUTS)
    assert got["bid"][0] > got["bid"][1]  # a loyal desktop searcher at midday is worth more than a new one at night


def test_grpc_answers_as_rest(served, tmp_path):
    server, _ = served
    body = frame_request(example_request())
    grpc_answers_as_rest(server, NAME, body, tmp_path)


@pytest.mark.parametrize(("change", "says"), [
    (lambda f: f.drop(columns="budget_left"), "missing input 'budget_left'"),
    (lambda f: f.assign(device=["desktop", "smartwatch", "mobile"]), "unknown values ['smartwatch']"),
    (lambda f: f.assign(weekday=[1, 7, 2]), "'weekday' must be finite and within [0, 6]"),
    (lambda f: f.assign(budget_left=[600.0, 1.0, 1.0]), "'budget_left' exceeds 'budget'"),
    (lambda f: f.assign(competitor_bid=[1.0, 2.0, 3.0]), "unknown inputs"),
])
def test_bad_requests_get_400_with_a_reason(served, change, says):
    server, _ = served
    r = infer(server, NAME, frame_request(change(example_request())))
    assert r.status_code == 400, r.text
    assert says in r.text
