"""MDL-006 Churn and Complaint Risk: the declaration the platform drives (training pipeline, DAGs,
serving, manifests). Registered by one entry point in pyproject.toml."""

from __future__ import annotations

from adaptive_delivery.delivery.models.mdl006_churn_risk.model import (
    CLASSES,
    PARTIAL_LABELS,
    SERVED_INPUTS,
    baseline_params,
    dataset_from_frame,
    fit,
    labels_from_lake,
    report,
    search_space,
    sunset_rates,
)
from adaptive_delivery.delivery.models.mdl006_churn_risk.referee import referee
from adaptive_delivery.platform.spec import Gate, ModelSpec, Schedule

SPEC = ModelSpec(
    model_id="MDL-006",
    name="Churn and Complaint Risk",
    feature_service="mdl_006_churn_complaint",
    label="per accepted message, the person's unsubscribe or spam complaint (feedback-loop report) within 72 "
          "hours of the send, else stayed; where the provider sends no complaint reports, stayed or complained",
    classes=CLASSES,
    partial_labels=PARTIAL_LABELS,
    # a few per ten thousand messages, and only where reported: an early fold may see none
    rare_classes=("complained",),
    primary_metric="risk_roc_auc",
    metrics=("risk_roc_auc", "unsubscribe_roc_auc", "unsubscribe_ece", "complaint_roc_auc", "complaint_ece",
             "risk_ece", "log_loss"),
    # the twin's oracle itself ranks at 0.56-0.60 (validation worlds): the floor is "better than chance"
    gates=(Gate("risk_roc_auc", max_drop=0.03, floor=0.5),
           # a list's expected unsubscribes are the sum of its probabilities: within half a point
           Gate("unsubscribe_ece", max_drop=1.0, floor=0.005, higher_is_better=False)),
    schedule=Schedule.DAILY,
    serving_signature={
        "p_unsubscribe": "P(the person unsubscribes because of the next message | accepted)",
        "p_complaint": "P(the person reports the next message as spam | accepted)",
        "p_unsubscribe_30d": "P(they unsubscribe within 30 days at their cadence)",
        "p_complaint_30d": "P(they complain within 30 days at their cadence)",
        "complaints_per_open": "expected complaints per expected open of their next message",
        "action": "send, reduce_frequency, re_permission or suppress (policy.RiskThresholds)"},
    runtime="adaptive_delivery.delivery.models.mdl006_churn_risk.runtime.ChurnRiskRuntime",
    served_inputs=SERVED_INPUTS,
    holdout_days=5,
    min_training_rows=1_000,
    segment="provider",
    # a subscriber's counts and ages grow with the list's history: on a young list nearly all of its
    # inputs move from the training window to the holdout (the gate stops only on drift past this)
    drift_exempt=("subscriber_features__tenure_days", "subscriber_features__emails_received_total",
                  "subscriber_features__days_since_last_delivery"),
    drift_share=0.9,
    labels=labels_from_lake,
    to_dataset=dataset_from_frame,
    search_space=search_space,
    baseline_params=baseline_params,
    fit=fit,
    report=report,
    baseline=sunset_rates,
    truth=referee,
)
