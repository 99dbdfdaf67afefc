"""MDL-005 Engagement Predictor: the declaration the platform drives (training pipeline, DAGs,
serving, manifests). Registered by one entry point in pyproject.toml."""

from __future__ import annotations

from adaptive_delivery.delivery.models.mdl005_engagement.model import (
    CLASSES,
    SERVED_INPUTS,
    baseline_params,
    dataset_from_frame,
    fit,
    historical_rates,
    labels_from_lake,
    referee,
    report,
    search_space,
)
from adaptive_delivery.platform.spec import Gate, ModelSpec, Schedule

SPEC = ModelSpec(
    model_id="MDL-005",
    name="Engagement Predictor",
    feature_service="mdl_005_engagement",
    label="per accepted message, a person's open and click within 72 hours of the send (machine opens excluded): "
          "not opened, opened without a click, clicked",
    classes=CLASSES,
    primary_metric="open_roc_auc",
    metrics=("open_roc_auc", "open_ece", "open_log_loss", "click_roc_auc", "click_ece", "click_log_loss",
             "macro_roc_auc", "log_loss"),
    gates=(Gate("open_roc_auc", max_drop=0.02, floor=0.65),
           Gate("click_roc_auc", max_drop=0.02, floor=0.6),
           # its probabilities are what a campaign's expected opens sum: within 3 points
           Gate("open_ece", max_drop=1.0, floor=0.03, higher_is_better=False)),
    schedule=Schedule.DAILY,
    serving_signature={"p_open": "P(a person opens the message within 72 h | accepted)",
                       "p_click": "P(a person clicks a link in it within 72 h | accepted), at most p_open"},
    runtime="adaptive_delivery.delivery.models.mdl005_engagement.runtime.EngagementRuntime",
    served_inputs=SERVED_INPUTS,
    holdout_days=5,
    min_training_rows=1_000,
    segment="provider",
    drift_exempt=("temporal_features__day_of_week",
                  "temporal_features__is_weekend", "temporal_features__is_holiday", "temporal_features__hour_of_day"),
    # a subscriber's counts grow with the list's history, and content changes with every campaign
    drift_share=0.8,
    labels=labels_from_lake,
    to_dataset=dataset_from_frame,
    search_space=search_space,
    baseline_params=baseline_params,
    fit=fit,
    report=report,
    baseline=historical_rates,
    truth=referee,
    # issue target: its open ROC-AUC within 0.02 of the oracle's
    max_gap_to_oracle=0.02,
)
