"""MDL-003 learning online: window records read or refused with a reason, the rails on every
decision whatever the policy or the record, the safe default on any model error, an update every
N actions, and an update that breaks the weights undone."""

import json
import math
from functools import lru_cache

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.decisions.rails import MIN_RATE_PER_MIN, known_limit_per_min
from adaptive_delivery.delivery.models.mdl003_throttle.online import (
    OnlineThrottle,
    WindowRecord,
    WindowRecordError,
    observed_reward,
)
from adaptive_delivery.delivery.models.mdl003_throttle.training import GAMMA, RailedThrottleEnv
from adaptive_delivery.delivery.schemas import MTA_WINDOW_FIELDS
from adaptive_delivery.twin.envs import OUTCOME_KINDS, ThrottleEnv, static_rate_per_min

PROVIDER = "yahoo"


def untrained_model(seed: int = 0):
    """A PPO policy as training starts (the mechanism, not the skill, is under test here)."""
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", RailedThrottleEnv(seed=seed), gamma=GAMMA, n_steps=64, batch_size=32,
               policy_kwargs={"net_arch": [64, 64]}, seed=seed, device="cpu")


@lru_cache(maxsize=2)
def shared_model(learn: bool) -> OnlineThrottle:
    return OnlineThrottle(untrained_model(), PROVIDER, learn=learn, update_every=10_000)


def window_records(n: int, seed: int = 3, provider: str = PROVIDER):
    """`n` records of real windows, the rate held at the provider's default."""
    env = ThrottleEnv(provider, episode_steps=n + 1, seed=seed)
    for t in range(n):
        obs, _, _, _, info = env.step_rate(env.rate)
        yield WindowRecord(provider, t, info["rate_per_min"], tuple(map(float, obs)), info["counts"],
                           tuple(info["refused_replies"]))


def test_a_window_record_goes_through_json_unchanged():
    for record in window_records(20):
        assert WindowRecord.from_event(json.loads(json.dumps(record.to_event()))) == record


@given(key=st.sampled_from(["provider", "index", "rate_per_min", "window", "counts", "refused_replies"]),
       value=st.one_of(st.none(), st.text(max_size=5), st.integers(), st.floats(), st.lists(st.integers(), max_size=3),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=3)),
       drop=st.booleans())
@settings(max_examples=150, deadline=None)
def test_a_damaged_record_is_refused_with_a_reason_never_crashes(key, value, drop):
    event = next(window_records(1)).to_event()
    if drop:
        event.pop(key)
    else:
        event[key] = value
    try:
        record = WindowRecord.from_event(event)
    except WindowRecordError as exc:
        assert str(exc)
    else:
        assert record.provider == PROVIDER and all(math.isfinite(v) for v in record.obs)


@given(rate=st.floats(0.0, 5_000.0), obs=st.lists(st.floats(0.0, 1e6), min_size=len(MTA_WINDOW_FIELDS),
                                                  max_size=len(MTA_WINDOW_FIELDS)),
       delivered=st.integers(0, 3_000), block=st.integers(0, 3_000), learn=st.booleans())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_decision_stays_inside_the_rails(rate, obs, delivered, block, learn):
    controller = shared_model(learn)
    counts = dict.fromkeys(OUTCOME_KINDS, 0) | {"delivered": delivered, "block": block}
    decision = controller.decide(WindowRecord(PROVIDER, 0, rate, tuple(obs), counts))
    limit = known_limit_per_min(PROVIDER)
    assert MIN_RATE_PER_MIN <= decision.rate_per_min <= limit
    if decision.fallback is None and MIN_RATE_PER_MIN <= rate <= limit:
        assert rate * 0.5 - 1e-6 <= decision.rate_per_min <= rate * 1.5 + 1e-6
    if decision.fallback is not None:
        assert decision.rate_per_min == static_rate_per_min(PROVIDER)


@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("failure", ["raises", "nan"])
def test_a_model_error_puts_the_safe_default_rate_in_force_and_says_why(learn, failure):
    controller = OnlineThrottle(untrained_model(), PROVIDER, learn=learn)
    records = list(window_records(3))
    assert controller.decide(records[0]).fallback is None

    def broken(*args, **kwargs):
        if failure == "raises":
            raise RuntimeError("weights file truncated")
        return torch.full((1, 1), float("nan")), torch.zeros(1), torch.zeros(1)

    if learn:
        controller.model.policy.forward = broken
    else:
        controller.model.predict = lambda *a, **k: (np.array([np.nan]), None) if failure == "nan" else broken()
    decision = controller.decide(records[1])
    assert decision.rate_per_min == static_rate_per_min(PROVIDER)
    assert decision.rails == ("safe_default",)
    assert ("RuntimeError: weights file truncated" if failure == "raises" else "FloatingPointError") in decision.fallback
    assert controller.fallbacks == 1


def test_the_policy_is_updated_every_n_actions_from_the_streamed_outcomes():
    controller = OnlineThrottle(untrained_model(), PROVIDER, learn=True, update_every=50)
    before = [p.detach().clone() for p in controller.model.policy.parameters()]
    decisions = [controller.decide(r) for r in window_records(176)]
    # an action's reward arrives with the next window: the 51st window brings the 50th reward, and
    # the 51st decision is the updated policy's
    assert controller.updates == 3
    assert [d.updates for d in decisions] == [0] * 50 + [1] * 50 + [2] * 50 + [3] * 26
    after = list(controller.model.policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_a_frozen_controller_never_changes_its_policy():
    controller = OnlineThrottle(untrained_model(), PROVIDER, learn=False, update_every=10)
    before = [p.detach().clone() for p in controller.model.policy.parameters()]
    for r in window_records(60):
        controller.decide(r)
    assert controller.updates == 0
    assert all(torch.equal(a, b) for a, b in zip(before, controller.model.policy.parameters(), strict=True))


def test_an_update_that_breaks_the_weights_is_undone_and_said():
    controller = OnlineThrottle(untrained_model(), PROVIDER, learn=True, update_every=10)

    def poisoned_train():
        with torch.no_grad():
            for p in controller.model.policy.parameters():
                p.fill_(float("nan"))

    controller.model.train = poisoned_train
    records = list(window_records(12))
    for r in records[:10]:
        controller.decide(r)
    before = [p.detach().clone() for p in controller.model.policy.parameters()]
    decision = controller.decide(records[10])  # the 10th reward: the update runs and is undone
    assert controller.undone_updates == 1 and controller.updates == 0
    assert "undone" in decision.note and decision.fallback is None
    assert all(torch.equal(a, b) for a, b in zip(before, controller.model.policy.parameters(), strict=True))


def test_the_reward_penalises_refusals_with_a_rate_limit_reply_not_other_refusals():
    counts = dict.fromkeys(OUTCOME_KINDS, 0) | {"delivered": 900, "block": 10}
    rate_limited = WindowRecord("gmail", 0, 1_800.0, (0.0,) * len(MTA_WINDOW_FIELDS), counts,
                                (("421 4.7.28 Our system has detected an unusual rate of unsolicited mail", 10),))
    policy = WindowRecord("gmail", 0, 1_800.0, (0.0,) * len(MTA_WINDOW_FIELDS), counts,
                          (("550 5.7.1 Message rejected due to content", 10),))
    assert observed_reward(rate_limited) < observed_reward(policy)
