"""MDL-002's answer to a request: one campaign's subscribers in (their open-hour heatmaps, 30-day
counts and kind of mailbox, as the feature store holds them) with the campaign's window and
constraints, and for each subscriber stage 1's P(open) at each of the window's 24 hours and stage
2's hour (spec §3.3: `optimal_hour_utc`, `optimal_day`, `confidence`, `fallback_hours`).

The campaign's inputs, one value each: `campaign_start` (ISO 8601, UTC: the window is the 24 whole
hours from it), optionally `deadline_hours` (send within this many hours of the start),
`allowed_hours_utc` (24 values, 1 where the campaign may send at that UTC hour: business hours)
and `max_hour_share` (no hour carries more of the request's subscribers, 0.15 by default). A
campaign larger than one request is sent as several requests: each holds the cap, so the whole
does. A malformed request raises RequestError with the reason (HTTP 400 / gRPC INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.decisions.service import RequestError, element_columns, feature_rows
from adaptive_delivery.delivery.models.mdl002_send_time import schedule as sc
from adaptive_delivery.delivery.models.mdl002_send_time.model import HOURS, OPEN_HEATMAP, SEND_HOUR
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.requests import bounded_number, take_single

SUBSCRIBER_ID = "subscriber_id"
CAMPAIGN_INPUTS = ("campaign_start", "deadline_hours", "allowed_hours_utc", "max_hour_share")
OUTPUTS = ("subscriber_id", "p_open", "optimal_hour_utc", "optimal_day", "confidence", "fallback_hours")
FALLBACKS = 3


def campaign_window(columns: dict) -> tuple[pd.Timestamp, np.ndarray, float]:
    """(the window's first whole hour, which of its 24 hours the campaign may use, the largest
    share one hour may carry), taking the campaign's inputs out of `columns`."""
    start = take_single(columns, "campaign_start")
    if start is None:
        raise RequestError("missing input 'campaign_start': the campaign's first send time, ISO 8601 in UTC (BYTES)")
    try:
        first = pd.Timestamp(start.decode() if isinstance(start, bytes) else str(start))
    except ValueError as exc:
        raise RequestError(f"input 'campaign_start' is not an ISO 8601 time: {start!r}") from exc
    first = (first.tz_convert("UTC") if first.tzinfo else first.tz_localize("UTC")).ceil("h")
    allowed = np.ones(HOURS, dtype=bool)
    deadline = take_single(columns, "deadline_hours")
    if deadline is not None:
        allowed &= np.arange(HOURS) < bounded_number(deadline, "deadline_hours", 1, HOURS)
    hours = columns.pop("allowed_hours_utc", None)
    if hours is not None:
        hours = np.asarray(hours, dtype=object).ravel()
        if hours.size != HOURS or any(isinstance(v, str | bytes) for v in hours):
            raise RequestError(f"input 'allowed_hours_utc' must be {HOURS} numbers (1: the campaign may send "
                               f"at that UTC hour, 0: not), got {hours.size} values")
        by_utc = hours.astype(float) > 0
        allowed &= by_utc[(first.hour + np.arange(HOURS)) % HOURS]
    share = take_single(columns, "max_hour_share")
    return first, allowed, sc.MAX_HOUR_SHARE if share is None else bounded_number(share, "max_hour_share", 0.01, 1.0)


def answer(bundle: TrainedModel, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each subscriber's P(open) over the campaign's window and the hour stage 2 gives them."""
    cols = dict(columns)
    first, allowed, share = campaign_window(cols)
    ids = cols.pop(SUBSCRIBER_ID, None)
    cols = element_columns(cols, (OPEN_HEATMAP,), HOURS, "the subscriber's shares of opens by UTC hour, ")
    n = len(cols[f"{OPEN_HEATMAP}[0]"])
    cols |= {SEND_HOUR: np.zeros(n), "is_transactional": np.zeros(n)}  # every hour is answered, campaign mail
    rows, _ = feature_rows(cols, bundle.features, bundle.categorical)
    if ids is not None and (len(ids) != n or any(not isinstance(v, str | bytes) for v in ids)):
        raise RequestError(f"input {SUBSCRIBER_ID!r} must be one text (BYTES) per subscriber")
    window = (first.hour + np.arange(HOURS)) % HOURS
    X = bundle.encode(rows)
    p, scores = (values[:, window] for values in bundle.model.answer_and_ranking(X))
    try:
        chosen = sc.assign(scores, allowed=allowed, max_hour_share=share)
    except sc.ScheduleError as exc:
        raise RequestError(str(exc)) from exc
    out = sc.answer(scores, first.hour, first.weekday(), chosen, fallbacks=FALLBACKS, allowed=allowed)
    fallback = np.full((n, FALLBACKS), -1.0)
    for i, hours in enumerate(out["fallback_hours"]):
        fallback[i, :len(hours)] = hours
    return {SUBSCRIBER_ID: np.array([v.decode() if isinstance(v, bytes) else v for v in ids] if ids is not None
                                    else [str(i) for i in range(n)], dtype=object),
            "p_open": p, "optimal_hour_utc": out["optimal_hour_utc"].astype(float), "optimal_day": out["optimal_day"],
            "confidence": out["confidence"], "fallback_hours": fallback}
