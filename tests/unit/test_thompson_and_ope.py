"""Thompson sampling and off-policy evaluation on logs whose truth is known: the bandits learn the
best arm and spread their play by their posterior; the estimators recover a policy's value from
another policy's log (IPW unbiased, DR as well with a less noisy estimate when its reward model is
right, DM only as good as its model), and the Open Bandit Dataset is read into those shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.platform.online import ope
from adaptive_delivery.platform.online.thompson import BetaBernoulli, LogisticThompson


def test_beta_bernoulli_concentrates_on_the_best_arm_as_evidence_grows():
    rng = np.random.default_rng(0)
    rates = np.array([0.02, 0.05, 0.03])
    bandit = BetaBernoulli(3, seed=1)
    first = bandit.action_probabilities(4_000)
    assert first.sum() == pytest.approx(1.0) and first.min() > 0.25  # no evidence: every arm played
    for _ in range(40):  # play by its own sampling, in batches of 50
        arms = np.array([bandit.choose() for _ in range(50)])
        bandit.update(arms, (rng.random(50) < rates[arms]).astype(float))
    probs = bandit.action_probabilities(4_000)
    assert probs.argmax() == 1 and probs[1] > 0.8
    plays = bandit.successes + bandit.failures
    assert plays[1] > plays[0] and plays[1] > plays[2]


def test_beta_bernoulli_refuses_impossible_updates():
    bandit = BetaBernoulli(2)
    with pytest.raises(ValueError, match="rewards must be in"):
        bandit.update([0], [2.0])
    with pytest.raises(ValueError, match="arms in"):
        bandit.update([5], [1.0])
    with pytest.raises(ValueError, match="positive prior"):
        BetaBernoulli(2, alpha=0)


def _contexts(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two user types, three arms: type 0 clicks arm 0, type 1 clicks arm 2 (per-arm features:
    intercept, arm one-hot, arm one-hot x user type)."""
    user = rng.integers(0, 2, n)
    arms = np.eye(3)
    feats = np.concatenate([np.ones((n, 3, 1)), np.broadcast_to(arms, (n, 3, 3)),
                            arms[None, :, :] * user[:, None, None]], axis=2)
    rate = np.where(user[:, None] == 0, [0.3, 0.05, 0.05], [0.05, 0.05, 0.3])
    return feats, rate


def test_the_contextual_bandit_learns_which_arm_suits_each_context():
    rng = np.random.default_rng(0)
    feats, rate = _contexts(3_000, rng)
    played = rng.integers(0, 3, 3_000)
    clicks = (rng.random(3_000) < rate[np.arange(3_000), played]).astype(float)
    precision = np.full(feats.shape[2], 1.0)
    precision[0] = 1e-4
    model = LogisticThompson(feats.shape[2], prior_precision=precision, seed=0)
    model.fit(feats[np.arange(3_000), played], clicks)
    test, test_rate = _contexts(200, rng)
    probs = model.action_probabilities(test, draws=500)
    assert probs.sum(axis=1) == pytest.approx(np.ones(200))
    best = test_rate.argmax(axis=1)
    assert probs[np.arange(200), best].mean() > 0.9
    assert abs(model.predict(test[np.arange(200), best]).mean() - 0.3) < 0.05
    untrained = LogisticThompson(feats.shape[2], seed=0).action_probabilities(test, draws=500)
    assert untrained[np.arange(200), best].mean() < 0.6  # the prior alone does not know


def _logged(n: int, seed: int):
    """A uniform logging policy over 4 arms with context-dependent rates; the evaluation policy
    mostly plays the context's best arm. Returns the log, pi, the true rates and pi's true value."""
    rng = np.random.default_rng(seed)
    ctx = rng.integers(0, 2, n)
    rates = np.where(ctx[:, None] == 0, [0.60, 0.20, 0.20, 0.40], [0.20, 0.20, 0.70, 0.40])
    actions = rng.integers(0, 4, n)
    rewards = (rng.random(n) < rates[np.arange(n), actions]).astype(float)
    pi = np.full((n, 4), 0.1 / 3)
    pi[np.arange(n), rates.argmax(axis=1)] = 0.9
    return ope.LoggedBandit(actions, rewards, np.full(n, 0.25)), pi, rates, float((pi * rates).sum(axis=1).mean())


def test_ipw_and_dr_recover_a_policys_value_from_another_policys_log():
    errors = {k: [] for k in ope.ESTIMATORS}
    for seed in range(40):
        log, pi, rates, truth = _logged(4_000, seed)
        est = ope.estimate(log, pi, rates, bootstrap=1)
        for k in ope.ESTIMATORS:
            errors[k].append(est[k]["value"] - truth)
    for k in ("ipw", "snipw", "dr"):
        assert abs(np.mean(errors[k])) < 0.01, k  # unbiased (truth ~0.6)
    assert np.std(errors["dr"]) < 0.7 * np.std(errors["ipw"])  # a right reward model takes out noise
    assert np.std(errors["dm"]) < 1e-12  # the true rates as the model: DM is exact


def test_dm_is_only_as_good_as_its_reward_model_and_dr_corrects_it():
    log, pi, rates, truth = _logged(20_000, 3)
    wrong = np.full_like(rates, 0.05)  # a model that knows nothing
    est = ope.estimate(log, pi, wrong, bootstrap=200)
    assert abs(est["dm"]["value"] - truth) > 0.3
    assert est["dr"]["low"] <= truth <= est["dr"]["high"]
    assert est["ipw"]["low"] <= truth <= est["ipw"]["high"]


def test_the_logging_policy_judged_on_its_own_log_gets_its_own_mean():
    log, _, rates, _ = _logged(5_000, 1)
    uniform = np.full((5_000, 4), 0.25)
    est = ope.estimate(log, uniform, rates, bootstrap=100)
    assert est["ipw"]["value"] == pytest.approx(log.rewards.mean())
    assert est["mean_weight"]["value"] == pytest.approx(1.0)
    assert ope.on_policy(log.rewards, 100)["value"] == pytest.approx(log.rewards.mean())


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1.0, 2.0), min_size=1, max_size=10))
def test_a_log_with_an_impossible_propensity_is_refused(props):
    p = np.array(props)
    n = len(p)
    if ((p > 0) & (p <= 1)).all():
        ope.LoggedBandit(np.zeros(n, int), np.zeros(n), p)
    else:
        with pytest.raises(ValueError, match="propensities"):
            ope.LoggedBandit(np.zeros(n, int), np.zeros(n), p)


def test_the_open_bandit_logs_read_into_shared_features(open_bandit_data):
    from adaptive_delivery.marketing import open_bandit as obd

    logs = obd.read_logs("men", root=open_bandit_data)
    random_log, bts = logs["random"], logs["bts"]
    assert len(random_log) == len(bts) == 10_000 and random_log.n_items == 34
    assert np.allclose(random_log.propensities, 1 / 34)  # uniform over items per slot
    assert set(np.unique(bts.positions)) == {0, 1, 2}
    assert random_log.users.shape[1] == bts.users.shape[1]  # one-hot columns shared by both logs
    rows = np.arange(50)
    grid = obd.arm_features(bts, rows)
    assert np.array_equal(grid[rows, bts.items[rows]], obd.logged_features(bts)[rows])
    assert (grid[:, :, 0] == 1).all()  # the intercept
