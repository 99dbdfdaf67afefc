"""MDL-003's inputs and outputs as served: the MTA's window (`delivery.schemas.MTA_WINDOW_FIELDS`)
as scale-free features, and the policy's action as a rate multiplier. Pure numpy: the serving
runtime, the training environment and the baselines' harness all compute them here.
"""

from __future__ import annotations

import math

import numpy as np

from adaptive_delivery.delivery.decisions.rails import known_limit_per_min
from adaptive_delivery.delivery.feeds import level_score
from adaptive_delivery.delivery.providers import PROVIDER_INDEX, PROVIDER_NAMES, typical_latency_ms
from adaptive_delivery.delivery.schemas import MTA_WINDOW_FIELDS

OBS = {name: i for i, name in enumerate(MTA_WINDOW_FIELDS)}
# The provider's identity, one-hot: how hard a limit may be probed differs per provider (a window
# past a strict provider's limit is refused in bulk, a lenient one only defers), and the window's
# own signals cannot tell which kind the policy is talking to.
PROVIDER_FEATURES = tuple(f"provider_{name}" for name in PROVIDER_NAMES)
FEATURE_NAMES = (
    "bias", "deferral_share_1m", "block_share_1m", "failure_1m", "failure_5m", "failure_15m",
    "latency_excess", "log_rate_vs_good", "log_rate_vs_known_limit", "postmaster_reputation", "log_rate_vs_ceiling",
    *PROVIDER_FEATURES,
)


MAX_UP, MAX_DOWN = 1.5, 0.5  # what the ±50% rail lets through
LOG_UP, LOG_DOWN = math.log(MAX_UP), math.log(MAX_DOWN)
HOLD_ACTION = -2.0 * LOG_DOWN / (LOG_UP - LOG_DOWN) - 1.0  # the action that keeps the rate


def multiplier(action: float) -> float:
    """A learned policy's output in [-1, 1] as a rate multiplier in [0.5, 1.5]: exactly the moves
    the ±50% rail lets reach the world, linear in the log of the rate (hold at `HOLD_ACTION`).

    Linear, because PPO trains on noisy actions and is served its mean: with a kink at hold
    (1.5^a up, 2^a down) the noise alone cuts the rate in training, the policy learns to push
    up against it, and served without the noise it settles above where it learned to stay."""
    a = float(np.clip(action, -1.0, 1.0))
    return float(np.exp(LOG_DOWN + (a + 1.0) / 2.0 * (LOG_UP - LOG_DOWN)))


def throttle_features(obs: np.ndarray, provider: str) -> np.ndarray:
    """Scale-free features of one observation: the same policy serves a provider that takes 20
    messages a minute and one that takes 700."""
    rate = max(float(obs[OBS["current_send_rate"]]), 1e-3)
    identity = np.zeros(len(PROVIDER_NAMES))
    if provider in PROVIDER_INDEX:
        identity[PROVIDER_INDEX[provider]] = 1.0
    return np.array([
        1.0,
        float(obs[OBS["smtp_4xx_rate"]]),
        float(obs[OBS["smtp_5xx_rate"]]),
        1.0 - float(obs[OBS["success_rate_1m"]]),
        1.0 - float(obs[OBS["success_rate_5m"]]),
        1.0 - float(obs[OBS["success_rate_15m"]]),
        float(np.log(max(float(obs[OBS["smtp_latency_ms"]]), 1.0) / typical_latency_ms(provider))),
        float(np.log(rate / max(float(obs[OBS["historical_good_rate"]]), 1e-3))),
        float(np.log(rate / known_limit_per_min(provider))),
        level_score(float(obs[OBS["postmaster_reputation"]])),
        float(np.log(rate / max(float(obs[OBS["deferral_ceiling_rate"]]), 1e-3))),
        *identity,
    ], dtype=np.float32)
