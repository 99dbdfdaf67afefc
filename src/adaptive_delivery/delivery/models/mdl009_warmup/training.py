"""MDL-009 Warm-up Optimizer: a PPO policy (Stable-Baselines3) over spec §3.5's seven daily
actions, trained in the world's `WarmupEnv` behind `WarmupRails` with spec §3.5's reward.

Training worlds draw the audience (invalid addresses, complaints, engagement) so the policy
learns to read the signals rather than one list; evaluation worlds use seeds training never saw.

Training only, declared here: the reward's credits are paid on days the rails let through. Spec
§3.5 pays an escalation (+10) and good metrics (+1) only on days meeting its early-stage criteria
(complaints under 0.05%), which a typical list never meets, so a learner paid by the spec alone
never climbs on such lists while the railed rule it is judged against does. The headline counts a
day at full capacity when no pause trigger fired and deferrals stayed under 5%; on such days the
shaping pays the spec's +10 per +50% of volume carried and +1 scaled by the share of the sender's
volume sent (so holding full volume pays more than backing off), in place of (never on top of)
the spec's two credits; its penalties stay as they are. It reads only the day's observed metrics.
Evaluation reports spec §3.5's reward unchanged.
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
    day_metrics,
)
from adaptive_delivery.delivery.schemas import WARMUP_ACTIONS
from adaptive_delivery.platform.protocol import TRAINING_SEED_FLOOR
from adaptive_delivery.platform.rl import ppo
from adaptive_delivery.twin.envs import (
    ESCALATION_MAX_DEFERRAL,
    WARMUP_REWARD,
    Audience,
    WarmupEnv,
    escalation_steps,
)

GAMMA = 0.95
TRAIN_SEED_FLOOR = TRAINING_SEED_FLOOR


def railed_progress(best_volume: float, volume: float, day: dict[str, float]) -> float:
    """The shaping's escalation credit for one day: +10 per +50% of volume above the best day so
    far, on a day the rails let through with deferrals under 5% (0 otherwise)."""
    clean = volume > 0 and day["deferral_rate"] < ESCALATION_MAX_DEFERRAL and not day_metrics(day).pause_reasons()
    return WARMUP_REWARD["escalation"] * escalation_steps(best_volume, volume) if clean else 0.0


def railed_upkeep(volume: float, target: float, day: dict[str, float]) -> float:
    """The shaping's credit for a good day: +1 times the share of the sender's volume sent, on a
    day the rails let through with deferrals under 5% (0 otherwise)."""
    clean = volume > 0 and day["deferral_rate"] < ESCALATION_MAX_DEFERRAL and not day_metrics(day).pause_reasons()
    return WARMUP_REWARD["good"] * min(volume / target, 1.0) if clean else 0.0


def shaped_reward(spec_reward: float, parts: dict[str, float], volume: float, day: dict[str, float],
                  best_volume: float, target: float) -> tuple[float, float]:
    """Training's reward of one day from spec §3.5's (its escalation and good-day credits replaced
    by the railed ones); returns it and the best railed volume after the day."""
    reward = spec_reward - (parts["escalation"] + parts["good"])
    progress = railed_progress(best_volume, volume, day)
    reward += progress + railed_upkeep(volume, target, day)
    return reward, (volume if progress > 0 else best_volume)


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
        self.best_railed_volume = float(env.start_volume)
        self.t = 0
        return warmup_features(self.state), {}

    def step(self, action):
        assert self.run is not None
        decision = self.run.decide(action_volume(int(action), self.state.limit), railed=True)
        day, reward = self.run.send(decision)
        reward, self.best_railed_volume = shaped_reward(reward, self.run.reward_parts, decision.volume, day,
                                                        self.best_railed_volume, self.target)
        self.state = self.run.state()
        self.t += 1
        return warmup_features(self.state), float(reward), False, self.t >= self.days, {"rails": decision.rails}


@dataclass
class PPOWarmup:
    """A trained MDL-009 policy in the warm-up harness (deterministic actions)."""

    model: object  # stable_baselines3.PPO
    name: str = "PPO (MDL-009)"
    railed: bool = True
    run: int = 1  # which training run of this version (the evaluation pools runs under one name)
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


def load_policy(path: Path, run: int = 1) -> PPOWarmup:
    return PPOWarmup(ppo.load_model(path), run=run)


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
