"""The shared online learner: it learns which arm pays in which context, explores less as it
goes, and its state survives a save and load (and refuses a state of another shape)."""

from __future__ import annotations

import numpy as np
import pytest

from adaptive_delivery.platform.online.bandit import RidgeArms


def test_it_learns_the_arm_that_pays_in_each_context():
    rng = np.random.default_rng(0)
    bandit = RidgeArms(n_arms=3, n_features=2, seed=0)
    truth = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.2]])  # arm 0 pays in context A, arm 1 in context B
    for _ in range(2_000):
        x = np.array([1.0, 0.0]) if rng.random() < 0.5 else np.array([0.0, 1.0])
        arm = bandit.choose(x)
        bandit.update(x, arm, float(truth[arm] @ x + rng.normal(0, 0.1)))
    assert int(np.argmax(bandit.values(np.array([1.0, 0.0])))) == 0
    assert int(np.argmax(bandit.values(np.array([0.0, 1.0])))) == 1
    assert bandit.epsilon == pytest.approx(bandit.epsilon_min)


def test_exploration_decays_only_while_learning():
    bandit = RidgeArms(n_arms=2, n_features=1, seed=1)
    for _ in range(10):
        bandit.choose(np.ones(1), learning=False)
    assert bandit.epsilon == pytest.approx(0.3)
    bandit.choose(np.ones(1))
    assert bandit.epsilon == pytest.approx(0.3 * 0.995)


def test_state_round_trips_and_a_foreign_state_is_refused():
    bandit = RidgeArms(n_arms=2, n_features=3, seed=2)
    bandit.update(np.array([1.0, 2.0, 3.0]), 1, 4.0)
    fresh = RidgeArms(n_arms=2, n_features=3)
    fresh.load(bandit.state())
    x = np.array([0.5, -1.0, 2.0])
    assert np.array_equal(fresh.values(x), bandit.values(x))
    with pytest.raises(ValueError, match="does not fit"):
        RidgeArms(n_arms=3, n_features=3).load(bandit.state())
