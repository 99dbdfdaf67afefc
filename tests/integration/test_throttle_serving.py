"""MDL-003 served for real: a registered throttle policy is resolved by alias from MLflow, served by
MLServer on 127.0.0.1 from the serving environment, and answers V2 rate requests exactly as the
registered model does offline (rate, action, confidence, rails); bad requests get 400."""

import numpy as np
import pandas as pd
import pytest
import requests

from adaptive_delivery.delivery.models.mdl003_throttle.pyfunc import ThrottlePyfunc
from adaptive_delivery.delivery.models.mdl003_throttle.service import REQUIRED, recommend
from adaptive_delivery.delivery.models.mdl003_throttle.training import example_request, train_ppo
from adaptive_delivery.platform.rl.policy_export import MlpActor, save_actor
from adaptive_delivery.platform.rl.ppo import save_policy
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.policies import register_policy
from adaptive_delivery.platform.training.registry import CHALLENGER
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from serving import local
from serving.client import v2_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-003")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not local.SERVING_PYTHON.exists():
        pytest.skip("the serving environment is not built (make serving-env)")
    root = tmp_path_factory.mktemp("throttle-serving")
    model = train_ppo(timesteps=1_024, seed=1, n_envs=2).model
    save_policy(model, root / "mdl003_ppo")
    actor_path = save_actor(model, root / "mdl003_ppo_actor.npz")
    tracking = Tracking(default_tracking_uri(root / "mlflow"), "throttle-serving-test")
    _, verdict = register_policy(SPEC, tracking=tracking, actor_path=actor_path, params={"timesteps": 1024},
                                 metrics={"oracle_share": 0.5, "rate_block_rate": 0.01, "throughput_gain_vs_best_rule": 0.0},
                                 files={},
                                 example=example_request(), python_model=ThrottlePyfunc())
    assert not verdict.passed and any("oracle_share" in r for r in verdict.reasons)  # below the 90% floor
    version, folder = local.resolve_alias(tracking.client(), SPEC.registered_name, CHALLENGER, root / "models")
    http, grpc, metrics = local.free_port(), local.free_port(), local.free_port()
    settings = local.write_settings(root / "mlserver", {"mdl-003": (version, folder)}, http, grpc,
                                    runtimes={"mdl-003": SPEC.runtime}, metrics_port=metrics)
    server = local.start(settings, http, grpc, "mdl-003")
    server.metrics_url = f"http://127.0.0.1:{metrics}/metrics"
    yield server, MlpActor.load(actor_path), version
    server.stop()


def _body(frame: pd.DataFrame) -> dict:
    return v2_request(frame, ["provider", *REQUIRED], ["provider"])


def _infer(server, body):
    return requests.post(f"{server.url}/v2/models/mdl-003/infer", json=body, timeout=30)


def test_served_recommendations_equal_the_registered_policy_offline(served):
    server, actor, version = served
    frame = example_request(("gmail", "yahoo", "outlook", "aol", "corporate"))
    r = _infer(server, _body(frame))
    assert r.status_code == 200, r.text
    got = {o["name"]: o["data"] for o in r.json()["outputs"]}
    want = recommend(actor, {c: frame[c].to_numpy() for c in frame.columns}, version)
    np.testing.assert_allclose(got["recommended_rate_per_min"], want.recommended_rate_per_min, rtol=1e-9)
    np.testing.assert_allclose(got["confidence"], want.confidence, rtol=1e-9)
    assert got["action"] == list(want.action) and got["rails_applied"] == list(want.rails_applied)
    assert set(got["model_version"]) == {version}


def test_bad_rate_requests_get_400_with_a_reason(served):
    server, _, _ = served
    frame = example_request(("gmail",))
    missing = _body(frame.drop(columns=["smtp_latency_ms"]).assign(smtp_latency_ms=0))
    missing["inputs"] = [i for i in missing["inputs"] if i["name"] != "smtp_latency_ms"]
    r = _infer(server, missing)
    assert r.status_code == 400 and "smtp_latency_ms" in r.text
    negative = _body(frame.assign(current_send_rate=-5.0))
    r = _infer(server, negative)
    assert r.status_code == 400 and "current_send_rate" in r.text


def test_prometheus_metrics_follow_the_served_decisions(served):
    """MLServer's /metrics shows the latency histogram and each provider's last recommendation."""
    from prometheus_client.parser import text_string_to_metric_families

    server, _, _ = served
    frame = example_request(("gmail", "yahoo"))
    r = _infer(server, _body(frame))
    assert r.status_code == 200, r.text
    rates = dict(zip(frame["provider"], r.json()["outputs"][[o["name"] for o in r.json()["outputs"]].index(
        "recommended_rate_per_min")]["data"], strict=True))
    text = requests.get(server.metrics_url, timeout=10).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("prediction_latency_seconds_count", (("model", "mdl-003"),))] >= 1
    assert samples[("prediction_batch_size_sum", (("model", "mdl-003"),))] >= 2
    for isp, rate in rates.items():
        assert samples[("throttle_recommended_rate", (("isp", isp),))] == pytest.approx(rate)


def test_raw_grpc_rate_requests_answer_as_rest_json(served, tmp_path):
    """MDL-003 takes the binary path too: raw tensor contents in and out, the same answer as JSON."""
    import json
    import subprocess

    server, _, _ = served
    body = _body(example_request(("gmail", "yahoo", "outlook", "aol", "corporate")))
    rest = {o["name"]: o["data"] for o in _infer(server, body).json()["outputs"]}
    request = tmp_path / "request.json"
    request.write_text(json.dumps(body))
    done = subprocess.run([str(local.SERVING_PYTHON), "-m", "serving.grpc_client", "--port", str(server.grpc_port),
                           "--model", "mdl-003", "--raw", str(request)], capture_output=True, text=True, timeout=60,
                          cwd=local.REPO)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["raw"]
    assert {o["name"]: o["data"] for o in reply["outputs"]} == rest
