"""A trained Stable-Baselines3 policy as plain arrays, and the numpy actor that evaluates them.

The serving environment has neither Stable-Baselines3 nor a need for it: what answers a rate or
warm-up request is the actor network's forward pass (two tanh layers and an output layer), which
numpy does in microseconds. `tests` check the actor reproduces SB3's deterministic actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KINDS = ("continuous", "discrete")


def export_policy(model: object) -> dict[str, np.ndarray]:
    """The actor's weights of an SB3 `MlpPolicy` (tanh activations, separate actor/critic nets)."""
    policy = model.policy  # type: ignore[attr-defined]
    arrays: dict[str, np.ndarray] = {}
    layers = [m for m in policy.mlp_extractor.policy_net if hasattr(m, "weight")]
    for i, layer in enumerate(layers):
        arrays[f"w{i}"] = layer.weight.detach().cpu().numpy().astype(np.float64)
        arrays[f"b{i}"] = layer.bias.detach().cpu().numpy().astype(np.float64)
    arrays["w_out"] = policy.action_net.weight.detach().cpu().numpy().astype(np.float64)
    arrays["b_out"] = policy.action_net.bias.detach().cpu().numpy().astype(np.float64)
    if hasattr(policy, "log_std"):
        arrays["log_std"] = policy.log_std.detach().cpu().numpy().astype(np.float64)
        arrays["kind"] = np.array(KINDS.index("continuous"))
    else:
        arrays["kind"] = np.array(KINDS.index("discrete"))
    return arrays


def save_actor(model: object, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **export_policy(model))
    return path


@dataclass(frozen=True)
class MlpActor:
    """The exported actor: `act` gives the deterministic action and a confidence in [0, 1]."""

    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]
    w_out: np.ndarray
    b_out: np.ndarray
    kind: str
    log_std: np.ndarray | None = None

    @classmethod
    def load(cls, path: Path | str) -> MlpActor:
        with np.load(path) as z:
            n = sum(1 for k in z.files if k.startswith("w") and k[1:].isdigit())
            hidden = tuple((z[f"w{i}"], z[f"b{i}"]) for i in range(n))
            return cls(hidden, z["w_out"], z["b_out"], KINDS[int(z["kind"])], z["log_std"] if "log_std" in z.files else None)

    @property
    def n_features(self) -> int:
        return int(self.hidden[0][0].shape[1])

    def output(self, features: np.ndarray) -> np.ndarray:
        h = np.asarray(features, dtype=np.float64)
        for w, b in self.hidden:
            h = np.tanh(h @ w.T + b)
        return h @ self.w_out.T + self.b_out

    def act(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of features -> (action, confidence). Continuous: the mean action clipped to [-1, 1],
        confidence = the policy's probability of acting within 0.1 of it. Discrete: the most likely
        action and its probability."""
        out = self.output(np.atleast_2d(features))
        if self.kind == "discrete":
            z = np.exp(out - out.max(axis=1, keepdims=True))
            probs = z / z.sum(axis=1, keepdims=True)
            return probs.argmax(axis=1), probs.max(axis=1)
        assert self.log_std is not None
        sigma = float(np.exp(self.log_std).mean())
        confidence = math.erf(0.1 / (sigma * math.sqrt(2.0)))
        return np.clip(out[:, 0], -1.0, 1.0), np.full(len(out), confidence)
