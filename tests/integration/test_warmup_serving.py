"""MDL-009 served for real: a registered warm-up policy is resolved by alias from MLflow, served by
MLServer on 127.0.0.1 from the serving environment, and answers V2 plan requests exactly as the
registered pyfunc does offline; a railed rule registered as champion is served by the same runtime
and plans as the rule; an approval recorded through the command line lets a paused IP resume once;
bad requests get 400."""

import json

import pandas as pd
import pytest
import requests
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.decisions.approvals import ApprovalLedger
from adaptive_delivery.delivery.models.mdl009_warmup.policies import RailedRule
from adaptive_delivery.delivery.models.mdl009_warmup.pyfunc import WarmupPyfunc
from adaptive_delivery.delivery.models.mdl009_warmup.service import (
    REQUIRED,
    RulePlanner,
    example_request,
    plan_day,
)
from adaptive_delivery.delivery.models.mdl009_warmup.training import train_ppo
from adaptive_delivery.platform.rl.policy_export import MlpActor, save_actor
from adaptive_delivery.platform.rl.pyfunc import RULE_ARTIFACT
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.policies import log_policy, register_policy
from adaptive_delivery.platform.training.registry import CHALLENGER, CHAMPION
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
    rule_file = root / "mdl-009_rule.json"
    rule_file.write_text(json.dumps(RailedRule(0.5, raise_unseen=True).config()))
    _, rule_version = log_policy(SPEC, tracking=tracking, artifact=(RULE_ARTIFACT, rule_file), params={},
                                 metrics={"days_to_full": 12.5}, files={}, example=example_request(),
                                 python_model=WarmupPyfunc(), kind="rule")
    tracking.client().set_registered_model_alias(SPEC.registered_name, CHAMPION, rule_version)
    rule_version, rule_folder = local.resolve_alias(tracking.client(), SPEC.registered_name, CHAMPION, root / "models")
    ledger = root / "approvals.jsonl"
    http, grpc = local.free_port(), local.free_port()
    models = {"mdl-009": (version, folder), "mdl-009-rule": (rule_version, rule_folder)}
    settings = local.write_settings(root / "mlserver", models, http, grpc, runtimes=dict.fromkeys(models, SPEC.runtime),
                                    settings={"approvals": str(ledger)})
    server = local.start(settings, http, grpc, "mdl-009")
    yield server, MlpActor.load(actor_path), version, ledger, rule_version
    server.stop()


def _infer(server, frame: pd.DataFrame, model: str = "mdl-009"):
    body = v2_request(frame, list(REQUIRED), ["ip", "domain"])
    return requests.post(f"{server.url}/v2/models/{model}/infer", json=body, timeout=30)


def test_served_plans_equal_the_registered_policy_offline(served):
    server, actor, version, *_ = served
    frame = example_request().iloc[[0]]
    r = _infer(server, frame)
    assert r.status_code == 200, r.text
    got = {o["name"]: o["data"] for o in r.json()["outputs"]}
    want = plan_day(actor, {c: frame[c].to_numpy() for c in frame.columns}, version)
    assert got["recommended_action"] == list(want.recommended_action)
    assert got["new_daily_limit"] == [float(v) for v in want.new_daily_limit]
    assert got["rails_applied"] == list(want.rails_applied) and set(got["model_version"]) == {version}


def test_a_resume_waits_for_an_approval_given_on_the_command_line(served):
    server, _, _, ledger, _ = served
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


def test_a_rule_champion_is_served_by_the_same_runtime_and_plans_as_the_rule(served):
    server, *_, rule_version = served
    frame = example_request().assign(paused=0.0, sent=[500.0, 0.0])  # the second IP has no day to read
    r = _infer(server, frame, "mdl-009-rule")
    assert r.status_code == 200, r.text
    got = {o["name"]: o["data"] for o in r.json()["outputs"]}
    rule = RulePlanner.from_config(RailedRule(0.5, raise_unseen=True).config())
    want = plan_day(rule, {c: frame[c].to_numpy() for c in frame.columns}, rule_version)
    assert got["new_daily_limit"] == [float(v) for v in want.new_daily_limit] == [750.0, 6_000.0]
    assert got["confidence"] == [1.0, 1.0] and set(got["model_version"]) == {rule_version}
