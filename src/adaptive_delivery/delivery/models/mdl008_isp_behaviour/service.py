"""MDL-008 answered per request row: one unit's answer profile (a recipient domain's or a
provider's, computed from the sender's own log by `profile.behaviour_profiles`) in; the group it
answers like out, and, where the row carries the unit's reference profile (`reference_*`, its
profile over the weeks before), how far it moved. Rows sent together are one window: with three
units or more, what moved them all (the sender's own content, its volume) cancels, as in training.
The same code in the MLflow pyfunc and the MLServer runtime."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.models.mdl008_isp_behaviour import model as mm
from adaptive_delivery.delivery.models.mdl008_isp_behaviour.profile import (
    PROFILE_FEATURES,
    SHARE_FEATURES,
)
from adaptive_delivery.platform.requests import RequestError, batch_size, names, numbers

MAX_BATCH = 1_000  # units per request
MAX_LOG_LATENCY = float(np.log(1e6))  # log ms: a reply after 1,000 s is no reply
REFERENCE = tuple(f"reference_{f}" for f in PROFILE_FEATURES)
INPUTS = ("unit", "messages", *PROFILE_FEATURES, *REFERENCE)
OUTPUTS = ("cluster", "cluster_name", "distance", "next_distance", "change_score", "over_threshold")


def load_model(path: Path) -> mm.ClusterModel:
    """The registered clusters; ValueError where the file is another version's."""
    return mm.ClusterModel.load(path)


def profile_frame(columns: Mapping[str, np.ndarray], n: int, prefix: str = "") -> pd.DataFrame:
    """The profile columns (with `prefix`) as a frame named by PROFILE_FEATURES; RequestError on a
    share outside [0, 1] or a latency outside [0, log 1,000 s]."""
    frame = {}
    for feature in PROFILE_FEATURES:
        high = 1.0 if feature in SHARE_FEATURES else MAX_LOG_LATENCY
        frame[feature] = numbers(columns, prefix + feature, n, 0.0, high)
    return pd.DataFrame(frame)


def answer_rows(model: mm.ClusterModel, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One array per output, one value per unit; RequestError on anything the caller must fix."""
    unknown = sorted(set(columns) - set(INPUTS))
    if unknown:
        raise RequestError(f"unknown inputs {unknown}; MDL-008 reads {list(INPUTS)}")
    n = batch_size(columns, MAX_BATCH)
    units = names(columns, "unit", n, "a recipient domain or a provider")
    messages = numbers(columns, "messages", n, 1.0, np.inf, integer=True)
    profiles = profile_frame(columns, n).assign(messages=messages)
    groups = model.assign(profiles)
    given = [name for name in REFERENCE if name in columns]
    score = np.full(n, np.nan)
    if given:
        if len(given) != len(REFERENCE):
            missing = sorted(set(REFERENCE) - set(given))
            raise RequestError(f"a reference profile needs every reference_* input; missing {missing}")
        reference = profile_frame(columns, n, "reference_")
        diff = pd.DataFrame(model.embed(profiles) - model.embed(reference), columns=PROFILE_FEATURES)
        if len(set(units)) >= mm.MIN_UNITS_RELATIVE:
            diff = diff - diff.median()
        score = mm.change_scores(model, diff.assign(unit=units)).to_numpy()
    return {"cluster": groups["cluster"].to_numpy(np.int64), "cluster_name": groups["cluster_name"].to_numpy(object),
            "distance": groups["distance"].to_numpy(float), "next_distance": groups["next_distance"].to_numpy(float),
            "change_score": score, "over_threshold": np.nan_to_num(score, nan=-np.inf) > model.change_threshold}


def example_request() -> pd.DataFrame:
    """Three providers' last three days beside their weeks before: one whose filter began sending
    a lot more of the sender's mail to spam (fewer people open it), two unchanged."""
    now = {"unit": ["gmail", "outlook", "yahoo"], "messages": [12_000, 5_200, 3_400],
           "block_share": [0.006, 0.017, 0.011], "content_block_share": [0.001, 0.002, 0.002],
           "deferral_share": [0.004, 0.005, 0.004], "refusal_5xx_share": [0.6, 0.78, 0.47],
           "spam_share": [0.42, 0.18, 0.19], "open_share": [0.14, 0.2, 0.19],
           "latency_log_median": [5.77, 6.4, 6.11], "latency_log_iqr": [0.47, 0.47, 0.48]}
    before = {"block_share": [0.006, 0.018, 0.011], "content_block_share": [0.001, 0.002, 0.002],
              "deferral_share": [0.004, 0.005, 0.004], "refusal_5xx_share": [0.6, 0.78, 0.46],
              "spam_share": [0.2, 0.18, 0.19], "open_share": [0.2, 0.2, 0.19],
              "latency_log_median": [5.77, 6.4, 6.11], "latency_log_iqr": [0.47, 0.47, 0.48]}
    return pd.DataFrame({**now, **{f"reference_{k}": v for k, v in before.items()}})
