"""MDL-009 served for real: a registered warm-up policy is resolved by alias from MLflow, served by
MLServer on 127.0.0.1 from the serving environment, and answers V2 plan requests exactly as the
registered pyfunc does offline; an approval recorded through the command line lets a paused IP
resume once; bad requests get 400."""

import pandas as pd
import pytest
import requests
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.decisions.approvals import ApprovalLedger
from adaptive_delivery.delivery.models.mdl009_warmup.pyfunc import WarmupPyfunc
from adaptive_delivery.delivery.models.mdl009_warmup.service import (
    REQUIRED,
    example_request,
    plan_day,
)
from adaptive_delivery.delivery.models.mdl009_warmup.training import train_ppo
from adaptive_delivery.platform.rl.policy_export import MlpActor, save_actor
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.policies import register_policy
from adaptive_delivery.platform.training.registry import CHALLENGER
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from serving import local
from serving.client import v2_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-009")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not local.SERVING_PYTHON.exists():
        pytest.skip("the serving environment is not built (make serving-env)")
    root = tmp_path_factory.mktemp("warmup-serving")
    model = train_ppo(timesteps=512, seed=1, n_envs=2).model
    actor_path = save_actor(model, root / "mdl009_actor.npz")
    tracking = Tracking(default_tracking_uri(root / "mlflow"), "warmup-serving-test")
    register_policy(SPEC, tracking=tracking, actor_path=actor_path, params={"timesteps": 512},
                    metrics={"days_to_full": 30.0, "block_event_days": 0.0}, files={},
                    example=example_request(), python_model=WarmupPyfunc())
    version, folder = local.resolve_alias(tracking.client(), SPEC.registered_name, CHALLENGER, root / "models")
    ledger = root / "approvals.jsonl"
    http, grpc = local.free_port(), local.free_port()
    settings = local.write_settings(root / "mlserver", {"mdl-009": (version, folder)}, http, grpc,
                                    runtimes={"mdl-009": SPEC.runtime}, settings={"approvals": str(ledger)})
    server = local.start(settings, http, grpc, "mdl-009")
    yield server, MlpActor.load(actor_path), version, ledger
    server.stop()


def _infer(server, frame: pd.DataFrame):
    body = v2_request(frame, list(REQUIRED), ["ip", "domain"])
    return requests.post(f"{server.url}/v2/models/mdl-009/infer", json=body, timeout=30)


def test_served_plans_equal_the_registered_policy_offline(served):
    server, actor, version, _ = served
    frame = example_request().iloc[[0]]
    r = _infer(server, frame)
    assert r.status_code == 200, r.text
    got = {o["name"]: o["data"] for o in r.json()["outputs"]}
    want = plan_day(actor, {c: frame[c].to_numpy() for c in frame.columns}, version)
    assert got["recommended_action"] == list(want.recommended_action)
    assert got["new_daily_limit"] == [float(v) for v in want.new_daily_limit]
    assert got["rails_applied"] == list(want.rails_applied) and set(got["model_version"]) == {version}


def test_a_resume_waits_for_an_approval_given_on_the_command_line(served):
    server, _, _, ledger = served
    paused = example_request().iloc[[1]]
    before = {o["name"]: o["data"] for o in _infer(server, paused).json()["outputs"]}
    assert before["new_daily_limit"] == [0.0] and before["needs_approval"] == ["resume"]
    result = CliRunner().invoke(app, ["model", "approve", "MDL-009", "--ip", "192.0.2.11", "--kind", "resume",
                                      "--by", "alex on call", "--note", "bad import removed", "--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    after = {o["name"]: o["data"] for o in _infer(server, paused).json()["outputs"]}
    assert after["new_daily_limit"][0] > 0 and after["approvals_used"] == ["resume by alex on call"]
    assert [e["event"] for e in ApprovalLedger(ledger).history("192.0.2.11")] == ["approved", "used"]


def test_bad_plan_requests_get_400_with_a_reason(served):
    server, *_ = served
    r = _infer(server, example_request().assign(bounce_rate=1.5))
    assert r.status_code == 400 and "bounce_rate" in r.text
