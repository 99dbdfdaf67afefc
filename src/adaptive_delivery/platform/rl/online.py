"""A trained PPO policy (Stable-Baselines3) that keeps learning from live outcomes: it samples its
actions from its own distribution (so an update has the on-policy data PPO needs), is paid for
each action when the outcome arrives, and runs one PPO update every `update_every` rewarded
actions. An update that leaves non-finite weights, or fails, is undone and says so. The caller
(a product's controller) owns the rails, the reward and what happens on a model error.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class _Step:
    features: np.ndarray
    action: np.ndarray  # as sampled (before any clipping): what PPO's ratio is computed on
    value: Any  # torch tensors of shape (1,)
    log_prob: Any
    episode_start: bool


@dataclass
class OnlinePPO:
    """`act` decides, `reward` pays the last action, `update_if_due` learns; `learn=False` serves the
    policy's deterministic action and never changes it (the frozen arm)."""

    model: Any  # stable_baselines3.PPO
    learn: bool = True
    update_every: int = 1_000
    learning_rate: float = 1e-4
    seed: int = 0
    updates: int = 0
    undone_updates: int = 0
    update_seconds: list[float] = field(default_factory=list)
    _steps: list[_Step] = field(default_factory=list)
    _rewards: list[float] = field(default_factory=list)
    _pending: _Step | None = None
    _fresh: bool = True  # the next step starts a trajectory (the first, or after a break)
    _note: str | None = None

    def __post_init__(self) -> None:
        if self.update_every < 2:
            raise ValueError("update_every must be at least 2 actions")
        if self.learn:
            import torch
            from stable_baselines3.common.logger import configure

            torch.manual_seed(self.seed)
            self.model.lr_schedule = lambda _progress: self.learning_rate
            self.model._current_progress_remaining = 1.0
            self.model.set_logger(configure(None, [""]))

    def act(self, features: np.ndarray) -> np.ndarray:
        """The action for these features: sampled while learning, the mean (or mode) when frozen."""
        if not self.learn:
            action, _ = self.model.predict(features, deterministic=True)
            return np.asarray(action).reshape(-1)
        import torch

        with torch.no_grad():
            actions, values, log_probs = self.model.policy(torch.as_tensor(features[None], dtype=torch.float32))
        sampled = actions.cpu().numpy().reshape(1, -1)
        start, self._fresh = self._fresh, False
        self._pending = _Step(features, sampled[0], values, log_probs, start)
        return sampled[0]

    def reward(self, value: float) -> None:
        """The outcome of the last action arrived: keep the pair for the next update."""
        if self.learn and self._pending is not None:
            self._steps.append(self._pending)
            self._rewards.append(float(value))
            self._pending = None

    def break_trajectory(self) -> None:
        """The last decision was not the policy's (a fallback): its action earns nothing, and the
        next step starts a new trajectory."""
        self._pending = None
        self._fresh = True

    def update_if_due(self, features: np.ndarray) -> None:
        """Update once `update_every` actions have been paid (`features`: where the policy stands now,
        whose value closes the returns)."""
        if self.learn and len(self._steps) >= self.update_every:
            self._update(features)

    def take_note(self) -> str | None:
        note, self._note = self._note, None
        return note

    def _update(self, features: np.ndarray) -> None:
        import torch
        from stable_baselines3.common.buffers import RolloutBuffer

        started = time.perf_counter()
        model = self.model
        buffer = RolloutBuffer(len(self._steps), model.observation_space, model.action_space, device="cpu",
                               gae_lambda=model.gae_lambda, gamma=model.gamma, n_envs=1)
        for step, reward in zip(self._steps, self._rewards, strict=True):
            buffer.add(step.features[None], step.action[None], np.array([reward], dtype=np.float32),
                       np.array([step.episode_start]), step.value, step.log_prob)
        with torch.no_grad():
            last = model.policy.predict_values(torch.as_tensor(features[None], dtype=torch.float32))
        buffer.compute_returns_and_advantage(last_values=last, dones=np.array([False]))
        before = copy.deepcopy(model.policy.state_dict())
        try:
            model.rollout_buffer = buffer
            model.train()
            finite = all(bool(torch.isfinite(p).all()) for p in model.policy.parameters())
            problem = None if finite else "non-finite weights"
        except Exception as exc:  # noqa: BLE001 - a failed update must not take the controller down
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            model.policy.load_state_dict(before)
            self.undone_updates += 1
            self._note = f"online update undone ({problem}); the policy before it stays in force"
        else:
            self.updates += 1
        self._steps, self._rewards = [], []
        self.update_seconds.append(time.perf_counter() - started)
