"""MDL-003 Throttle Rate Optimizer: a PPO policy (Stable-Baselines3) trained in the world's
`ThrottleEnv`, behind the safety rails.

The action is spec §3.2's continuous multiplier on the rate in force, squashed to what the ±50%
rail lets through (0.5x .. 1.5x, linear in the log of the rate), so the policy learns on exactly
the moves that reach the world. Observations are `throttle_features` (scale-free, plus the
provider's identity), so one policy serves every provider. Training
worlds draw a provider, a hidden-limit scale (±50%), a start rate and, in some episodes, a
mid-episode limit cut; evaluation worlds use seeds training never saw. Training adds a penalty
on speed-caused blocks (`SPEED_BLOCK_PENALTY`) to the spec's reward; evaluation reports the
spec's reward unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

from adaptive_delivery.delivery.decisions.rails import ThrottleRails, known_limit_per_min
from adaptive_delivery.delivery.models.mdl003_throttle.features import (
    FEATURE_NAMES,
    multiplier,
    throttle_features,
)
from adaptive_delivery.delivery.models.mdl003_throttle.policies import Step
from adaptive_delivery.delivery.providers import PROVIDER_NAMES
from adaptive_delivery.platform.protocol import TRAINING_SEED_FLOOR
from adaptive_delivery.platform.rl import ppo
from adaptive_delivery.twin.envs import ThrottleEnv

GAMMA = 0.95  # spec §3.2 discount
TRAIN_PROVIDERS = PROVIDER_NAMES
EPISODE_STEPS = 480  # four simulated hours of 30-second decisions
LIMIT_CUT_PROBABILITY = 0.3
TRAIN_SEED_FLOOR = TRAINING_SEED_FLOOR
# Training only: each block the speed caused costs this much more than spec §3.2's -10. The
# spec's reward alone pays for crossing a strict provider's limit (a window 1% over still nets
# more delivered mail than block penalty), while the issue bounds speed-caused blocks at 0.1%;
# a fixed Lagrangian-style penalty on that constraint is how the policy learns to respect it.
# The step budget was chosen on validation worlds; 12 left speed-caused blocks at 0.12% on
# validation worlds 1001-1002 (benchmarks/results/mdl003_heldout.json), over the bound, so the
# penalty is doubled.
SPEED_BLOCK_PENALTY = 24.0
TIMESTEPS = 1_600_000


def reward_scale(provider: str) -> float:
    """Make rewards comparable across providers whose capacities differ 30-fold (training only)."""
    return 2000.0 / known_limit_per_min(provider)


class RailedThrottleEnv(gym.Env):
    """What MDL-003 trains in: a random provider and world per episode, rails on every step."""

    metadata = {"render_modes": []}

    def __init__(self, providers: tuple[str, ...] = TRAIN_PROVIDERS, episode_steps: int = EPISODE_STEPS,
                 limit_jitter: float = 0.5, speed_block_penalty: float = SPEED_BLOCK_PENALTY,
                 seed: int | None = None) -> None:
        self.speed_block_penalty = speed_block_penalty
        self.providers = providers
        self.episode_steps = episode_steps
        self.limit_jitter = limit_jitter
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(len(FEATURE_NAMES),), dtype=np.float32)
        self.env: ThrottleEnv | None = None
        self.reset(seed=seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        provider = str(rng.choice(self.providers))
        cut = int(rng.integers(self.episode_steps // 4, self.episode_steps)) if rng.random() < LIMIT_CUT_PROBABILITY else None
        self.env = ThrottleEnv(provider, episode_steps=self.episode_steps, limit_jitter=self.limit_jitter,
                               limit_change_step=cut, limit_change_scale=float(rng.uniform(0.4, 0.8)))
        obs, _ = self.env.reset(seed=int(rng.integers(TRAIN_SEED_FLOOR, 2**31)))  # evaluation seeds lie below
        self.env.rate = float(self.env.hidden_limit_per_min() * rng.uniform(0.2, 1.3))
        self.rails = ThrottleRails.for_provider(provider)
        self.scale = reward_scale(provider)
        return throttle_features(obs, provider), {}

    def step(self, action):
        assert self.env is not None
        proposed = self.env.rate * multiplier(float(np.asarray(action).reshape(-1)[0]))
        railed = self.rails.apply(proposed, self.env.rate)
        obs, reward, terminated, truncated, info = self.env.step_rate(railed.rate_per_min)
        reward -= self.speed_block_penalty * info["rate_blocks"] / 1000.0
        return throttle_features(obs, self.env.provider), float(reward * self.scale), terminated, truncated, info


@dataclass
class PPOThrottle:
    """A trained MDL-003 policy as a throttle policy for the harness (deterministic actions)."""

    model: object  # stable_baselines3.PPO
    name: str = "ppo"
    railed: bool = True
    run: int = 1  # which training run of this version (the evaluation pools runs under one name)
    _provider: str = field(default="gmail", init=False)

    def reset(self, provider: str, rate_per_min: float) -> None:
        self._provider = provider

    def act(self, features: np.ndarray) -> float:
        action, _ = self.model.predict(features, deterministic=True)  # type: ignore[attr-defined]
        return multiplier(float(np.asarray(action).reshape(-1)[0]))

    def propose(self, step: Step) -> float:
        return step.rate_per_min * self.act(throttle_features(step.obs, self._provider))


def train_ppo(timesteps: int = 200_000, seed: int = 0, n_envs: int = 4, device: str = "cpu",
              speed_block_penalty: float = SPEED_BLOCK_PENALTY, progress: bool = False) -> ppo.TrainingResult:
    """Train MDL-003 with PPO (gamma 0.95) on `n_envs` parallel training worlds."""
    return ppo.train(RailedThrottleEnv, timesteps=timesteps, seed=seed, n_envs=n_envs, gamma=GAMMA, n_steps=512,
                     ent_coef=0.0, env_kwargs={"speed_block_penalty": speed_block_penalty}, device=device,
                     progress=progress)


def train_and_save(timesteps: int, seed: int, out: Path, *, device: str = "cpu", progress: bool = False,
                   speed_block_penalty: float = SPEED_BLOCK_PENALTY) -> Path:
    """Train, then write OUT/mdl003_ppo.zip and OUT/training.json (the CLI and the pipeline)."""
    result = train_ppo(timesteps, seed=seed, device=device, speed_block_penalty=speed_block_penalty, progress=progress)
    return ppo.save_run(result, out, "mdl003_ppo", seed, speed_block_penalty=speed_block_penalty)


def load_policy(path: Path, run: int = 1) -> PPOThrottle:
    return PPOThrottle(ppo.load_model(path), run=run)


def example_request(providers: tuple[str, ...] = ("gmail", "outlook", "corporate")) -> pd.DataFrame:
    """A valid request: each provider's first window in the world (the registry's input example)."""
    rows = []
    for i, provider in enumerate(providers):
        env = ThrottleEnv(provider, seed=i)
        obs, *_ = env.step_rate(env.rate)
        rows.append({"provider": provider, **dict(zip(ThrottleEnv.OBS_NAMES, map(float, obs), strict=True))})
    return pd.DataFrame(rows)
