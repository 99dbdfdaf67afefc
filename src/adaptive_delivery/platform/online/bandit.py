"""An epsilon-greedy linear contextual bandit: one ridge regression per arm predicts the reward of
choosing it from the context; exploration decays geometrically to a floor. Numpy only, so it runs
wherever a decision is served and keeps learning there; its state saves and loads as arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RidgeArms:
    n_arms: int
    n_features: int
    ridge: float = 1.0
    epsilon: float = 0.3
    epsilon_min: float = 0.05
    epsilon_decay: float = 0.995
    seed: int = 0
    a: np.ndarray = field(init=False)  # per arm: ridge * I + sum of x x^T
    b: np.ndarray = field(init=False)  # per arm: sum of reward * x

    def __post_init__(self) -> None:
        if self.n_arms < 1 or self.n_features < 1:
            raise ValueError("a bandit needs at least one arm and one feature")
        self.a = np.stack([np.eye(self.n_features) * self.ridge for _ in range(self.n_arms)])
        self.b = np.zeros((self.n_arms, self.n_features))
        self.rng = np.random.default_rng(self.seed)

    def values(self, x: np.ndarray) -> np.ndarray:
        """Each arm's predicted reward for context `x`."""
        theta = np.linalg.solve(self.a, self.b[..., None])[..., 0]
        return theta @ x

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        self.a[arm] += np.outer(x, x)
        self.b[arm] += reward * x

    def choose(self, x: np.ndarray, learning: bool = True) -> int:
        """Explore with probability epsilon, else the best predicted arm; exploration decays only
        while learning."""
        if self.rng.random() < self.epsilon:
            arm = int(self.rng.integers(self.n_arms))
        else:
            arm = int(np.argmax(self.values(x)))
        if learning:
            self.epsilon = max(self.epsilon_min, self.epsilon * self.epsilon_decay)
        return arm

    def state(self) -> dict[str, np.ndarray | float]:
        return {"a": self.a.copy(), "b": self.b.copy(), "epsilon": self.epsilon}

    def load(self, state: dict) -> None:
        a, b = np.asarray(state["a"], dtype=float), np.asarray(state["b"], dtype=float)
        if a.shape != self.a.shape or b.shape != self.b.shape:
            raise ValueError(f"a saved bandit of shape {b.shape} does not fit {self.b.shape}")
        self.a, self.b, self.epsilon = a, b, float(state["epsilon"])
