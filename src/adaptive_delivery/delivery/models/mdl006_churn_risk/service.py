"""MDL-006's answer to a request: a list's subscribers in (their features as the feature store
holds them, and the mailbox provider), and per subscriber P(unsubscribe) and P(complaint) for the
next message and within 30 days, the complaints per open their mail draws, and the action the
sender's policy takes (`policy.ACTIONS`).

Optional inputs: `subscriber_id` (text per subscriber), `messages_30d` (how many messages the
sender plans for each person in the next 30 days; default, their last 30 days' count), and, one
value each for the whole request, the policy's thresholds (`policy.RiskThresholds` field names)
to override the registered settings. A malformed request raises RequestError with the reason
(HTTP 400 / gRPC INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

import numpy as np

from adaptive_delivery.delivery.decisions.service import RequestError, feature_rows
from adaptive_delivery.delivery.models.mdl006_churn_risk import policy
from adaptive_delivery.delivery.models.mdl006_churn_risk.model import (
    COMPLAINED,
    RECEIVED,
    UNSUBSCRIBED,
    open_rate,
)
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.requests import bounded_number, numbers, take_single

SUBSCRIBER_ID = "subscriber_id"
MESSAGES_30D = "messages_30d"
THRESHOLDS = tuple(f.name for f in fields(policy.RiskThresholds))
OUTPUTS = ("subscriber_id", "p_unsubscribe", "p_complaint", "p_unsubscribe_30d", "p_complaint_30d",
           "complaints_per_open", "action")


def thresholds_from(columns: dict) -> policy.RiskThresholds:
    """The registered thresholds, with any the request overrides (taken out of `columns`)."""
    given = {name: bounded_number(v, name, 1e-6, 1.0) for name in THRESHOLDS
             if (v := take_single(columns, name)) is not None}
    return policy.RiskThresholds(**given)


def answer(bundle: TrainedModel, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each subscriber's risks and the action the policy takes."""
    cols = dict(columns)
    thresholds = thresholds_from(cols)
    ids = cols.pop(SUBSCRIBER_ID, None)
    planned = cols.pop(MESSAGES_30D, None)
    rows, _ = feature_rows(cols, bundle.features, bundle.categorical)
    n = len(rows)
    if ids is not None and (len(ids) != n or any(not isinstance(v, str | bytes) for v in ids)):
        raise RequestError(f"input {SUBSCRIBER_ID!r} must be one text (BYTES) per subscriber")
    messages = rows[RECEIVED].to_numpy(dtype=float) if planned is None else \
        numbers({MESSAGES_30D: planned}, MESSAGES_30D, n, high=10_000)
    proba = bundle.predict_proba(rows)
    unsub_30d = policy.thirty_day_risk(proba[:, UNSUBSCRIBED], messages)
    complaint_30d = policy.thirty_day_risk(proba[:, COMPLAINED], messages)
    ratio = policy.complaints_per_open(proba[:, COMPLAINED], open_rate(rows))
    action = policy.decide(unsub_30d, ratio, thresholds)
    return {SUBSCRIBER_ID: np.array([v.decode() if isinstance(v, bytes) else v for v in ids] if ids is not None
                                    else [str(i) for i in range(n)], dtype=object),
            "p_unsubscribe": proba[:, UNSUBSCRIBED], "p_complaint": proba[:, COMPLAINED],
            "p_unsubscribe_30d": unsub_30d, "p_complaint_30d": complaint_30d, "complaints_per_open": ratio,
            "action": np.array(policy.ACTIONS, dtype=object)[action]}
