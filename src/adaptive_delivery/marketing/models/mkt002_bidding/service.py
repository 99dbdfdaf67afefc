"""MKT-002 answered per request row: one auction's context as an advertiser sees it in, the bid
out, with the spec's confidence and reasons. The value of a click is the conversion model's (the
registered gradient-boosted trees, learned on many campaigns' clicks) averaged with the campaign's
own conversion rate for the audience, times the value of a conversion; the bid is that value times
the campaign's pacing multiplier, which its bidder keeps hour by hour against the day's plan
(`bidding.BidOptimiser.observe`). The same code in the MLflow pyfunc and MLServer runtime, and in
the twin's evaluation of the registered model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.marketing import bidding
from adaptive_delivery.platform.requests import RequestError, batch_size, categories, numbers

MAX_BATCH = 10_000  # auctions per request
PACING = "pacing_multiplier"  # optional: the campaign's multiplier now (default 1: bid the value)
# input -> (low, high, whole numbers)
NUMERIC = {
    "hour": (0, 23, True), "weekday": (0, 6, True), "historical_cvr": (0, 1, False),
    "campaign_age": (0, np.inf, False), "hour_cpc": (0, np.inf, False), "value_per_conversion": (0, np.inf, False),
    "budget": (0, np.inf, False), "budget_left": (0, np.inf, False),
}
LEVELS = {"segment": bidding.SEGMENTS, "device": bidding.DEVICES}
INPUTS = (*bidding.VALUE_FEATURES, "value_per_conversion", "budget", "budget_left", PACING)
OUTPUTS = ("bid", "value_per_click", "predicted_cvr", "confidence", "reasons")


def load_value_model(path: Path) -> bidding.CvrModel:
    """The registered conversion model (XGBoost JSON) as numpy trees; ValueError where it reads
    other features than this version computes."""
    import xgboost as xgb

    from adaptive_delivery.platform.compiled_trees import NumpyTrees

    booster = xgb.Booster()
    booster.load_model(str(path))
    if tuple(booster.feature_names or ()) != bidding.VALUE_FEATURES:
        raise ValueError(f"the model reads {booster.feature_names}; this version computes "
                         f"{list(bidding.VALUE_FEATURES)}: retrain MKT-002")
    trees = NumpyTrees.of(booster)
    if trees is None or trees.objective != "binary:logistic":
        raise ValueError("the model is not a binary:logistic tree ensemble")
    return trees.predict


def answer_rows(model: bidding.CvrModel, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One array per output, one value per auction; RequestError on anything the caller must fix."""
    unknown = sorted(set(columns) - set(INPUTS))
    if unknown:
        raise RequestError(f"unknown inputs {unknown}; MKT-002 reads {list(INPUTS)}")
    n = batch_size(columns, MAX_BATCH)
    value = {name: numbers(columns, name, n, lo, hi, whole) for name, (lo, hi, whole) in NUMERIC.items()}
    code = {name: categories(columns, name, n, levels) for name, levels in LEVELS.items()}
    if (value["budget"] <= 0).any() or (value["value_per_conversion"] <= 0).any():
        raise RequestError("inputs 'budget' and 'value_per_conversion' must be > 0")
    if (value["budget_left"] > value["budget"]).any():
        raise RequestError("input 'budget_left' exceeds 'budget'")
    multiplier = (numbers(columns, PACING, n, bidding.MIN_MULTIPLIER, bidding.MAX_MULTIPLIER)
                  if PACING in columns else np.ones(n))
    x = bidding.value_features(value["hour"], value["weekday"], code["segment"], code["device"],
                               value["historical_cvr"], value["campaign_age"], value["hour_cpc"])
    cvr = bidding.predicted_cvr(model, x)
    per_click = cvr * value["value_per_conversion"]
    share_left = value["budget_left"] / value["budget"]
    reasons = np.array(["; ".join(bidding.bid_reasons(v, m, s, a)) for v, m, s, a in
                        zip(per_click, multiplier, share_left, value["campaign_age"], strict=True)], dtype=object)
    return {"bid": multiplier * per_click, "value_per_click": per_click, "predicted_cvr": cvr,
            "confidence": bidding.bid_confidence(value["campaign_age"], share_left), "reasons": reasons}


def example_request() -> pd.DataFrame:
    """Three auctions of one campaign: a loyal desktop searcher at midday, a new mobile one at
    night, a lapsed tablet one late in the day with little budget left."""
    return pd.DataFrame({
        "hour": [12, 2, 21], "weekday": [1, 1, 5], "segment": ["loyal", "new", "lapsed"],
        "device": ["desktop", "mobile", "tablet"], "historical_cvr": [0.061, 0.028, 0.033],
        "campaign_age": [20.0, 20.0, 3.0], "hour_cpc": [2.4, 1.1, 2.9], "value_per_conversion": [80.0, 80.0, 120.0],
        "budget": [500.0, 500.0, 300.0], "budget_left": [260.0, 480.0, 12.0], PACING: [1.1, 1.1, 0.7],
    })
