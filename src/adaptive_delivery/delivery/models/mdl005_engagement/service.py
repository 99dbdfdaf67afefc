"""MDL-005's answer to a request: feature values in (the heatmaps as 24 shares per message), P(human
open) and P(click) per message out. Shared by the MLServer runtime and the tests; a malformed
request raises RequestError with the reason (HTTP 400 / gRPC INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adaptive_delivery.delivery.decisions.service import RequestError, feature_rows
from adaptive_delivery.delivery.models.mdl005_engagement.model import (
    CLICK_HEATMAP,
    HOURS,
    OPEN_HEATMAP,
    open_and_click,
)
from adaptive_delivery.platform.bundle import TrainedModel

OUTPUTS = ("message_id", "p_open", "p_click")


def element_columns(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The request's columns with each heatmap ([n, 24] shares by UTC hour) split into the 24
    element columns the model reads (`name[k]`)."""
    out = dict(columns)
    for base in (OPEN_HEATMAP, CLICK_HEATMAP):
        if base not in out:
            raise RequestError(f"missing input {base!r}: the subscriber's {HOURS} shares by UTC hour, "
                               f"FP64 with shape [n, {HOURS}]")
        values = np.asarray(out.pop(base))
        if values.ndim != 2 or values.shape[1] != HOURS:
            raise RequestError(f"input {base!r} must have shape [n, {HOURS}], got {list(values.shape)}")
        for k in range(HOURS):
            out[f"{base}[{k}]"] = values[:, k]
    return out


def answer(bundle: TrainedModel, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """P(open) and P(click) for each message of a request (validated: every feature present,
    numbers finite, text where text is due)."""
    rows, ids = feature_rows(element_columns(columns), bundle.features, bundle.categorical)
    p_open, p_click = open_and_click(bundle.predict_proba(rows))
    return {"message_id": np.array(ids, dtype=object), "p_open": p_open, "p_click": p_click}
