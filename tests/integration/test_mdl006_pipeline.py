"""MDL-006 through the platform for real: `adaptive-delivery model train MDL-006 --profile smoke`
runs its supervised pipeline, its steps in this process (`--runner in-process`; KFP's local runner
runs the same steps for MDL-001 in the main job), on labels from the session's two-week world's lake,
features from Feast (tune, train, evaluate beside the twin's oracle and the sunset rule, register +
gate); the registered model is served by MLServer on 127.0.0.1 and answers V2 requests (REST and
gRPC) with each subscriber's risks and the policy's action, as the registered pyfunc and the
policy do offline; bad requests get 400 with a reason. (Its retraining DAG is the factory's, run
against a champion in MDL-005's test.)"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import requests
from first_training import first_challenger, grpc_outputs, serve_challenger
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.models.mdl006_churn_risk import model as mdl
from adaptive_delivery.delivery.models.mdl006_churn_risk import policy
from adaptive_delivery.platform.spec import get

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-006")
NAME = "mdl-006"


@pytest.fixture(scope="module")
def trained(engagement_world):
    """The session's two-week world, trained on with its last two labelled days held out."""
    root = engagement_world
    result = CliRunner().invoke(app, ["model", "train", "MDL-006", "--profile", "smoke", "--holdout-days", "2", "--runner", "in-process",
                                      "--world", str(root), "--mlflow-home", str(root / "mlflow")])
    return root, result


def test_train_runs_the_pipeline_and_logs_the_model_beside_the_oracle_and_the_sunset_rule(trained):
    root, client, m = first_challenger(trained, SPEC)
    for who in ("", "oracle_", "clairvoyant_", "baseline_"):
        for name in ("risk_roc_auc", "unsubscribe_roc_auc", "unsubscribe_ece", "risk_ece", "log_loss"):
            assert np.isfinite(m[f"{who}{name}"]), f"{who}{name}"
    assert m["unsubscribe_positives"] >= 5  # the holdout has something to score
    # two days of a small list hold a dozen unsubscribes and a complaint or two: too few for a
    # ranking to say much, nor to part the model from the records oracle, whose edge is small (the
    # validation and sealed worlds judge both: `mdl006_sealed.json`). What they do show: the
    # oracle's and the model's calibrated rates beat the sunset rule's order
    assert max(m["oracle_log_loss"], m["log_loss"]) < m["baseline_log_loss"]
    assert m["unsubscribe_ece"] < m["baseline_unsubscribe_ece"]
    run = client.get_run(client.get_model_version(SPEC.registered_name, "1").run_id)
    assert run.data.tags["promoted"] == "true", run.data.tags["verdict"]
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    trained_with = next(c for c in children if c.data.tags["step"] == "train").data.params
    assert trained_with["learner"] in mdl.LEARNERS  # the search chose the learner


@pytest.fixture(scope="module")
def served(trained):
    root, _ = trained
    server, folder = serve_challenger(trained, SPEC, NAME)
    holdout = pd.read_parquet(sorted((root / "kfp").glob("train-mdl-006-*/load-training-set/holdout"))[0])
    rows = holdout.drop_duplicates("subscriber_id").head(30).reset_index(drop=True)
    yield server, folder, rows
    server.stop()


