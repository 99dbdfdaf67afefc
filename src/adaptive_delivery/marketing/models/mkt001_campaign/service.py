"""MKT-001 answered per request row: one customer's fields in (as the Hillstrom file has them),
the campaign's predicted performance out: P(visit) — the e-mail's click-through — and P(conversion)
for the e-mail asked about (or the recommended one), the confidence, each e-mail's uplift over
sending nothing, and the e-mail to send. The same code in the MLflow pyfunc and MLServer runtime."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom
from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet, confidence
from adaptive_delivery.platform.requests import RequestError, batch_size

MAX_BATCH = 10_000  # customers per request
EMAIL = "email"  # optional input: the e-mail the prediction is for (default: the recommended one)
INPUTS = (*hillstrom.RAW_COLUMNS, EMAIL)
OUTPUTS = ("email", "predicted_ctr", "predicted_conversion_rate", "confidence", "recommended_email",
           "visit_uplift_mens", "visit_uplift_womens", "conversion_uplift_mens", "conversion_uplift_womens")
UPLIFT_OUTPUTS = {"mens": 1, "womens": 2}  # output suffix -> arm


def _asked(columns: Mapping[str, np.ndarray], n: int) -> np.ndarray | None:
    """The arm each row asks about, or None where the request leaves it to the recommendation."""
    if EMAIL not in columns:
        return None
    # bytes over gRPC; None or NaN where a frame left the e-mail out (a pandas caller's missing value)
    names = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else v.decode() if isinstance(v, bytes) else v
             for v in np.asarray(columns[EMAIL], dtype=object).reshape(-1).tolist()]
    if len(names) != n:
        raise RequestError(f"input {EMAIL!r} has {len(names)} values for {n} rows")
    unknown = sorted({str(v) for v in names} - set(hillstrom.ARMS) - {""})
    if unknown:
        raise RequestError(f"input {EMAIL!r} has unknown e-mails {unknown[:5]}; expected one of {list(hillstrom.ARMS)}")
    return np.array([hillstrom.ARMS.index(v) if v else -1 for v in names])


def answer_rows(net: ArrayNet, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One array per output, one value per request row; RequestError on anything the caller must fix."""
    unknown = sorted(set(columns) - set(INPUTS))
    if unknown:
        raise RequestError(f"unknown inputs {unknown}; MKT-001 reads {list(INPUTS)}")
    n = batch_size(columns, MAX_BATCH)
    try:
        x = hillstrom.encode(columns)
    except ValueError as exc:
        raise RequestError(str(exc)) from exc
    members = net.predict_members(x)  # (members, n, arms, outcomes)
    p = members.mean(axis=0)
    recommended = p[:, :, 0].argmax(axis=1)
    asked = _asked(columns, n)
    arm = recommended if asked is None else np.where(asked >= 0, asked, recommended)
    rows = np.arange(n)
    visit_draws = members[:, rows, arm, 0]
    out = {"email": np.array([hillstrom.ARMS[a] for a in arm], dtype=object),
           "predicted_ctr": p[rows, arm, 0], "predicted_conversion_rate": p[rows, arm, 1],
           "confidence": confidence(visit_draws),
           "recommended_email": np.array([hillstrom.ARMS[a] for a in recommended], dtype=object)}
    for suffix, a in UPLIFT_OUTPUTS.items():
        out[f"visit_uplift_{suffix}"] = p[:, a, 0] - p[:, hillstrom.CONTROL, 0]
        out[f"conversion_uplift_{suffix}"] = p[:, a, 1] - p[:, hillstrom.CONTROL, 1]
    return {k: out[k] if out[k].dtype == object else out[k].astype(np.float64) for k in OUTPUTS}


def example_request() -> pd.DataFrame:
    """Three customers: a recent women's-wear buyer, a lapsed men's-wear buyer, a new web customer."""
    return pd.DataFrame({
        "recency": [2, 11, 1], "history": [420.5, 64.2, 29.99], "mens": [0, 1, 1], "womens": [1, 0, 1],
        "newbie": [0, 0, 1], "zip_code": ["Urban", "Rural", "Surburban"], "channel": ["Web", "Phone", "Multichannel"],
        "email": ["Womens E-Mail", "", "No E-Mail"],
    })
