"""MDL-009 Warm-up Optimizer: a PPO policy (Stable-Baselines3) over spec §3.5's seven daily
actions, trained in the world's `WarmupEnv` behind `WarmupRails` with spec §3.5's reward.

Training worlds draw the audience (invalid addresses, complaints, engagement) so the policy
learns to read the signals rather than one list; evaluation worlds use seeds training never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

from adaptive_delivery.delivery.models.mdl009_warmup.plan import (
    FEATURE_NAMES,
    action_volume,
    warmup_features,
)
from adaptive_delivery.delivery.models.mdl009_warmup.policies import (
    HORIZON_DAYS,
    START_VOLUME,
    TARGET_VOLUME,
    WarmupRun,
    WarmupState,
)
from adaptive_delivery.delivery.schemas import WARMUP_ACTIONS
from adaptive_delivery.platform.protocol import TRAINING_SEED_FLOOR
from adaptive_delivery.platform.rl import ppo
from adaptive_delivery.twin.envs import Audience, WarmupEnv

GAMMA = 0.95
TRAIN_SEED_FLOOR = TRAINING_SEED_FLOOR
def training_audience(rng: np.random.Generator) -> Audience:
    """A plausible list: from clean to the edge of what the pause triggers allow."""
    return Audience(
        invalid_share=float(rng.uniform(0.003, 0.02)),
        mailbox_full_share=float(rng.uniform(0.003, 0.01)),
        engagement=float(rng.uniform(0.15, 0.4)),
        complaint_per_inbox=float(rng.uniform(0.0001, 0.0008)),
    )


class RailedWarmupEnv(gym.Env):
    """What MDL-009 trains in: a new IP per episode, a drawn audience, rails and the on-call
    engineer's approvals exactly as in evaluation (`WarmupRun`)."""

    metadata = {"render_modes": []}

    def __init__(self, days: int = HORIZON_DAYS, target: float = TARGET_VOLUME, seed: int | None = None) -> None:
        self.days = days
        self.target = target
        self.action_space = spaces.Discrete(len(WARMUP_ACTIONS))
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(len(FEATURE_NAMES),), dtype=np.float32)
        self.run: WarmupRun | None = None
        self.reset(seed=seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        env = WarmupEnv(start_volume=START_VOLUME, target_volume=self.target, max_days=self.days + 1,
                        audience=training_audience(rng))
        self.run = WarmupRun(env, self.target)
        self.state = self.run.reset(int(rng.integers(TRAIN_SEED_FLOOR, 2**31)))
        self.t = 0
        return warmup_features(self.state), {}

    def step(self, action):
        assert self.run is not None
        decision = self.run.decide(action_volume(int(action), self.state.limit), railed=True)
        _, reward = self.run.send(decision)
        self.state = self.run.state()
        self.t += 1
        return warmup_features(self.state), float(reward), False, self.t >= self.days, {"rails": decision.rails}


@dataclass
class PPOWarmup:
    """A trained MDL-009 policy in the warm-up harness (deterministic actions)."""

    model: object  # stable_baselines3.PPO
    name: str = "PPO (MDL-009)"
    railed: bool = True
    last_action: int = field(default=0, init=False)
    confidence: float = field(default=1.0, init=False)  # the last choice's probability

    def reset(self) -> None:
        self.last_action = 0

    def action_probabilities(self, features: np.ndarray) -> np.ndarray:
        import torch

        policy = self.model.policy  # type: ignore[attr-defined]
        with torch.no_grad():
            obs, _ = policy.obs_to_tensor(features)
            return policy.get_distribution(obs).distribution.probs.cpu().numpy()[0]

    def propose(self, state: WarmupState) -> float:
        probs = self.action_probabilities(warmup_features(state))
        self.last_action, self.confidence = int(np.argmax(probs)), float(np.max(probs))
        return action_volume(self.last_action, state.limit)


def train_ppo(timesteps: int = 100_000, seed: int = 0, n_envs: int = 8, device: str = "cpu",
              progress: bool = False) -> ppo.TrainingResult:
    """Train MDL-009 with PPO (gamma 0.95) on `n_envs` parallel new IPs."""
    return ppo.train(RailedWarmupEnv, timesteps=timesteps, seed=seed, n_envs=n_envs, gamma=GAMMA, n_steps=256,
                     ent_coef=0.01, device=device, progress=progress)


def train_and_save(timesteps: int, seed: int, out: Path, *, device: str = "cpu", progress: bool = False) -> Path:
    """Train, then write OUT/mdl009_ppo.zip and OUT/training.json (the CLI and the pipeline)."""
    return ppo.save_run(train_ppo(timesteps, seed=seed, device=device, progress=progress), out, "mdl009_ppo", seed)


def load_policy(path: Path) -> PPOWarmup:
    return PPOWarmup(ppo.load_model(path))


def example_features(days: int = 5, seed: int = 0) -> pd.DataFrame:
    """Feature rows of a few warm-up days (the registry's input example)."""
    from adaptive_delivery.delivery.models.mdl009_warmup.policies import RuleEscalation

    run = WarmupRun(WarmupEnv(start_volume=START_VOLUME, max_days=days + 1))
    state, policy, rows = run.reset(seed), RuleEscalation(), []
    for _ in range(days):
        rows.append(warmup_features(state))
        run.send(run.decide(policy.propose(state), railed=True))
        state = run.state()
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES))
