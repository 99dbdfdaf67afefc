"""MDL-001 Deliverability Predictor: the declaration the platform drives (training pipeline, DAGs,
serving, manifests). Registered by one entry point in pyproject.toml."""

from __future__ import annotations

from adaptive_delivery.delivery.models.mdl001_deliverability.discovery import DISCOVERY
from adaptive_delivery.delivery.models.mdl001_deliverability.model import (
    CLASSES,
    FEATURES,
    PARTIAL_LABELS,
    baseline_params,
    dataset_from_frame,
    decide_actions,
    fit,
    labels_from_lake,
    search_space,
)
from adaptive_delivery.platform.spec import Gate, ModelSpec, Schedule

SPEC = ModelSpec(
    model_id="MDL-001",
    name="Deliverability Predictor",
    feature_service="mdl_001_deliverability",
    label="final delivery outcome of a message: inbox, spam, soft bounce, hard bounce, block",
    classes=CLASSES,
    primary_metric="macro_roc_auc",
    metrics=("macro_roc_auc", "roc_auc_inbox", "roc_auc_spam", "roc_auc_soft_bounce", "roc_auc_hard_bounce",
             "roc_auc_block", "macro_f1", "precision_at_90_recall_macro", "ece", "log_loss"),
    gates=(Gate("macro_roc_auc", max_drop=0.02, floor=0.70),),
    schedule=Schedule.CONTINUOUS,
    serving_signature={"probabilities": "P(inbox, spam, soft_bounce, hard_bounce, block) per message",
                       "action": "send | send_monitored | defer | skip (spec §6.1)"},
    runtime="adaptive_delivery.delivery.models.mdl001_deliverability.runtime.DeliverabilityRuntime",
    # Feast's columns (view__feature) from the events lake; the rest is the caller's own request.
    served_inputs={c: "feature_store" if "__" in c else "request" for c in FEATURES},
    partial_labels=PARTIAL_LABELS,
    needs_gpu=True,  # the network trains on a GPU node on the cluster; CPU works for small data
    holdout_days=7,
    min_training_rows=1_000,
    segment="provider",
    drift_exempt=("subscriber_features__tenure_days", "sender_domain_features__domain_age_days",
                  "sender_ip_features__ip_age_days", "sender_domain_features__warmup_stage",
                  "sender_ip_features__warmup_stage", "temporal_features__day_of_week", "temporal_features__is_weekend",
                  "temporal_features__is_holiday"),
    # Row-level drift is the norm here: content changes with every campaign and sender rates with
    # every day. Measured on normal simulated weeks, 46-72% of features drift train vs holdout;
    # a broken or re-scaled feature pipeline moves nearly all of them.
    drift_share=0.8,
    labels=labels_from_lake,
    to_dataset=dataset_from_frame,
    search_space=search_space,
    baseline_params=baseline_params,
    fit=fit,
    decide=decide_actions,
    # its actions are thresholds on probabilities: they must be nearly as sharp as the oracle's and honest
    max_gap_to_oracle=0.03,
    max_ece=0.01,
    discovery=DISCOVERY,
)
