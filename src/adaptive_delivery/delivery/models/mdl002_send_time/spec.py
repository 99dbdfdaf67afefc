"""MDL-002 Optimal Send Time: the declaration the platform drives (training pipeline, DAGs,
serving, manifests). Registered by one entry point in pyproject.toml."""

from __future__ import annotations

from adaptive_delivery.delivery.models.mdl002_send_time.model import (
    CLASSES,
    SEND_HOUR,
    SERVED_INPUTS,
    baseline_params,
    dataset_from_frame,
    fit,
    judge,
    labels_from_lake,
    referee,
    report,
    rule_rates,
    search_space,
)
from adaptive_delivery.platform.spec import Gate, ModelSpec, Schedule

SPEC = ModelSpec(
    model_id="MDL-002",
    name="Optimal Send Time",
    feature_service="mdl_002_send_time",
    label="per accepted message, whether a person opened it within 72 hours of the send (machine opens excluded)",
    classes=CLASSES,
    primary_metric="open_roc_auc",
    metrics=("open_roc_auc", "open_ece", "open_log_loss", "schedule_lift", "lift_over_campaign_hour",
             "share_of_oracle_lift", "max_hour_share"),
    gates=(Gate("open_roc_auc", max_drop=0.02, floor=0.6),
           # a campaign's expected opens are the sum of its probabilities: within 3 points
           Gate("open_ece", max_drop=1.0, floor=0.03, higher_is_better=False)),
    schedule=Schedule.DAILY,
    serving_signature={
        "p_open": "P(a person opens the message within 72 h | sent at each of the next 24 hours), [n, 24]",
        "optimal_hour_utc": "the hour the campaign sends to this person, under its constraints",
        "optimal_day": "the weekday of that hour",
        "confidence": "how far the chosen hour's P(open) stands above the window's mean for this person, 0-1",
        "fallback_hours": "the next best hours (UTC), [n, 3]"},
    runtime="adaptive_delivery.delivery.models.mdl002_send_time.runtime.SendTimeRuntime",
    served_inputs=SERVED_INPUTS,
    holdout_days=5,
    min_training_rows=1_000,
    segment="provider",
    drift_exempt=(SEND_HOUR,),
    drift_share=0.8,  # a subscriber's counts grow with the list's history
    labels=labels_from_lake,
    to_dataset=dataset_from_frame,
    search_space=search_space,
    baseline_params=baseline_params,
    fit=fit,
    report=report,
    baseline=rule_rates,
    truth=referee,
    judge=judge,
)
