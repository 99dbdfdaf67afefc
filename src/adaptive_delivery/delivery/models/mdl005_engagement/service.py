"""MDL-005's answer to a request: feature values in (the heatmaps as 24 shares per message), P(human
open) and P(click) per message out. Shared by the MLServer runtime and the tests; a malformed
request raises RequestError with the reason (HTTP 400 / gRPC INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adaptive_delivery.delivery.decisions.service import element_columns, feature_rows
from adaptive_delivery.delivery.models.mdl005_engagement.model import (
    CLICK_HEATMAP,
    HOURS,
    OPEN_HEATMAP,
    open_and_click,
)
from adaptive_delivery.platform.bundle import TrainedModel

OUTPUTS = ("message_id", "p_open", "p_click")


def answer(bundle: TrainedModel, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """P(open) and P(click) for each message of a request (validated: every feature present,
    numbers finite, text where text is due)."""
    heatmaps = element_columns(columns, (OPEN_HEATMAP, CLICK_HEATMAP), HOURS, "the subscriber's shares by UTC hour, ")
    rows, ids = feature_rows(heatmaps, bundle.features, bundle.categorical)
    p_open, p_click = open_and_click(bundle.predict_proba(rows))
    return {"message_id": np.array(ids, dtype=object), "p_open": p_open, "p_click": p_click}
