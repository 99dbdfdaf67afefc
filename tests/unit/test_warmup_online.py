"""MDL-009 learning daily: one update a day on every IP's decision, a frozen fleet that decides as
the served policy does in the harness, the rails on every decision, a hold on any model error, and
a reward without the world's hidden reputation."""

import numpy as np
import pytest
import torch

from adaptive_delivery.delivery.decisions.rails import MAX_DAILY_INCREASE
from adaptive_delivery.delivery.models.mdl009_warmup.online import (
    OnlineWarmupFleet,
    observed_reward,
    run_fleet,
)
from adaptive_delivery.delivery.models.mdl009_warmup.policies import run_warmup
from adaptive_delivery.delivery.models.mdl009_warmup.training import (
    GAMMA,
    PPOWarmup,
    RailedWarmupEnv,
    shaped_reward,
)

SEEDS = [1001, 1002, 1003]
DAYS = 8


def untrained_model(seed: int = 0):
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", RailedWarmupEnv(seed=seed), gamma=GAMMA, n_steps=32, batch_size=32, seed=seed, device="cpu")


def test_the_policy_is_updated_once_a_day_on_every_ips_decision():
    fleet = OnlineWarmupFleet(untrained_model(), ips=len(SEEDS))
    before = [p.detach().clone() for p in fleet.model.policy.parameters()]
    run_fleet(fleet, SEEDS, days=DAYS)
    assert fleet.updates == DAYS - 1  # each morning after the first, on yesterday's paid decisions
    assert any(not torch.equal(a, b) for a, b in zip(before, fleet.model.policy.parameters(), strict=True))


def test_a_frozen_fleet_decides_as_the_served_policy_does_ip_by_ip():
    model = untrained_model(3)
    traces = run_fleet(OnlineWarmupFleet(model, ips=len(SEEDS), learn=False), SEEDS, days=DAYS)
    for trace, seed in zip(traces, SEEDS, strict=True):
        alone = run_warmup(PPOWarmup(model), seed, days=DAYS)
        assert trace.volume == alone.volume and trace.delivered == alone.delivered


@pytest.mark.parametrize("learn", [False, True])
def test_every_decision_goes_through_the_rails(learn):
    traces = run_fleet(OnlineWarmupFleet(untrained_model(1), ips=len(SEEDS), learn=learn), SEEDS, days=DAYS)
    for trace in traces:
        limit = 500.0  # a pause (volume 0) keeps the IP's limit
        for volume in trace.volume:
            assert volume <= limit * (1 + MAX_DAILY_INCREASE) + 1e-6
            limit = volume or limit


def test_a_model_error_holds_every_ip_at_todays_volume_and_says_why():
    fleet = OnlineWarmupFleet(untrained_model(), ips=len(SEEDS))

    def broken(*args, **kwargs):
        raise RuntimeError("weights file truncated")

    fleet.model.policy.forward = broken
    traces = run_fleet(fleet, SEEDS, days=3)
    assert fleet.fallbacks == 3 and fleet.updates == 0
    for trace in traces:
        assert all(v <= 500.0 for v in trace.volume)


def test_the_reward_leaves_out_the_reputation_only_the_world_sees():
    parts = {"escalation": 0.0, "good": 1.0, "degradation": 0.0, "block_event": 0.0, "reputation_damage": -100.0}
    day = {"deferral_rate": 0.01, "bounce_rate": 0.005, "complaint_rate": 0.0001, "block_rate": 0.0,
           "rate_limit_refusal_rate": 0.0, "sent": 1000.0}
    spec = float(sum(parts.values()))
    shaped, _ = shaped_reward(spec, parts, 1000.0, day, 500.0, 50_000.0)
    observed, best = observed_reward(spec, parts, 1000.0, day, 500.0, 50_000.0)
    assert observed == pytest.approx(shaped + 100.0) and best == 1000.0
    assert np.isfinite(observed)
