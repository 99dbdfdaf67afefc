"""Thompson sampling for choosing a variant (a subject line, a creative, an item in a slot): draw
each arm's value from its posterior and play the best draw, so an arm is chosen as often as it is
probably the best. Numpy only, so it runs wherever a decision is served and keeps learning there.

- `BetaBernoulli`: one Beta posterior per arm over its click (or conversion) rate; the conjugate
  update is two counters.
- `LogisticThompson`: the contextual variant. P(reward | context, arm) is a logistic model of a
  feature vector built per (context, arm); its posterior is the Laplace approximation around the
  penalised maximum-likelihood weights (Chapelle & Li, 2011), refitted on what it has seen.

Both give the probability of each arm under their own sampling (`action_probabilities`), which is
what off-policy evaluation needs to judge them from another policy's log."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BetaBernoulli:
    n_arms: int
    alpha: float = 1.0  # the prior: alpha - 1 successes and beta - 1 failures seen per arm
    beta: float = 1.0
    seed: int = 0
    successes: np.ndarray = field(init=False)
    failures: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.n_arms < 1 or self.alpha <= 0 or self.beta <= 0:
            raise ValueError("a Beta-Bernoulli bandit needs at least one arm and positive prior counts")
        self.successes = np.zeros(self.n_arms)
        self.failures = np.zeros(self.n_arms)
        self.rng = np.random.default_rng(self.seed)

    def update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        """Add observed rewards (0/1) of the arms played; any order, any batch size."""
        arms, rewards = np.asarray(arms, dtype=int).reshape(-1), np.asarray(rewards, dtype=float).reshape(-1)
        if len(arms) != len(rewards):
            raise ValueError("one reward per arm played")
        if ((rewards < 0) | (rewards > 1)).any() or ((arms < 0) | (arms >= self.n_arms)).any():
            raise ValueError(f"rewards must be in [0, 1] and arms in [0, {self.n_arms})")
        np.add.at(self.successes, arms, rewards)
        np.add.at(self.failures, arms, 1.0 - rewards)

    def posterior_mean(self) -> np.ndarray:
        a, b = self.alpha + self.successes, self.beta + self.failures
        return a / (a + b)

    def sample(self, draws: int = 1) -> np.ndarray:
        """(draws, arms) values drawn from the posteriors."""
        return self.rng.beta(self.alpha + self.successes, self.beta + self.failures, size=(draws, self.n_arms))

    def choose(self) -> int:
        return int(self.sample(1)[0].argmax())

    def action_probabilities(self, draws: int = 10_000) -> np.ndarray:
        """P(each arm is played): the share of posterior draws in which it is the best."""
        best = self.sample(draws).argmax(axis=1)
        return np.bincount(best, minlength=self.n_arms) / draws


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


@dataclass
class LogisticThompson:
    """A logistic model of reward on features (rows already built per context and arm) with a
    zero-mean Gaussian prior of precision `prior_precision` (one value, or one per feature: an
    intercept column wants a loose one, or rare arms are pulled towards a rate of one half); `fit`
    finds the posterior's mode by Newton's method and keeps the Hessian's inverse as its covariance."""

    n_features: int
    prior_precision: float | np.ndarray = 1.0
    seed: int = 0
    mean: np.ndarray = field(init=False)
    covariance: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.precision = np.broadcast_to(np.asarray(self.prior_precision, dtype=float), (self.n_features,)).copy()
        if self.n_features < 1 or (self.precision <= 0).any():
            raise ValueError("a logistic bandit needs features and a positive prior precision")
        self.mean = np.zeros(self.n_features)
        self.covariance = np.diag(1.0 / self.precision)
        self.rng = np.random.default_rng(self.seed)

    def fit(self, features: np.ndarray, rewards: np.ndarray, iterations: int = 50, tolerance: float = 1e-8) -> None:
        """The Laplace posterior after every (features, reward) row seen so far."""
        x, y = np.asarray(features, dtype=float), np.asarray(rewards, dtype=float).reshape(-1)
        if x.shape != (len(y), self.n_features):
            raise ValueError(f"features must be shaped (rows, {self.n_features})")
        w = self.mean.copy()
        precision = np.diag(self.precision)
        for _ in range(iterations):
            p = _sigmoid(x @ w)
            gradient = x.T @ (p - y) + self.precision * w
            hessian = (x * (p * (1 - p))[:, None]).T @ x + precision
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.abs(step).max() < tolerance:
                break
        p = _sigmoid(x @ w)
        hessian = (x * (p * (1 - p))[:, None]).T @ x + precision
        self.mean, self.covariance = w, np.linalg.inv(hessian)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return _sigmoid(np.asarray(features, dtype=float) @ self.mean)

    def sample_weights(self, draws: int) -> np.ndarray:
        return self.rng.multivariate_normal(self.mean, self.covariance, size=draws, method="cholesky")

    def action_probabilities(self, arm_features: np.ndarray, draws: int = 1_000) -> np.ndarray:
        """For contexts shaped (rows, arms, features): P(each arm is played) per row, the share of
        posterior weight draws under which it scores highest (the sigmoid keeps the order, so the
        linear score is compared)."""
        feats = np.asarray(arm_features, dtype=float)
        rows, arms, _ = feats.shape
        weights = self.sample_weights(draws)  # (draws, features)
        out = np.zeros((rows, arms))
        for start in range(0, draws, 100):
            scores = np.einsum("raf,df->dra", feats, weights[start:start + 100])
            best = scores.argmax(axis=2)  # (draws, rows)
            for d in range(best.shape[0]):
                out[np.arange(rows), best[d]] += 1
        return out / draws

    def choose(self, arm_features: np.ndarray) -> int:
        """One context's arms shaped (arms, features): the best arm under one posterior draw."""
        w = self.sample_weights(1)[0]
        return int((np.asarray(arm_features, dtype=float) @ w).argmax())
