"""The decision service's contract, independent of the server that carries it: turn a batch of
named input columns into validated feature rows, and probabilities into the spec §6.1 response
(per message: outcome probabilities, action with reason, risk score, confidence, model version).

Anything wrong with a request raises RequestError with a message the caller can act on; the
serving runtimes map it to HTTP 400 / gRPC INVALID_ARGUMENT. Nothing here imports a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.decisions.actions import ActionThresholds, decide
from adaptive_delivery.delivery.decisions.rails import ReputationReading
from adaptive_delivery.delivery.features.definitions import UNSCORED
from adaptive_delivery.delivery.feeds import is_reading
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.requests import RequestError, numbers
from adaptive_delivery.platform.requests import batch_size as _batch_size

# Spec §3.1 sizes batches at 1,000 messages; ten times that is refused rather than slowing everyone.
MAX_BATCH = 10_000
MESSAGE_ID = "message_id"
CONTENT_RISK = "content_features__content_spam_risk"


def batch_size(columns: Mapping[str, Sequence | np.ndarray], max_batch: int = MAX_BATCH) -> int:
    """The number of messages in a request whose inputs all have it, between 1 and `max_batch`."""
    return _batch_size(columns, max_batch)


def non_negative_numbers(columns: Mapping[str, Sequence | np.ndarray], name: str, n: int) -> np.ndarray:
    """Input `name` as n finite floats >= 0 (rates, counts, scores); RequestError naming the input."""
    return numbers(columns, name, n)


def check_reading(values: np.ndarray, name: str) -> None:
    """A reputation-feed reading as `delivery.feeds` codes it; RequestError naming the input."""
    if not all(is_reading(v) for v in np.asarray(values, dtype=float)):
        raise RequestError(f"input {name!r} is a reputation-feed reading: 0 (no reading) or 1-4 "
                           "(bad, low, medium, high)")


# MDL-004's reading of the sending IP or domain, optional beside a throttle or warm-up request.
REPUTATION_INPUTS = ("reputation_health", "reputation_alert")


def reputation_readings(columns: Mapping[str, Sequence | np.ndarray], n: int) -> list[ReputationReading | None]:
    """MDL-004's reading per row for the rails: `reputation_health` (0-100; NaN where the unit has
    none) and, optionally, `reputation_alert` (1 where one of its alerts fired). None per row
    without a reading; RequestError naming the input on anything else."""
    if "reputation_health" not in columns:
        if "reputation_alert" in columns:
            raise RequestError("input 'reputation_alert' needs 'reputation_health' beside it (MDL-004's health score)")
        return [None] * n
    try:
        health = np.asarray(columns["reputation_health"], dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"input 'reputation_health' must be numbers (MDL-004's 0-100 health score): {exc}") from exc
    if len(health) != n:
        raise RequestError(f"input 'reputation_health' has {len(health)} values for {n} rows")
    known = ~np.isnan(health)
    if ((health[known] < 0) | (health[known] > 100)).any():
        raise RequestError("input 'reputation_health' is MDL-004's health score: between 0 and 100 (NaN: no reading)")
    alert = numbers(columns, "reputation_alert", n) if "reputation_alert" in columns else np.zeros(n)
    if not np.isin(alert, (0.0, 1.0)).all():
        raise RequestError("input 'reputation_alert' is 1 where one of MDL-004's alerts fired, else 0")
    return [ReputationReading(float(h), bool(a)) if k else None for h, a, k in zip(health, alert, known, strict=True)]


FLOAT32_MAX = float(np.finfo(np.float32).max)


def feature_rows(columns: Mapping[str, Sequence | np.ndarray], features: Sequence[str], categorical: Sequence[str],
                 max_batch: int = MAX_BATCH) -> tuple[pd.DataFrame, list[str]]:
    """Validated feature rows and message ids from named columns of equal length.

    Every feature column must be present; numeric columns must be finite numbers (a NaN is a
    caller's bug, not a missing value: leave the entity-key path to fill gaps); categorical columns
    are strings. `message_id` is optional (positions are used when absent)."""
    n = batch_size(columns, max_batch)
    missing = [f for f in features if f not in columns]
    if missing:
        raise RequestError(f"missing inputs: {missing[:10]}{' …' if len(missing) > 10 else ''} "
                           f"({len(missing)} of {len(features)} features)")
    unknown = sorted(set(columns) - set(features) - {MESSAGE_ID})
    if unknown:
        raise RequestError(f"unknown inputs: {unknown[:10]}")
    out = {}
    for name in features:
        values = np.asarray(columns[name], dtype=object)
        if values.ndim != 1:
            raise RequestError(f"input {name!r} must be one value per message, got shape {values.shape}")
        if name in categorical:
            _require_text(name, values)
            out[name] = pd.Series(values).map(lambda v: None if v is None else str(v))
            continue
        if any(isinstance(v, str | bytes) for v in values):  # "1.5" as text would pass float()
            raise RequestError(f"input {name!r} must be numeric: send numbers (FP64), not text")
        try:
            numbers = values.astype(float)
        except (TypeError, ValueError) as exc:
            raise RequestError(f"input {name!r} must be numeric: {exc}") from exc
        if not np.isfinite(numbers).all():
            raise RequestError(f"input {name!r} has NaN or infinite values at rows "
                               f"{np.flatnonzero(~np.isfinite(numbers))[:5].tolist()}")
        if (np.abs(numbers) > FLOAT32_MAX).any():  # the models compute in float32: it would be infinite
            raise RequestError(f"input {name!r} has values beyond ±{FLOAT32_MAX:.3g} at rows "
                               f"{np.flatnonzero(np.abs(numbers) > FLOAT32_MAX)[:5].tolist()}")
        out[name] = numbers
    if MESSAGE_ID in columns:
        _require_text(MESSAGE_ID, np.asarray(columns[MESSAGE_ID], dtype=object))
    ids = [str(v) for v in columns[MESSAGE_ID]] if MESSAGE_ID in columns else [str(i) for i in range(n)]
    return pd.DataFrame(out), ids


def element_columns(columns: Mapping[str, Sequence | np.ndarray], arrays: Sequence[str], width: int,
                    what: str = "") -> dict[str, Sequence | np.ndarray]:
    """The request's columns with each array input (FP64 [n, width]: a subscriber's heatmap) split
    into the element columns a model reads (`name[k]`, `platform.training.dataset.ELEMENT`);
    RequestError naming an array that is missing (`what` says what it holds) or misshapen."""
    out = dict(columns)
    for base in arrays:
        if base not in out:
            raise RequestError(f"missing input {base!r}: {what}FP64 with shape [n, {width}]")
        values = np.asarray(out.pop(base))
        if values.ndim != 2 or values.shape[1] != width:
            raise RequestError(f"input {base!r} must have shape [n, {width}], got {list(values.shape)}")
        out |= {f"{base}[{k}]": values[:, k] for k in range(width)}
    return out


def _require_text(name: str, values: np.ndarray) -> None:
    """Categories and ids are text (BYTES); a number sent for one is a caller's bug."""
    bad = next((v for v in values if v is not None and not isinstance(v, str)), None)
    if bad is not None:
        raise RequestError(f"input {name!r} is text: send it as BYTES, got {type(bad).__name__} {str(bad)[:20]!r}")


