"""MDL-005 through the platform for real: `adaptive-delivery model train MDL-005 --profile smoke`
runs its supervised pipeline (labels from a tiny world's lake, features from Feast, tune, train,
evaluate beside the twin's oracle and the best rule, register + gate), its steps in this process
(`--runner in-process`: KFP's local runner runs the same steps in MDL-001's and MDL-006's tests);
its retraining DAG runs the pipeline again in `airflow dags test` and gates the new version against
the champion; the registered model is resolved by alias, served by MLServer on 127.0.0.1 from the
serving environment, and answers V2 requests (REST and gRPC) as the registered pyfunc does
offline; bad requests get 400 with a reason."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import requests
from first_training import (
    first_challenger,
    grpc_outputs,
    retrain_against_champion,
    serve_challenger,
)
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.models.mdl005_engagement import model as mdl
from adaptive_delivery.platform.spec import get

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-005")
NAME = "mdl-005"


@pytest.fixture(scope="module")
def trained(engagement_world):
    """The session's two-week world, trained on with its last two labelled days held out."""
    root = engagement_world
    result = CliRunner().invoke(app, ["model", "train", "MDL-005", "--profile", "smoke", "--holdout-days", "2", "--runner", "in-process",
                                      "--world", str(root), "--mlflow-home", str(root / "mlflow")])
    return root, result


def test_train_runs_the_pipeline_and_logs_the_model_beside_the_oracle_and_the_best_rule(trained):
    root, client, m = first_challenger(trained, SPEC)
    for who in ("", "oracle_", "clairvoyant_", "baseline_"):
        for name in ("open_roc_auc", "open_ece", "click_roc_auc", "click_ece"):
            assert np.isfinite(m[f"{who}{name}"]), f"{who}{name}"
    # the records oracle knows each person's propensity: no model of the logs ranks better
    assert m["oracle_open_roc_auc"] > m["open_roc_auc"] > 0.65
    assert m["oracle_click_roc_auc"] > m["click_roc_auc"]
    # knowing where the message landed helps a little more
    assert m["clairvoyant_open_roc_auc"] > m["oracle_open_roc_auc"]
    # the best rule's rates ignore what predicts a click beyond an open, and are not calibrated
    assert m["click_roc_auc"] > m["baseline_click_roc_auc"] and m["open_ece"] < m["baseline_open_ece"]
    run = client.get_run(client.get_model_version(SPEC.registered_name, "1").run_id)
    assert run.data.tags["promoted"] == "true", run.data.tags["verdict"]
    assert {a.path for a in client.list_artifacts(run.info.run_id, "reports")} >= {
        "reports/evaluation.html", "reports/reliability.png", "reports/feature_importance.json"}


def test_its_retraining_dag_runs_the_pipeline_again_and_gates_against_the_champion(trained):
    retrain_against_champion(trained, SPEC)


@pytest.fixture(scope="module")
def served(trained):
    root, _ = trained
    server, folder = serve_challenger(trained, SPEC, NAME)
    holdout = pd.read_parquet(sorted((root / "kfp").glob("train-mdl-005-*/load-training-set/holdout"))[0])
    yield server, folder, holdout.head(30).reset_index(drop=True)
    server.stop()


def _body(rows: pd.DataFrame) -> dict:
    """A V2 request of feature values: numbers as FP64, text as BYTES, each heatmap [n, 24]."""
    inputs = [{"name": "message_id", "datatype": "BYTES", "shape": [len(rows)], "data": rows["message_id"].tolist()}]
    for col in [c for c in mdl.FEATURES if "[" not in c]:
        if col in mdl.CATEGORICAL:
            inputs.append({"name": col, "datatype": "BYTES", "shape": [len(rows)],
                           "data": rows[col].fillna("").astype(str).tolist()})
        else:
            values = pd.to_numeric(rows[col].astype(float)).fillna(0.0)
            inputs.append({"name": col, "datatype": "FP64", "shape": [len(rows)], "data": values.tolist()})
    for base in (mdl.OPEN_HEATMAP, mdl.CLICK_HEATMAP):
        matrix = np.vstack([np.zeros(24) if v is None else np.asarray(v, dtype=float) for v in rows[base]])
        inputs.append({"name": base, "datatype": "FP64", "shape": [len(rows), 24], "data": matrix.ravel().tolist()})
    return {"inputs": inputs}


