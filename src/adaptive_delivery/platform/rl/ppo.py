"""PPO (Stable-Baselines3) for the control policies learned in the world (MDL-003, MDL-009): one
training loop, one save format and one run record, so the CLI and the policy pipeline train the
same way."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NET_ARCH = [64, 64]
PolicyFiles = Path | str | Sequence[Path] | None  # one trained policy, several runs of one version, or none


def policy_files(ppo: PolicyFiles) -> tuple[Path, ...]:
    """The trained policy files behind an evaluation (several training runs of one version)."""
    if ppo is None:
        return ()
    return (Path(ppo),) if isinstance(ppo, str | Path) else tuple(Path(p) for p in ppo)


@dataclass
class TrainingResult:
    model: object  # stable_baselines3.PPO
    seconds: float
    timesteps: int
    device: str


def train(env_class: type, *, timesteps: int, seed: int, n_envs: int, gamma: float, n_steps: int,
          ent_coef: float, env_kwargs: dict[str, Any] | None = None, device: str = "cpu",
          progress: bool = False) -> TrainingResult:
    """Train an MLP policy on `n_envs` copies of `env_class`."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env(env_class, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
    model = PPO(
        "MlpPolicy", vec, gamma=gamma, n_steps=n_steps, batch_size=256, learning_rate=3e-4, ent_coef=ent_coef,
        policy_kwargs={"net_arch": NET_ARCH}, seed=seed, device=device, verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps, progress_bar=progress)
    return TrainingResult(model, time.perf_counter() - start, timesteps, device)


def save_policy(model: object, path: Path) -> Path:
    """SB3's zip; returns the file written (SB3 adds `.zip`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))  # type: ignore[attr-defined]
    return path.with_suffix(".zip")


def save_run(result: TrainingResult, out: Path, name: str, seed: int, **settings: object) -> Path:
    """The policy as OUT/NAME.zip and what trained it as OUT/training.json; returns the policy file."""
    path = save_policy(result.model, out / name)
    meta = {"timesteps": result.timesteps, "seconds": round(result.seconds, 1), "device": result.device, "seed": seed,
            **settings, "policy": str(path)}
    (out / "training.json").write_text(json.dumps(meta, indent=2))
    return path


def load_model(path: Path) -> object:
    from stable_baselines3 import PPO

    return PPO.load(str(path), device="cpu")
