"""MDL-004 answered per request row: one sending IP's or domain's signals at this hour (computed
from the sender's own log by `signals.snapshot_frame`) in; P(block event) and P(listing) in the
next 24 hours, the health score and its Postmaster word, the alerts and the factors behind them
out. The same code in the MLflow pyfunc and the MLServer runtime."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.models.mdl004_domain_reputation import model as rm
from adaptive_delivery.delivery.models.mdl004_domain_reputation.signals import (
    FEATURES,
    MAX_HOURS_SINCE,
)
from adaptive_delivery.platform.requests import RequestError, batch_size, names, numbers

MAX_BATCH = 1_000  # units per request
LOG_HOURS = float(np.log1p(MAX_HOURS_SINCE))
RATIO_HIGH = 1_000.0
# each signal's valid range: (low, high, whole numbers)
BOUNDS: dict[str, tuple[float, float, bool]] = {
    **{f: (0.0, 1.0, False) for f in FEATURES if f.endswith(("_24h", "_7d")) and "rate" in f},
    # opens and complaints are counted when they happen, acceptances when they happen: a unit whose
    # mail stopped being accepted can show more of them than acceptances in a window
    **{f: (0.0, RATIO_HIGH, False) for f in ("open_rate_7d", "complaint_rate_7d", "deferral_rate_24h")},
    "open_trend": (-RATIO_HIGH, RATIO_HIGH, False),
    "worst_provider_block_24h": (0.0, 1.0, False), "block_trend": (-1.0, 1.0, False),
    "is_domain": (0.0, 1.0, True), "listed_now": (0.0, 1.0, True),
    "log_sent_24h": (0.0, 30.0, False), "log_sent_7d": (0.0, 30.0, False), "volume_spike": (-30.0, 30.0, False),
    "log_hours_since_sent": (0.0, LOG_HOURS, False), "log_hours_since_listed": (0.0, LOG_HOURS, False),
    "listings_30d": (0.0, 31.0, True), "postmaster": (0.0, 1.0, False), "snds": (0.0, 1.0, False),
}
INPUTS = ("unit", *FEATURES)
OUTPUTS = ("unit", "p_block_event", "p_listing", "risk", "health_score", "category", "block_alert",
           "listing_alert", "factors")


def load_model(path: Path) -> rm.ReputationModel:
    """The registered model; ValueError where the file is another version's."""
    return rm.ReputationModel.load(path)


def answer_rows(model: rm.ReputationModel, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One array per output, one value per unit; RequestError on anything the caller must fix."""
    unknown = sorted(set(columns) - set(INPUTS))
    if unknown:
        raise RequestError(f"unknown inputs {unknown}; MDL-004 reads {list(INPUTS)}")
    n = batch_size(columns, MAX_BATCH)
    units = names(columns, "unit", n, "a sending IP or domain")
    frame = pd.DataFrame({f: numbers(columns, f, n, *BOUNDS[f][:2], integer=BOUNDS[f][2]) for f in FEATURES})
    scored = model.score(frame)
    return {"unit": units, **{name: scored[name].to_numpy() for name in OUTPUTS[1:5]},
            "category": scored["category"].to_numpy(dtype=object),
            "block_alert": scored["block_alert"].to_numpy(dtype=bool),
            "listing_alert": scored["listing_alert"].to_numpy(dtype=bool),
            "factors": np.array(scored["factors"], dtype=object)}


def example_request() -> pd.DataFrame:
    """Two IPs at the same hour: one whose list is clean, one that mailed an imported list today
    (hard bounces and blocks jumped, its opens fell)."""
    clean = {"is_domain": 0.0, "log_sent_24h": 8.2, "log_sent_7d": 10.1, "volume_spike": -0.05,
             "log_hours_since_sent": 0.7, "hard_rate_24h": 0.006, "hard_rate_7d": 0.007, "soft_rate_7d": 0.009,
             "block_rate_24h": 0.008, "block_rate_7d": 0.009, "block_trend": -0.001, "worst_provider_block_24h": 0.02,
             "content_block_rate_7d": 0.001, "deferral_rate_24h": 0.005, "complaint_rate_7d": 0.0004,
             "open_rate_7d": 0.22, "open_trend": 0.01, "listed_now": 0.0, "log_hours_since_listed": LOG_HOURS,
             "listings_30d": 0.0, "postmaster": 1.0, "snds": 1.0}
    bought = {**clean, "log_sent_24h": 9.3, "volume_spike": 0.9, "hard_rate_24h": 0.09, "hard_rate_7d": 0.03,
              "block_rate_24h": 0.05, "block_trend": 0.04, "worst_provider_block_24h": 0.16,
              "complaint_rate_7d": 0.0011, "open_rate_7d": 0.12, "open_trend": -0.05, "postmaster": 2 / 3}
    return pd.DataFrame([{"unit": "192.0.2.10", **clean}, {"unit": "192.0.2.11", **bought}])
