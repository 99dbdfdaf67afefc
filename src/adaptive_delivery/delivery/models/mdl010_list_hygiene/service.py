"""MDL-010's answer to a request: a list's addresses in (their features as the feature store holds
them, their mailbox provider, acquisition source and address), and per address P(hard bounce) and
P(soft bounce) for the next message, the address check, and the policy's action
(`policy.ACTIONS`).

Optional inputs: `subscriber_id` (text per address) and, one value each for the whole request, the
policy's thresholds (`policy.HygieneThresholds` field names) to override the registered settings.
A malformed request raises RequestError with the reason (HTTP 400 / gRPC INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

import numpy as np

from adaptive_delivery.delivery.decisions.service import RequestError, feature_rows
from adaptive_delivery.delivery.models.mdl010_list_hygiene import policy
from adaptive_delivery.delivery.models.mdl010_list_hygiene.address import check_addresses
from adaptive_delivery.delivery.models.mdl010_list_hygiene.model import ADDRESS_CHECK, HARD, SOFT
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.requests import bounded_number, take_single

SUBSCRIBER_ID = "subscriber_id"
EMAIL = "email"
THRESHOLDS = tuple(f.name for f in fields(policy.HygieneThresholds))
OUTPUTS = ("subscriber_id", "p_hard_bounce", "p_soft_bounce", "address_check", "action")


def thresholds_from(columns: dict) -> policy.HygieneThresholds:
    """The registered thresholds, with any the request overrides (taken out of `columns`)."""
    given = {name: bounded_number(v, name, 1e-6, 1.0) for name in THRESHOLDS
             if (v := take_single(columns, name)) is not None}
    return policy.HygieneThresholds(**given)


def _texts(values, name: str, n: int | None = None) -> list[str]:
    out = [v.decode() if isinstance(v, bytes) else v for v in np.asarray(values, dtype=object).ravel()]
    if (n is not None and len(out) != n) or any(not isinstance(v, str) for v in out):
        raise RequestError(f"input {name!r} must be one text (BYTES) per address")
    return out


def answer(bundle: TrainedModel, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each address's bounce risks, its check and the action the policy takes."""
    cols = dict(columns)
    thresholds = thresholds_from(cols)
    ids = cols.pop(SUBSCRIBER_ID, None)
    if EMAIL not in cols:
        raise RequestError(f"missing input {EMAIL!r}: the address itself (one text per address)")
    others = [np.asarray(v, dtype=object).ravel().size for k, v in cols.items() if k in bundle.features]
    emails = _texts(cols.pop(EMAIL), EMAIL, others[0] if others else None)
    cols[ADDRESS_CHECK] = check_addresses(emails)
    rows, _ = feature_rows(cols, bundle.features, bundle.categorical)
    n = len(rows)
    names = _texts(ids, SUBSCRIBER_ID, n) if ids is not None else [str(i) for i in range(n)]
    proba = bundle.predict_proba(rows)
    check = rows[ADDRESS_CHECK].to_numpy(dtype=object)
    action = policy.decide(proba[:, HARD], proba[:, SOFT], check, thresholds)
    return {SUBSCRIBER_ID: np.array(names, dtype=object), "p_hard_bounce": proba[:, HARD],
            "p_soft_bounce": proba[:, SOFT], "address_check": check,
            "action": np.array(policy.ACTIONS, dtype=object)[action]}
