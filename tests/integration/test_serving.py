"""MLServer for real: a registered MDL-001 model is resolved by alias from MLflow, served on
127.0.0.1 from the serving environment, and answers Open Inference Protocol (V2) requests with the
same probabilities as the registered model offline; malformed requests get 400 with a reason."""

import json

import numpy as np
import pandas as pd
import pytest
import requests

from adaptive_delivery.models import deliverability as mdl
from adaptive_delivery.models.spec import get, profile
from adaptive_delivery.training.bundle import TrainedModel
from adaptive_delivery.training.tracking import Tracking, default_tracking_uri
from serving import local
from serving.client import v2_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-001")


def _frame(n, seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in mdl.NUMERIC})
    frame["subscriber_features__email_domain"] = rng.choice(["gmail.com", "yahoo.com"], n)
    frame["subscriber_features__domain_category"] = "consumer"
    frame["provider"] = rng.choice(["gmail", "yahoo"], n)
    score = frame["subscriber_features__engagement_score"].to_numpy()
    frame["label"] = np.select([score > 0.3, score > -0.3, score > -0.8, score > -1.4], [0, 1, 2, 3], 4)
    frame["event_timestamp"] = pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC")
    frame["message_id"] = [f"m{i}" for i in range(n)]
    frame["subscriber_id"] = [f"s{i}" for i in range(n)]
    return frame


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not local.SERVING_PYTHON.exists():
        pytest.skip("the serving environment is not built (make serving-env)")
    import mlflow

    root = tmp_path_factory.mktemp("serving")
    tracking = Tracking(default_tracking_uri(root), "serving-test")
    client = tracking.client()
    data = SPEC.to_dataset(_frame(2000, 0))
    model = SPEC.fit(data, {"n_estimators": 40, "nn_weight": 0.2, "nn_epochs": 2}, profile("quick"))
    bundle = TrainedModel("MDL-001", SPEC.classes, list(data.X.columns), list(data.categories), data.categories, model)
    path = bundle.save(root / "bundle.joblib")
    from adaptive_delivery.training.pyfunc import log_bundle
    from adaptive_delivery.training.registry import CHAMPION, register_challenger

    with mlflow.start_run(experiment_id=tracking.experiment_id()) as run:
        info = log_bundle(path, _frame(50, 1))
    version = register_challenger(client, SPEC, run.info.run_id, model_uri=info.model_uri)
    client.set_registered_model_alias(SPEC.registered_name, CHAMPION, version)
    resolved_version, folder = local.resolve_alias(client, SPEC.registered_name, CHAMPION, root / "models")
    http, grpc = local.free_port(), local.free_port()
    settings = local.write_settings(root / "mlserver", {"mdl-001": (resolved_version, folder)}, http, grpc,
                                    prediction_log=root / "predictions.jsonl")
    server = local.start(settings, http, grpc, "mdl-001")
    yield server, root, resolved_version
    server.stop()


def _v2(frame: pd.DataFrame, ids=None) -> dict:
    categorical = [c for c in frame.columns if frame[c].dtype == object]
    return v2_request(frame, list(frame.columns), categorical, ids)


def _infer(server, body):
    return requests.post(f"{server.url}/v2/models/mdl-001/infer", json=body, timeout=30)


def test_served_probabilities_equal_the_registered_model_offline(served):
    import mlflow.pyfunc

    server, root, version = served
    frame = _frame(300, 7)[mdl.FEATURES]
    ids = [f"msg-{i}" for i in range(len(frame))]
    r = _infer(server, _v2(frame, ids))
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
    offline = mlflow.pyfunc.load_model(f"models:/{SPEC.registered_name}@champion").predict(frame)
    for c in SPEC.classes:
        assert np.allclose(outputs[f"p_{c}"], offline[f"p_{c}"], atol=1e-9), c
    assert outputs["action"] == offline["action"].tolist()
    assert outputs["message_id"] == ids and set(outputs["model_version"]) == {version}
    assert {"reason", "risk_score", "confidence"} <= set(outputs)
    logged = [json.loads(line) for line in (root / "predictions.jsonl").read_text().splitlines()]
    assert [x["message_id"] for x in logged[-300:]] == ids and {x["model_version"] for x in logged} == {version}


def _grpc(server, body, tmp_path):
    import subprocess

    request = tmp_path / "request.json"
    request.write_text(json.dumps(body))
    cmd = [str(local.SERVING_PYTHON), "-m", "serving.grpc_client", "--port", str(server.grpc_port), "--model", "mdl-001",
           str(request)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=local.REPO)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else done.stderr


def test_grpc_answers_like_rest_and_refuses_bad_requests_with_invalid_argument(served, tmp_path):
    server, _, _ = served
    frame = _frame(20, 9)[mdl.FEATURES]
    rest = {o["name"]: o["data"] for o in _infer(server, _v2(frame)).json()["outputs"]}
    code, reply = _grpc(server, _v2(frame), tmp_path)
    assert code == 0, reply
    outputs = {o["name"]: o["data"] for o in reply["outputs"]}
    assert np.allclose(outputs["p_inbox"], rest["p_inbox"]) and outputs["action"] == rest["action"]
    code, reply = _grpc(server, _v2(frame.drop(columns=["provider"])), tmp_path)
    assert code == 3 and reply["code"] == "INVALID_ARGUMENT" and "missing inputs" in reply["error"]


def test_malformed_requests_get_400_with_a_reason(served):
    server, _, _ = served
    frame = _frame(3, 8)[mdl.FEATURES]
    missing = _v2(frame.drop(columns=["send_rate_per_min"]))
    nan = _v2(frame)
    next(i for i in nan["inputs"] if i["name"] == "send_rate_per_min")["data"][1] = None  # JSON has no NaN: null
    bad_shape = _v2(frame)
    bad_shape["inputs"][0]["shape"] = [5]
    cases = {"missing inputs": missing, "NaN or infinite": nan, "cannot be decoded": bad_shape,
             "no inputs": {"inputs": []}}
    for message, body in cases.items():
        r = _infer(server, body)
        assert r.status_code == 400, (message, r.status_code, r.text)
        expected = ("NaN or infinite", "cannot be decoded") if message == "NaN or infinite" else (message,)
        assert any(m in r.json()["error"] for m in expected), (message, r.text)
    assert requests.post(f"{server.url}/v2/models/mdl-001/infer", data="{not json", timeout=10).status_code in (400, 422)
    assert _infer(server, _v2(frame)).status_code == 200  # still serving after the bad ones
