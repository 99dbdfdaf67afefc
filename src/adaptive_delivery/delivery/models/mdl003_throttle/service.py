"""MDL-003 as a service: a rate request (what an MTA knows about one provider right now, and
optionally MDL-004's reading of the sending IP: `decisions.service.REPUTATION_INPUTS`) in, the
recommended rate, the action, the policy's confidence and the rails that bound it out.

Pure numpy (the exported actor): runs in the serving environment's MLServer runtime and in tests.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.decisions.service import (
    RequestError,
    check_reading,
    non_negative_numbers,
    reputation_readings,
)
from adaptive_delivery.delivery.knowledge.limits import KnownLimits
from adaptive_delivery.delivery.models.mdl003_throttle.features import (
    FEATURE_NAMES,
    multiplier,
    throttle_features,
)
from adaptive_delivery.delivery.providers import PROVIDER_INDEX
from adaptive_delivery.delivery.schemas import MTA_WINDOW_FIELDS
from adaptive_delivery.platform.rl.policy_export import MlpActor

MAX_BATCH = 10_000
REQUIRED = MTA_WINDOW_FIELDS
# An unknown provider is served with the most cautious known profile's limits (and says so).
DEFAULT_PROVIDER = "corporate"


def action_name(mult: float) -> str:
    if mult > 1.02:
        return f"increase_{(mult - 1) * 100:.0f}_percent"
    if mult < 0.98:
        return f"decrease_{(1 - mult) * 100:.0f}_percent"
    return "hold"


def check_actor(actor: MlpActor) -> MlpActor:
    """Refuse a policy trained on another feature set (an older MDL-003) before it serves a request:
    its answers would be a shape error, or worse, numbers computed from the wrong inputs."""
    if actor.n_features != len(FEATURE_NAMES):
        raise ValueError(f"the policy reads {actor.n_features} features, this version computes "
                         f"{len(FEATURE_NAMES)} ({', '.join(FEATURE_NAMES)}): retrain MDL-003")
    return actor


def validate(columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Columns -> (providers, observation rows in MTA_WINDOW_FIELDS order); RequestError on
    anything a caller must fix."""
    missing = [c for c in ("provider", *REQUIRED) if c not in columns]
    if missing:
        raise RequestError(f"missing inputs: {', '.join(missing)}")
    providers = np.asarray(columns["provider"], dtype=object).reshape(-1)
    n = len(providers)
    if n == 0:
        raise RequestError("empty request")
    if n > MAX_BATCH:
        raise RequestError(f"batch of {n} rows exceeds {MAX_BATCH}")
    rows = np.empty((n, len(REQUIRED)))
    for j, name in enumerate(REQUIRED):
        rows[:, j] = non_negative_numbers(columns, name, n)
    if (rows[:, REQUIRED.index("current_send_rate")] <= 0).any():
        raise RequestError("current_send_rate must be > 0 messages/minute")
    check_reading(rows[:, REQUIRED.index("postmaster_reputation")], "postmaster_reputation")
    return providers, rows


def recommend(actor: MlpActor, columns: Mapping[str, np.ndarray], model_version: str,
              limits: KnownLimits | None = None) -> pd.DataFrame:
    """One recommendation per row: rate (messages/minute), action, confidence, rails, notes. The
    rails stop at the ceiling `limits` (the knowledge base) allows, the published limit without it."""
    limits = limits or KnownLimits.none()
    providers, rows = validate(columns)
    readings = reputation_readings(columns, len(providers))
    known = [str(p) in PROVIDER_INDEX for p in providers]
    served = [str(p) if k else DEFAULT_PROVIDER for p, k in zip(providers, known, strict=True)]
    features = np.stack([throttle_features(r.astype(np.float32), p) for r, p in zip(rows, served, strict=True)])
    by_provider = {p: limits.limit(p) for p in set(served)}  # once per provider, not per row
    rails = {p: limit.rails() for p, limit in by_provider.items()}
    actions, confidence = actor.act(features)
    out = []
    for i, (provider, row) in enumerate(zip(served, rows, strict=True)):
        current = float(row[REQUIRED.index("current_send_rate")])
        mult = multiplier(float(actions[i]))
        limit = by_provider[provider]
        railed = rails[provider].apply(current * mult, current, readings[i])
        out.append({
            "provider": str(providers[i]),
            "recommended_rate_per_min": railed.rate_per_min,
            "action": action_name(railed.rate_per_min / current),
            "multiplier": railed.rate_per_min / current,
            "policy_multiplier": mult,
            "confidence": float(confidence[i]),
            "rails_applied": ",".join(railed.rails),
            "ceiling_per_min": limit.ceiling_per_min,
            "ceiling_source": limit.ceiling_source,
            "model_version": model_version,
            "note": "" if known[i] else f"unknown provider: served with {DEFAULT_PROVIDER}'s limits",
        })
    return pd.DataFrame(out)
