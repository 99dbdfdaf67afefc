"""MDL-003 for real on a small budget: PPO (Stable-Baselines3) trains in the railed environment,
saves, loads, and runs in the evaluation harness beside every baseline; the CLI writes the table,
the targets and the limit-halving trace."""

import json

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.models.mdl003_throttle import report as tr
from adaptive_delivery.delivery.models.mdl003_throttle.features import (
    FEATURE_NAMES,
    HOLD_ACTION,
    multiplier,
)
from adaptive_delivery.delivery.models.mdl003_throttle.rules import tuned_rules
from adaptive_delivery.delivery.models.mdl003_throttle.training import (
    RailedThrottleEnv,
    load_policy,
    train_ppo,
)
from adaptive_delivery.platform.rl.ppo import save_policy


def test_the_multiplier_stays_inside_the_rail():
    assert multiplier(HOLD_ACTION) == pytest.approx(1.0)
    actions = np.linspace(-1, 1, 41)
    assert np.allclose(np.diff(np.log([multiplier(a) for a in actions])), np.log(3.0) / 40)  # linear in log rate
    assert multiplier(1.0) == pytest.approx(1.5) and multiplier(-1.0) == pytest.approx(0.5)
    assert multiplier(7.0) == pytest.approx(1.5) and multiplier(-7.0) == pytest.approx(0.5)


def test_the_training_env_passes_the_gymnasium_checker():
    check_env(RailedThrottleEnv(seed=0), skip_render_check=True)


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory):
    result = train_ppo(timesteps=2_048, seed=0, n_envs=2)
    assert result.timesteps == 2_048 and result.seconds > 0
    return save_policy(result.model, tmp_path_factory.mktemp("mdl003") / "mdl003_ppo")


def test_a_trained_policy_round_trips_and_acts_deterministically(policy_path):
    policy = load_policy(policy_path)
    x = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    assert policy.act(x) == policy.act(x)
    assert 0.5 <= policy.act(x) <= 1.5


def test_every_policy_runs_on_the_same_held_out_world(policy_path):
    df = tr.evaluate(policy_path, providers=["yahoo"], seeds=[1001], days=0.05, workers=1)
    tuned = {p.name for p in tuned_rules()}
    assert set(df.policy) == {"static", "kumomta", "kumomta+rates", "aimd", *tuned, "bandit", "ppo", "oracle"}
    tab = tr.add_overall_oracle_share(tr.table(df))
    assert tab[(tab.provider == "ALL") & (tab.policy == "oracle")].oracle_share.iloc[0] == pytest.approx(1.0)
    verdict = tr.targets(tab)
    assert set(verdict) >= {"throughput_gain_vs_best_rule", "throughput_gain_vs_kumomta", "rate_block_rate",
                            "oracle_share", "oracle_target_met"}
    overall = tab[tab.provider == "ALL"].set_index("policy")
    assert verdict["best_rule"] in tuned
    assert verdict["throughput_gain_vs_best_rule"] == pytest.approx(
        overall.loc["ppo", "delivered_per_hour"] / overall.loc[verdict["best_rule"], "delivered_per_hour"] - 1)


def test_the_cli_writes_table_targets_and_trace(policy_path, tmp_path):
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["model", "evaluate", "MDL-003", "--policy", str(policy_path), "--days", "0.02",
                                      "--seeds", "1001", "--workers", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "kumomta+rates" in (out / "throttle_eval.md").read_text()
    saved = json.loads((out / "throttle_targets.json").read_text())
    assert "targets" in saved and {r["policy"] for r in saved["limit_halved"]} >= {"ppo", "oracle"}
    assert (out / "limit_halved.png").stat().st_size > 10_000


def test_the_exported_actor_acts_exactly_like_the_trained_policy(policy_path, tmp_path):
    from stable_baselines3 import PPO

    from adaptive_delivery.platform.rl.policy_export import MlpActor, save_actor

    model = PPO.load(str(policy_path), device="cpu")
    actor = MlpActor.load(save_actor(model, tmp_path / "actor.npz"))
    x = np.random.default_rng(0).normal(size=(64, len(FEATURE_NAMES))).astype(np.float32)
    expected, _ = model.predict(x, deterministic=True)
    got, confidence = actor.act(x)
    np.testing.assert_allclose(got, np.clip(expected.reshape(-1), -1, 1), atol=1e-5)
    assert actor.kind == "continuous" and np.all((confidence > 0) & (confidence < 1))


def test_the_cli_registers_the_evaluated_policy_and_the_gate_judges_it(policy_path, tmp_path):
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import CHALLENGER, CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

    out, home = tmp_path / "eval", tmp_path / "mlflow"
    runner = CliRunner()
    result = runner.invoke(app, ["model", "evaluate", "MDL-003", "--policy", str(policy_path), "--days", "0.02",
                                 "--seeds", "1001", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["model", "register", "MDL-003", "--policy", str(policy_path), "--evaluation", str(out),
                                 "--mlflow-home", str(home)])
    assert result.exit_code == 0, result.output
    client = Tracking(default_tracking_uri(home)).client()
    spec = get("MDL-003")
    version, metrics = alias_metrics(client, spec, CHALLENGER)
    assert version == "1" and {"oracle_share", "rate_block_rate", "oracle_delivered_per_hour"} <= set(metrics)
    tags = client.get_model_version(spec.registered_name, version).tags
    # a 2k-step policy is nowhere near 90% of the oracle: the gate must stop it, naming the floor
    promoted = alias_metrics(client, spec, CHAMPION)[0] is not None
    assert (tags["gate"] == "passed") == promoted
    if metrics["oracle_share"] < 0.9:
        assert tags["gate"] == "failed" and "oracle_share" in tags["gate_reasons"]
