"""MDL-003 Throttle Rate Optimizer: a PPO policy (Stable-Baselines3) trained in the world's
`ThrottleEnv`, behind the safety rails.

The action is spec §3.2's continuous multiplier on the rate in force, squashed to what the ±50%
rail lets through (0.5x .. 1.5x), so the policy learns on exactly the moves that reach the world.
Observations are `throttle_features` (scale-free), so one policy serves every provider. Training
worlds draw a provider, a hidden-limit scale (±50%), a start rate and, in some episodes, a
mid-episode limit cut; evaluation worlds use seeds training never saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from adaptive_delivery.decisions.rails import ThrottleRails, known_limit_per_min
from adaptive_delivery.decisions.throttle import FEATURE_NAMES, Step, throttle_features
from adaptive_delivery.world.envs import ThrottleEnv
from adaptive_delivery.world.providers import PROVIDER_NAMES

GAMMA = 0.95  # spec §3.2 discount
MAX_UP, MAX_DOWN = 1.5, 0.5  # what the ±50% rail lets through
TRAIN_PROVIDERS = PROVIDER_NAMES
EPISODE_STEPS = 480  # four simulated hours of 30-second decisions
LIMIT_CUT_PROBABILITY = 0.3
TRAIN_SEED_FLOOR = 100_000


def multiplier(action: float) -> float:
    """Map a policy output in [-1, 1] to a rate multiplier in [0.5, 1.5] (0 -> hold)."""
    a = float(np.clip(action, -1.0, 1.0))
    return float(MAX_UP ** a) if a >= 0 else float((1.0 / MAX_DOWN) ** a)


def reward_scale(provider: str) -> float:
    """Make rewards comparable across providers whose capacities differ 30-fold (training only)."""
    return 2000.0 / known_limit_per_min(provider)


class RailedThrottleEnv(gym.Env):
    """What MDL-003 trains in: a random provider and world per episode, rails on every step."""

    metadata = {"render_modes": []}

    def __init__(self, providers: tuple[str, ...] = TRAIN_PROVIDERS, episode_steps: int = EPISODE_STEPS,
                 limit_jitter: float = 0.5, seed: int | None = None) -> None:
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
        return throttle_features(obs, self.env.provider), float(reward * self.scale), terminated, truncated, info


@dataclass
class PPOThrottle:
    """A trained MDL-003 policy as a throttle policy for the harness (deterministic actions)."""

    model: object  # stable_baselines3.PPO
    name: str = "ppo"
    railed: bool = True
    _provider: str = field(default="gmail", init=False)

    def reset(self, provider: str, rate_per_min: float) -> None:
        self._provider = provider

    def act(self, features: np.ndarray) -> float:
        action, _ = self.model.predict(features, deterministic=True)  # type: ignore[attr-defined]
        return multiplier(float(np.asarray(action).reshape(-1)[0]))

    def propose(self, step: Step) -> float:
        return step.rate_per_min * self.act(throttle_features(step.obs, self._provider))


@dataclass
class TrainingResult:
    model: object
    seconds: float
    timesteps: int
    device: str


def train_ppo(timesteps: int = 200_000, seed: int = 0, n_envs: int = 4, device: str = "cpu",
              progress: bool = False) -> TrainingResult:
    """Train MDL-003 with PPO (gamma 0.95) on `n_envs` parallel training worlds."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env(RailedThrottleEnv, n_envs=n_envs, seed=seed)
    model = PPO(
        "MlpPolicy", vec, gamma=GAMMA, n_steps=512, batch_size=256, learning_rate=3e-4, ent_coef=0.0,
        policy_kwargs={"net_arch": [64, 64]}, seed=seed, device=device, verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps, progress_bar=progress)
    return TrainingResult(model, time.perf_counter() - start, timesteps, device)


def save_policy(model: object, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))  # type: ignore[attr-defined]
    return path.with_suffix(".zip")


def load_policy(path: Path) -> PPOThrottle:
    from stable_baselines3 import PPO

    return PPOThrottle(PPO.load(str(path), device="cpu"))