def _offline(folder, rows: pd.DataFrame) -> pd.DataFrame:
    """What the registered pyfunc answers for the same values the request carries."""
    frame = rows.copy()
    for col in [c for c in mdl.NUMERIC if "[" not in c]:
        frame[col] = frame[col].fillna(0)  # each column keeps the type the registered signature holds
    for col in mdl.CATEGORICAL:
        frame[col] = frame[col].fillna("").astype(str)
    for base in (mdl.OPEN_HEATMAP, mdl.CLICK_HEATMAP):
        frame[base] = [np.zeros(24) if v is None else np.asarray(v, dtype=float) for v in frame[base]]
    return mlflow.pyfunc.load_model(str(folder)).predict(frame)


def _infer(server, body: dict):
    return requests.post(f"{server.url}/v2/models/{NAME}/infer", json=body, timeout=60)


def test_served_answers_equal_the_registered_pyfunc_offline(served):
    server, folder, rows = served
    r = _infer(server, _body(rows))
    assert r.status_code == 200, r.text
    got = {o["name"]: o["data"] for o in r.json()["outputs"]}
    assert list(got) == ["message_id", "p_open", "p_click"] and got["message_id"] == rows["message_id"].tolist()
    want = _offline(folder, rows)
    assert got["p_open"] == pytest.approx((want["p_opened"] + want["p_clicked"]).tolist(), abs=1e-9)
    assert got["p_click"] == pytest.approx(want["p_clicked"].tolist(), abs=1e-9)
    assert all(c <= o for o, c in zip(got["p_open"], got["p_click"], strict=True))


def test_grpc_answers_as_rest(served, tmp_path):
    server, _, rows = served
    body = _body(rows)
    rest = {o["name"]: o["data"] for o in _infer(server, body).json()["outputs"]}
    reply = grpc_outputs(server, NAME, body, tmp_path)
    assert [v.decode() if isinstance(v, bytes) else v for v in reply["message_id"]] == rest["message_id"]
    assert reply["p_open"] == pytest.approx(rest["p_open"]) and reply["p_click"] == pytest.approx(rest["p_click"])


def _change(body: dict, name: str, **fields) -> dict:
    return {"inputs": [{**i, **fields} if i["name"] == name else i for i in body["inputs"]]}


@pytest.mark.parametrize(("edit", "says"), [
    (lambda b: {"inputs": [i for i in b["inputs"] if i["name"] != mdl.OPEN_HEATMAP]}, "missing input"),
    (lambda b: _change(b, mdl.CLICK_HEATMAP, shape=[len(b["inputs"][0]["data"]) * 2, 12]), "shape [n, 24]"),
    (lambda b: _change(b, "subscriber_features__opens_30d", datatype="BYTES",
                       data=["many"] * len(b["inputs"][0]["data"])), "must be numeric"),
    (lambda b: {"inputs": [*b["inputs"], {"name": "favourite_colour", "datatype": "BYTES", "shape": [
        len(b["inputs"][0]["data"])], "data": ["red"] * len(b["inputs"][0]["data"])}]}, "unknown inputs"),
    (lambda b: _change(b, "provider", datatype="FP64", data=[1.0] * len(b["inputs"][0]["data"])),
     "send it as BYTES"),
])
def test_bad_requests_get_400_with_a_reason(served, edit, says):
    server, _, rows = served
    r = _infer(server, edit(_body(rows)))
    assert r.status_code == 400, r.text
    assert says in r.text
