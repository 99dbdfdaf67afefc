"""A trained PPO policy (Stable-Baselines3) that keeps learning from live outcomes: it samples its
actions from its own distribution (so an update has the on-policy data PPO needs), is paid for
each action when the outcome arrives, and runs one PPO update every `update_every` paid steps.
An update that leaves non-finite weights, or fails, is undone and says so. The caller (a
product's controller) owns the rails, the reward and what happens on a model error.

A step decides for `envs` parallel subjects at once (MDL-003: one provider's windows, one at a
time; MDL-009: every IP a sender is warming up, once a day), each its own trajectory.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class _Step:
    features: np.ndarray  # (envs, features)
    action: np.ndarray  # (envs, action dims) as sampled, before any clipping: what PPO's ratio is computed on
    value: Any  # torch tensor (envs,)
    log_prob: Any  # torch tensor (envs,)
    episode_start: np.ndarray  # (envs,) bool


@dataclass
class OnlinePPO:
    """`act` decides, `reward` pays the last action, `update_if_due` learns; `learn=False` serves the
    policy's deterministic action and never changes it (the frozen arm)."""

    model: Any  # stable_baselines3.PPO
    learn: bool = True
    update_every: int = 1_000  # paid steps (of all `envs` subjects at once) per update
    learning_rate: float = 1e-4
    seed: int = 0
    envs: int = 1
    updates: int = 0
    undone_updates: int = 0
    update_seconds: list[float] = field(default_factory=list)
    _steps: list[_Step] = field(default_factory=list)
    _rewards: list[np.ndarray] = field(default_factory=list)
    _pending: _Step | None = None
    _fresh: bool = True  # the next step starts new trajectories (the first, or after a break)
    _note: str | None = None

    def __post_init__(self) -> None:
        if self.update_every * self.envs < 2:
            raise ValueError("an update needs at least 2 paid actions: raise update_every")
        if self.learn:
            import torch
            from stable_baselines3.common.logger import configure

            torch.manual_seed(self.seed)
            self.model.lr_schedule = lambda _progress: self.learning_rate
            self.model._current_progress_remaining = 1.0
            self.model.set_logger(configure(None, [""]))

    def act(self, features: np.ndarray) -> np.ndarray:
        """The actions for a row of features per subject ((envs, features); one subject may pass
        its row alone): sampled while learning, the mean (or mode) when frozen. One row per subject."""
        rows = np.atleast_2d(np.asarray(features, dtype=np.float32))
        if rows.shape[0] != self.envs:
            raise ValueError(f"features for {rows.shape[0]} subjects, the policy decides for {self.envs}")
        if not self.learn:
            action, _ = self.model.predict(rows, deterministic=True)
            return np.asarray(action).reshape(self.envs, -1)
        import torch

        with torch.no_grad():
            actions, values, log_probs = self.model.policy(torch.as_tensor(rows))
        sampled = actions.cpu().numpy().reshape(self.envs, -1)
        start = np.full(self.envs, self._fresh)
        self._fresh = False
        self._pending = _Step(rows, sampled, values.flatten(), log_probs.flatten(), start)
        return sampled

    def reward(self, value: float | np.ndarray) -> None:
        """The outcomes of the last actions arrived (one reward per subject): keep them for the update."""
        if self.learn and self._pending is not None:
            self._steps.append(self._pending)
            self._rewards.append(np.broadcast_to(np.asarray(value, dtype=np.float32), (self.envs,)).copy())
            self._pending = None

    def break_trajectory(self) -> None:
        """The last decision was not the policy's (a fallback): its actions earn nothing, and the
        next step starts new trajectories."""
        self._pending = None
        self._fresh = True

    def update_if_due(self, features: np.ndarray) -> None:
        """Update once `update_every` steps have been paid (`features`: where the subjects stand now,
        whose values close the returns)."""
        if self.learn and len(self._steps) >= self.update_every:
            self._update(np.atleast_2d(np.asarray(features, dtype=np.float32)))

    def take_note(self) -> str | None:
        note, self._note = self._note, None
        return note

    def _update(self, features: np.ndarray) -> None:
        import torch
        from stable_baselines3.common.buffers import RolloutBuffer

        started = time.perf_counter()
        model = self.model
        buffer = RolloutBuffer(len(self._steps), model.observation_space, model.action_space, device="cpu",
                               gae_lambda=model.gae_lambda, gamma=model.gamma, n_envs=self.envs)
        for step, reward in zip(self._steps, self._rewards, strict=True):
            buffer.add(step.features, step.action, reward, step.episode_start, step.value, step.log_prob)
        with torch.no_grad():
            last = model.policy.predict_values(torch.as_tensor(features)).flatten()
        buffer.compute_returns_and_advantage(last_values=last, dones=np.zeros(self.envs, dtype=bool))
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