def _values(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as a caller sends them: every feature given (a gap is the entity-key path's to fill)."""
    frame = rows.copy()
    for col in mdl.NUMERIC:
        frame[col] = pd.to_numeric(frame[col].astype(float)).fillna(0.0)
    for col in mdl.CATEGORICAL:
        frame[col] = frame[col].fillna("").astype(str)
    return frame


def _body(rows: pd.DataFrame, **extra) -> dict:
    """A V2 request of a list's subscribers: numbers as FP64, text as BYTES."""
    frame = _values(rows)
    inputs = [{"name": "subscriber_id", "datatype": "BYTES", "shape": [len(rows)],
               "data": rows["subscriber_id"].tolist()}]
    for col in mdl.FEATURES:
        kind = "BYTES" if col in mdl.CATEGORICAL else "FP64"
        inputs.append({"name": col, "datatype": kind, "shape": [len(rows)], "data": frame[col].tolist()})
    for name, value in extra.items():
        inputs.append({"name": name, "datatype": "FP64", "shape": [1], "data": [value]})
    return {"inputs": inputs}


def _infer(server, body: dict):
    return requests.post(f"{server.url}/v2/models/{NAME}/infer", json=body, timeout=60)


def test_served_answers_equal_the_registered_pyfunc_and_the_policy_offline(served):
    server, folder, rows = served
    r = _infer(server, _body(rows))
    assert r.status_code == 200, r.text
    got = {o["name"]: o["data"] for o in r.json()["outputs"]}
    assert list(got) == ["subscriber_id", "p_unsubscribe", "p_complaint", "p_unsubscribe_30d", "p_complaint_30d",
                         "complaints_per_open", "action"]
    assert got["subscriber_id"] == rows["subscriber_id"].tolist()
    want = mlflow.pyfunc.load_model(str(folder)).predict(_values(rows))
    assert got["p_unsubscribe"] == pytest.approx(want["p_unsubscribed"].tolist(), abs=1e-9)
    assert got["p_complaint"] == pytest.approx(want["p_complained"].tolist(), abs=1e-9)
    cadence = _values(rows)[mdl.RECEIVED].to_numpy()
    complaint_30d = policy.thirty_day_risk(want["p_complained"].to_numpy(), cadence)
    assert got["p_complaint_30d"] == pytest.approx(complaint_30d.tolist(), abs=1e-9)
    ratio = policy.complaints_per_open(want["p_complained"].to_numpy(), mdl.open_rate(_values(rows)))
    assert got["complaints_per_open"] == pytest.approx(ratio.tolist(), rel=1e-9)
    actions = policy.decide(policy.thirty_day_risk(want["p_unsubscribed"].to_numpy(), cadence), ratio)
    assert got["action"] == [policy.ACTIONS[a] for a in actions]
    # a request may tighten the registered thresholds: everyone above a tiny bar is suppressed
    strict = {o["name"]: o["data"] for o in
              _infer(server, _body(rows, suppress_complaints_per_open=1e-6)).json()["outputs"]}
    assert set(strict["action"]) == {"suppress"}


def test_grpc_answers_as_rest(served, tmp_path):
    server, _, rows = served
    body = _body(rows)
    rest = {o["name"]: o["data"] for o in _infer(server, body).json()["outputs"]}
    reply = grpc_outputs(server, NAME, body, tmp_path)
    assert [v.decode() if isinstance(v, bytes) else v for v in reply["action"]] == rest["action"]
    assert reply["p_complaint_30d"] == pytest.approx(rest["p_complaint_30d"])


def _change(body: dict, name: str, **fields) -> dict:
    return {"inputs": [{**i, **fields} if i["name"] == name else i for i in body["inputs"]]}


@pytest.mark.parametrize(("edit", "says"), [
    (lambda b: {"inputs": [i for i in b["inputs"] if i["name"] != mdl.DAYS_SINCE_OPEN]}, "missing inputs"),
    (lambda b: _change(b, mdl.RECEIVED, datatype="BYTES", data=["many"] * len(b["inputs"][0]["data"])),
     "must be numeric"),
    (lambda b: {"inputs": [*b["inputs"], {"name": "suppress_complaints_per_open", "datatype": "FP64",
                                          "shape": [1], "data": [3.0]}]}, "between"),
    (lambda b: {"inputs": [*b["inputs"], {"name": "messages_30d", "datatype": "FP64", "shape": [
        len(b["inputs"][0]["data"])], "data": [-1.0] * len(b["inputs"][0]["data"])}]}, "messages_30d"),
    (lambda b: _change(b, "provider", datatype="FP64", data=[1.0] * len(b["inputs"][0]["data"])),
     "send it as BYTES"),
])
def test_bad_requests_get_400_with_a_reason(served, edit, says):
    server, _, rows = served
    r = _infer(server, edit(_body(rows)))
    assert r.status_code == 400, r.text
    assert says in r.text
