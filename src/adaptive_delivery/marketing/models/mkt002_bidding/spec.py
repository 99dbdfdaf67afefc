"""MKT-002 Bid Optimiser: the declaration the platform drives. Light on purpose: training,
evaluation and serving are imported only when called."""

from __future__ import annotations

from adaptive_delivery.platform.spec import (
    Gate,
    ModelSpec,
    PolicyTrainer,
    Schedule,
    export_as,
    lazy,
)

HERE = "adaptive_delivery.marketing.models.mkt002_bidding"
MODEL_FILE = "mkt002_value_model.json"  # trained, registered and served: XGBoost's JSON


SPEC = ModelSpec(
    model_id="MKT-002",
    name="Bid Optimiser",
    feature_service="",  # the auction's context and the campaign's own reports come with the request
    label="whether a bought click converted, from many campaigns' clicks in the marketing twin's training worlds",
    classes=("no_conversion", "conversion"),
    primary_metric="share_of_oracle",
    metrics=("share_of_oracle", "conversions_per_1000", "regret_per_campaign_day", "gain_over_linear",
             "gain_over_value", "gain_over_optimiser_no_prior", "cvr_auc", "cvr_logloss"),
    gates=(
        # the served bids buy at least half the value the oracle's hindsight could
        Gate("share_of_oracle", max_drop=0.03, floor=0.5),
        # and more than bidding the value with no pacing, on the same auctions
        Gate("gain_over_value", max_drop=1.0, floor=0.0),
    ),
    schedule=Schedule.DAILY,
    serving_signature={
        "bid": "the per-click bid: value_per_click x the campaign's pacing multiplier",
        "value_per_click": "predicted_cvr x value_per_conversion",
        "predicted_cvr": "P(conversion | click): the model's view averaged with the campaign's own rate for the audience",
        "confidence": "0-1: the campaign's history behind the value (full at 30 days) and the budget left",
        "reasons": "why, in words: the value, the pacing, a low budget, the history",
    },
    trainer="twin_logs",
    runtime="adaptive_delivery.marketing.models.mkt002_bidding.runtime.BidRuntime",
    served_inputs={"hour": "calendar", "weekday": "calendar", "segment": "request", "device": "request",
                   "historical_cvr": "ad_platform", "campaign_age": "plan", "hour_cpc": "ad_platform",
                   "value_per_conversion": "plan", "budget": "plan", "budget_left": "ad_platform",
                   "pacing_multiplier": "plan"},
    policy_trainer=PolicyTrainer(train=lazy(f"{HERE}.training:train_and_save"),
                                 evaluate=lazy(f"{HERE}.training:evaluate_into"),
                                 example=lazy(f"{HERE}.service:example_request"),
                                 pyfunc=lazy(f"{HERE}.pyfunc:BidPyfunc"),
                                 export=export_as(MODEL_FILE), artifact="value_model",
                                 # days of the training campaigns' clicks
                                 timesteps={"smoke": 7, "quick": 14, "full": 28}),
)
