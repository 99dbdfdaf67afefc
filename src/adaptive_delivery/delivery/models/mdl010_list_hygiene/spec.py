"""MDL-010 List Hygiene Scorer: the declaration the platform drives (training pipeline, DAGs,
serving, manifests). Registered by one entry point in pyproject.toml."""

from __future__ import annotations

from adaptive_delivery.delivery.models.mdl010_list_hygiene.model import (
    CLASSES,
    SERVED_INPUTS,
    TENURE,
    baseline_params,
    dataset_from_frame,
    fit,
    hygiene_rule_rates,
    labels_from_lake,
    report,
    search_space,
)
from adaptive_delivery.delivery.models.mdl010_list_hygiene.referee import referee
from adaptive_delivery.platform.spec import Gate, ModelSpec, Schedule

SPEC = ModelSpec(
    model_id="MDL-010",
    name="List Hygiene Scorer",
    feature_service="mdl_010_list_hygiene",
    label="per sent message whose address answered, its last outcome: accepted (reached), or bounced "
          "soft (mailbox full) or hard (address dead); a blocked message is not about the address",
    classes=CLASSES,
    primary_metric="hard_bounce_roc_auc",
    metrics=("hard_bounce_roc_auc", "hard_bounce_ece", "soft_bounce_roc_auc", "soft_bounce_ece", "bounce_roc_auc",
             "bounce_ece", "log_loss"),
    gates=(Gate("hard_bounce_roc_auc", max_drop=0.02, floor=0.7),
           # a list's expected bounces are the sum of its probabilities: within half a point
           Gate("hard_bounce_ece", max_drop=1.0, floor=0.005, higher_is_better=False)),
    schedule=Schedule.DAILY,
    serving_signature={
        "p_hard_bounce": "P(the next message to the address hard-bounces: it is dead)",
        "p_soft_bounce": "P(it soft-bounces: the mailbox is full)",
        "address_check": "ok, role, disposable or invalid (address.check_address)",
        "action": "send, hold or suppress (policy.HygieneThresholds)"},
    runtime="adaptive_delivery.delivery.models.mdl010_list_hygiene.runtime.ListHygieneRuntime",
    served_inputs=SERVED_INPUTS,
    holdout_days=5,
    min_training_rows=1_000,
    segment="provider",
    # an address's counts and ages grow with the list's history (MDL-006's reason)
    drift_exempt=(TENURE, "subscriber_features__emails_received_total", "subscriber_features__days_since_last_delivery",
                  "subscriber_features__days_since_last_bounce"),
    drift_share=0.9,
    labels=labels_from_lake,
    to_dataset=dataset_from_frame,
    search_space=search_space,
    baseline_params=baseline_params,
    fit=fit,
    report=report,
    baseline=hygiene_rule_rates,
    truth=referee,
)