def content_risk(rows: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray | None:
    """MDL-007's P(spam) of each message's content where the rows carry it (the content gate reads
    it; a missing value is an unscored content)."""
    if CONTENT_RISK not in rows:
        return None
    values = np.asarray(rows[CONTENT_RISK], dtype=float).reshape(-1)
    values = np.where(np.isnan(values), UNSCORED, values)
    bad = (values != UNSCORED) & ((values < 0) | (values > 1))
    if bad.any():
        raise RequestError(f"input {CONTENT_RISK!r} is MDL-007's P(spam): between 0 and 1, or {UNSCORED} where the "
                           f"content was not scored; rows {np.flatnonzero(bad)[:5].tolist()} are not")
    return values


def decision_frame(bundle: TrainedModel, rows: pd.DataFrame | Mapping[str, np.ndarray], message_ids: list[str],
                   model_version: str, thresholds: ActionThresholds = ActionThresholds(),
                   defaults: list[str] | None = None) -> pd.DataFrame:
    """Spec §6.1's response, one row per message; `defaults` (entity-key requests) names per
    message the entities whose features were unknown and left missing."""
    return pd.DataFrame(decision_columns(bundle, rows, message_ids, model_version, thresholds, defaults))


def decision_columns(bundle: TrainedModel, rows: pd.DataFrame | Mapping[str, np.ndarray],
                     message_ids: Sequence[str], model_version: str,
                     thresholds: ActionThresholds = ActionThresholds(),
                     defaults: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """`decision_frame` as one array per field (what a server encodes; no frame built)."""
    content = content_risk(rows)  # checked before the model runs
    proba = bundle.predict_proba(rows)
    d = decide(proba, thresholds, content)
    n = len(proba)
    out = {MESSAGE_ID: np.asarray(message_ids, dtype=object),
           **{f"p_{name}": proba[:, i] for i, name in enumerate(bundle.classes)},
           "action": d.action.astype(object), "reason": d.reason.astype(object),
           "risk_score": d.risk_score, "confidence": d.confidence,
           "model_version": np.full(n, model_version, dtype=object)}
    if defaults is not None:
        out["defaults"] = np.asarray(defaults, dtype=object)
    return out
