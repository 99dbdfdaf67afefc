"""MDL-008 ISP Behaviour Classifier: the declaration the platform drives. Light on purpose:
training, evaluation and serving are imported only when called."""

from __future__ import annotations

from adaptive_delivery.platform.spec import (
    Gate,
    ModelSpec,
    PolicyTrainer,
    Schedule,
    export_as,
    lazy,
)

PROFILE_SOURCES = {
    "block_share": "mta", "content_block_share": "mta", "deferral_share": "mta", "refusal_5xx_share": "mta",
    "spam_share": "esp", "open_share": "esp", "latency_log_median": "mta", "latency_log_iqr": "mta",
}


HERE = "adaptive_delivery.delivery.models.mdl008_isp_behaviour"
MODEL_FILE = "mdl008_clusters.json"  # trained, registered and served


SPEC = ModelSpec(
    model_id="MDL-008",
    name="ISP Behaviour Classifier",
    feature_service="",  # the profiles come with the request, computed from the sender's own logs
    label="none: clusters of recipient domains' answer profiles from the twin's training worlds' delivery logs; "
          "judged against the providers' hidden behaviour classes",
    classes=(),
    primary_metric="ari",
    metrics=("ari", "ari_rule_mx", "ari_rule_category", "gain_over_rule", "flagged_within_week", "days_to_flag",
             "false_flag_share"),
    gates=(
        # the groups agree with the providers' hidden classes at least as a coin-free grouping would
        Gate("ari", max_drop=0.05, floor=0.5),
        # the scenario's change is flagged within a week
        Gate("flagged_within_week", max_drop=0.0, floor=0.5),
        # and at most one provider in five that did not change is flagged meanwhile
        Gate("false_flag_share", max_drop=1.0, floor=0.2, higher_is_better=False),
    ),
    schedule=Schedule.WEEKLY,
    serving_signature={
        "cluster": "the group of providers this unit answers like (0 .. k-1)",
        "cluster_name": "the group's two most distinctive traits, in words",
        "distance": "how far the profile is from its group's centre (model space)",
        "next_distance": "how far it is from the next nearest group",
        "change_score": "with reference_* inputs: how far the profile moved from its reference, in null scales "
                        "(NaN without them)",
        "over_threshold": "change_score above the model's threshold (two windows running flag a change)",
    },
    trainer="twin_logs",
    runtime="adaptive_delivery.delivery.models.mdl008_isp_behaviour.runtime.BehaviourRuntime",
    served_inputs={"unit": "request", "messages": "mta", **PROFILE_SOURCES,
                   **{f"reference_{k}": v for k, v in PROFILE_SOURCES.items()}},
    policy_trainer=PolicyTrainer(train=lazy(f"{HERE}.training:train_and_save"),
                                 evaluate=lazy(f"{HERE}.training:evaluate_into"),
                                 example=lazy(f"{HERE}.service:example_request"),
                                 pyfunc=lazy(f"{HERE}.pyfunc:BehaviourPyfunc"),
                                 export=export_as(MODEL_FILE), artifact="clusters",
                                 observe=lazy(f"{HERE}.monitoring:observe"),
                                 # days of each training world's delivery log
                                 timesteps={"smoke": 10, "quick": 21, "full": 28}),
)
