"""MDL-004 Domain Reputation Scorer: the declaration the platform drives. Light on purpose:
training, evaluation and serving are imported only when called."""

from __future__ import annotations

from adaptive_delivery.platform.spec import (
    Gate,
    ModelSpec,
    PolicyTrainer,
    Schedule,
    ScoredFeatures,
    export_as,
    lazy,
)

HERE = "adaptive_delivery.delivery.models.mdl004_domain_reputation"
MODEL_FILE = "mdl004_reputation.json"  # trained, registered and served
# where each served signal comes from: the sender's MTA log, its tracking, the feedback loops, and
# reputation feeds — the providers' own (Postmaster Tools, SNDS) and the public DNS blocklists the
# providers consult (a lookup anyone can make)
SIGNAL_SOURCES = {
    "is_domain": "request", "log_sent_24h": "mta", "log_sent_7d": "mta", "volume_spike": "mta",
    "log_hours_since_sent": "mta", "hard_rate_24h": "mta", "hard_rate_7d": "mta", "soft_rate_7d": "mta",
    "block_rate_24h": "mta", "block_rate_7d": "mta", "block_trend": "mta", "worst_provider_block_24h": "mta",
    "content_block_rate_7d": "mta", "deferral_rate_24h": "mta", "complaint_rate_7d": "fbl",
    "open_rate_7d": "esp", "open_trend": "esp", "listed_now": "feed", "log_hours_since_listed": "feed",
    "listings_30d": "feed", "postmaster": "feed", "snds": "feed",
}

# What the champion publishes for other models, hourly per sending IP and domain (written by
# scoring.score_lake)
SCORES = {"health_score": "float", "p_block_event": "float", "p_listing": "float"}
PUBLISHED = {"ip_reputation": ("sending_ip", SCORES), "domain_reputation": ("sending_domain", SCORES)}

SPEC = ModelSpec(
    model_id="MDL-004",
    name="Domain Reputation Scorer",
    feature_service="",  # the signals come with the request, computed from the sender's own logs
    label="per sending IP and domain and hour, from the sender's own log: a new block event in the next 24 hours "
          "(one provider refuses >= 20% of its mail for the sender's sake) and a new blocklist listing; judged "
          "against the twin's hidden reputation",
    classes=("block_event", "listing"),
    primary_metric="listing_auc_model",
    metrics=("block_event_auc_model", "block_event_auc_heuristic", "block_event_auc_oracle", "listing_auc_model",
             "listing_auc_heuristic", "listing_auc_oracle", "spearman_model", "spearman_heuristic",
             "warning_hours_model", "warning_hours_heuristic", "gain_over_heuristic"),
    gates=(
        Gate("block_event_auc_model", max_drop=0.02, floor=0.8),
        Gate("listing_auc_model", max_drop=0.03, floor=0.6),
    ),
    schedule=Schedule.HOURLY,
    serving_signature={
        "p_block_event": "P(a provider starts refusing >= 20% of the unit's mail within 24 hours)",
        "p_listing": "P(a public blocklist starts listing it within 24 hours); 1 while listed",
        "risk": "P(either)",
        "health_score": "100 x (1 - risk)",
        "category": "Postmaster Tools' word for the risk: bad, low, medium or high",
        "block_alert": "p_block_event at or above the alert threshold",
        "listing_alert": "p_listing at or above the alert threshold",
        "factors": "the signals that raised the risk most, with their log-odds",
    },
    trainer="twin_logs",
    runtime=f"{HERE}.runtime.ReputationRuntime",
    served_inputs={"unit": "request", **SIGNAL_SOURCES},
    policy_trainer=PolicyTrainer(train=lazy(f"{HERE}.training:train_and_save"),
                                 evaluate=lazy(f"{HERE}.training:evaluate_into"),
                                 example=lazy(f"{HERE}.service:example_request"),
                                 pyfunc=lazy(f"{HERE}.pyfunc:ReputationPyfunc"),
                                 export=export_as(MODEL_FILE), artifact="reputation",
                                 observe=lazy(f"{HERE}.monitoring:observe"),
                                 # days of each training world's log
                                 timesteps={"smoke": 10, "quick": 21, "full": 28}),
    scored_features=ScoredFeatures(tables=PUBLISHED, score=lazy(f"{HERE}.scoring:score_lake")),
)
