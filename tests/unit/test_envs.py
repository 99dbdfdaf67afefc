"""The gym environments: API conformance, and the same laws as the log generator."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from adaptive_delivery.twin import dynamics as dyn
from adaptive_delivery.twin.envs import (
    THROTTLE_MULTIPLIERS,
    ThrottleEnv,
    WarmupEnv,
    throttle_reward,
)


@pytest.mark.parametrize("env", [ThrottleEnv("gmail", seed=0), WarmupEnv(seed=0)], ids=["throttle", "warmup"])
def test_envs_pass_the_gymnasium_checker(env):
    check_env(env, skip_render_check=True)


def test_throttle_window_matches_the_log_generators_law():
    """One world, two views: at a fixed rate the env defers the share `outcome_probabilities` says."""
    env = ThrottleEnv("yahoo", seed=1, episode_steps=400)
    env.reset(seed=1)
    limit = env.hidden_limit_per_min()
    env.rate = 2.0 * limit / THROTTLE_MULTIPLIERS[2]  # maintain => twice the hidden limit
    sent = deferred = 0
    for _ in range(40):
        _, _, _, _, info = env.step(2)
        sent += sum(info["counts"].values())
        deferred += info["counts"]["deferred"]
    pressure = dyn.rate_pressure(env.rate * 60, limit * 60)
    expected = dyn.outcome_probabilities(
        provider=env.p, reputation=env.reputation0, pressure=pressure, blocklisted=False, spf_or_dkim=True, dmarc=True,
        one_click=True, address_invalid=env.audience.invalid_share, mailbox_full=env.audience.mailbox_full_share,
        engagement=env.audience.engagement, spamminess=env.audience.spamminess, quality=env.audience.quality,
        domain_age_days=365, complaint_rate=env.audience.complaint_per_inbox,
    ).p_first_defer
    assert abs(deferred / sent - float(expected)) < 0.02


def test_pushing_past_the_limit_costs_reward_and_brings_blocks():
    def episode(action):
        env = ThrottleEnv("outlook", seed=3, episode_steps=120)
        env.reset(seed=3)
        total, blocks = 0.0, 0
        for _ in range(120):
            _, r, _, _, info = env.step(action)
            total += r
            blocks += info["counts"]["block"]
        return total, blocks

    steady, steady_blocks = episode(2)  # hold the safe default rate
    greedy, greedy_blocks = episode(5)  # triple every 30 s
    assert greedy < steady and greedy_blocks > steady_blocks


def test_reward_follows_the_spec():
    assert throttle_reward({"delivered": 1000}, 0) == pytest.approx(1.0)
    assert throttle_reward({"delivered": 900, "block": 100}, 100) == pytest.approx((900 - 1000 - 1.0) / 1000)
    # throughput pays: twice the delivered mail at twice the rate earns about twice the reward
    assert throttle_reward({"delivered": 400}, 800) > 1.9 * throttle_reward({"delivered": 200}, 400)


def test_warmup_rewards_patience_and_punishes_blasting():
    def run(action, days=25):
        env = WarmupEnv(seed=4)
        env.reset(seed=4)
        rewards, blocks = [], []
        for _ in range(days):
            _, r, term, trunc, info = env.step(action)
            rewards.append(r)
            blocks.append(info["day"]["rate_limit_refusal_rate"])
            if term or trunc:
                break
        return np.sum(rewards), np.max(blocks)

    patient, patient_blocks = run(2)  # +25% a day
    blaster, blaster_blocks = run(3)  # +50% a day
    assert blaster_blocks > patient_blocks
    assert patient > blaster


def test_the_good_rate_memory_follows_a_cut_limit_down():
    from adaptive_delivery.twin.envs import updated_good_rate

    clean = {"delivered": 98, "deferred": 1}
    assert updated_good_rate(100.0, 150.0, 100, clean) == 150.0  # a clean window at a higher rate
    assert updated_good_rate(200.0, 150.0, 100, clean) == 200.0  # a clean window never lowers it
    pushed = {"delivered": 70, "deferred": 25}
    assert updated_good_rate(200.0, 150.0, 100, pushed) == pytest.approx(150.0 * 0.75)  # what got through
    assert updated_good_rate(200.0, 150.0, 0, pushed) == 200.0  # nothing sent, nothing learned


def test_the_deferral_ceiling_remembers_where_the_provider_pushed_back_and_relaxes():
    from adaptive_delivery.twin.envs import CEILING_RELAX_PER_WINDOW, updated_deferral_ceiling

    greylisted = {"delivered": 196, "deferred": 4}  # 2%: greylisting's noise in a big window
    pushed = {"delivered": 190, "deferred": 10}
    two_in_a_small_window = {"delivered": 8, "deferred": 2}
    assert updated_deferral_ceiling(600.0, 300.0, 200, pushed, 600.0) == 300.0  # 5% deferred at 300/min
    assert updated_deferral_ceiling(600.0, 300.0, 200, greylisted, 600.0) == 600.0  # greylisting is no limit
    assert updated_deferral_ceiling(600.0, 20.0, 10, two_in_a_small_window, 600.0) == 600.0  # two messages are not
    # it forgets slowly, toward the known limit and never past it
    assert updated_deferral_ceiling(300.0, 250.0, 200, greylisted, 600.0) == pytest.approx(300.0 * CEILING_RELAX_PER_WINDOW)
    assert updated_deferral_ceiling(600.0, 250.0, 200, greylisted, 600.0) == 600.0
    assert updated_deferral_ceiling(600.0, 300.0, 0, pushed, 600.0) == 600.0  # nothing sent, nothing learned


def test_the_observed_ceiling_falls_to_a_rate_past_the_hidden_limit_only():
    from adaptive_delivery.delivery.decisions.rails import known_limit_per_min
    from adaptive_delivery.delivery.models.mdl003_throttle.features import OBS

    under, over = ThrottleEnv("gmail", seed=0), ThrottleEnv("gmail", seed=0)
    limit = under.hidden_limit_per_min()
    for _ in range(20):
        obs_under, *_ = under.step_rate(0.8 * limit)
        obs_over, *_ = over.step_rate(1.3 * limit)
    assert obs_under[OBS["deferral_ceiling_rate"]] == pytest.approx(known_limit_per_min("gmail"))
    assert obs_over[OBS["deferral_ceiling_rate"]] == pytest.approx(1.3 * limit, rel=0.03)
