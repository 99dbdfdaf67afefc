"""One feature service per model: what each model reads (spec §3), with the features a person
adopted for it (`adopted_features.json`, written by `adaptive-delivery features approve`)."""

import json
from pathlib import Path

from feast import FeatureService

from feature_views import (
    campaign_performance,
    content_features,
    content_provider_features,
    provider_features,
    scored_views,
    sender_domain_features,
    sender_ip_features,
    sender_provider_features,
    subscriber_features,
    temporal_features,
)

_deliverability_subscriber = subscriber_features[[
    "engagement_score", "days_since_last_open", "opens_30d", "clicks_30d", "emails_received_30d", "bounce_history",
    "complaint_history", "hard_bounces_total", "soft_bounces_total", "days_since_last_bounce", "inbox_placements_30d",
    "spam_placements_30d", "days_since_last_click", "typical_response_hours", "tenure_days", "email_domain",
    "domain_category", "provider", "days_since_last_delivery", "emails_received_total",
]]

services = {
    "MDL-001": FeatureService(
        name="mdl_001_deliverability",
        features=[_deliverability_subscriber, sender_domain_features, sender_ip_features, sender_provider_features,
                  content_features, content_provider_features, provider_features, temporal_features],
        description="Deliverability predictor: inbox / spam / soft bounce / hard bounce / block per message",
    ),
    "MDL-002": FeatureService(
        name="mdl_002_send_time",
        features=[subscriber_features[["open_hour_heatmap", "click_hour_heatmap", "open_weekday_heatmap",
                                       "typical_response_hours", "engagement_consistency", "days_since_last_open",
                                       "client", "device", "domain_category", "opens_30d", "emails_received_30d"]],
                  temporal_features],
        description="Optimal send time per subscriber",
    ),
    "MDL-003": FeatureService(
        name="mdl_003_throttle",
        features=[provider_features, sender_ip_features[["volume_this_hour", "volume_today", "warmup_stage",
                                                           "block_rate_24h", "deferral_rate_24h"]], temporal_features],
        description="Throttle rate optimizer (state of spec §3.2)",
    ),
    "MDL-004": FeatureService(
        name="mdl_004_domain_reputation",
        features=[sender_domain_features, sender_ip_features],
        description="Domain reputation scorer",
    ),
    "MDL-005": FeatureService(
        name="mdl_005_engagement",
        features=[subscriber_features, content_features, temporal_features],
        description="Engagement (open/click) predictor",
    ),
    "MDL-006": FeatureService(
        name="mdl_006_churn_complaint",
        # a person's risk, whatever the campaign: the content's is MDL-007's to judge
        features=[subscriber_features[["engagement_score", "days_since_last_open", "days_since_last_click", "opens_30d",
                                       "clicks_30d", "emails_received_30d", "emails_received_total",
                                       "typical_response_hours", "engagement_consistency", "soft_bounces_total",
                                       "tenure_days", "days_since_last_delivery", "inbox_placements_30d",
                                       "spam_placements_30d", "domain_category", "client", "device"]]],
        description="Churn / complaint risk",
    ),
    "MDL-007": FeatureService(
        name="mdl_007_content_quality",
        features=[content_features],
        description="Content quality scorer",
    ),
    "MDL-008": FeatureService(
        name="mdl_008_isp_behaviour",
        features=[provider_features, temporal_features],
        description="ISP behaviour clusters",
    ),
    "MDL-009": FeatureService(
        name="mdl_009_warmup",
        features=[sender_ip_features, sender_domain_features[["domain_age_days", "warmup_stage", "bounce_rate_24h",
                                                               "complaint_rate_24h", "block_rate_24h"]]],
        description="IP/domain warm-up optimizer (state of spec §3.5)",
    ),
    "MDL-010": FeatureService(
        name="mdl_010_list_hygiene",
        # the address's own history; its source, provider and the address come with the request
        features=[subscriber_features[["days_since_last_open", "days_since_last_click", "opens_30d", "clicks_30d",
                                       "emails_received_30d", "emails_received_total", "hard_bounces_total",
                                       "soft_bounces_total", "days_since_last_bounce", "days_since_last_delivery",
                                       "tenure_days", "engagement_score", "complaints_total", "domain_category"]]],
        description="List hygiene scorer: P(hard bounce) and P(soft bounce) of the next message to an address",
    ),
    "MKT-002": FeatureService(
        name="mkt_002_bidding",
        features=[campaign_performance[["conversion_rate_7d", "cpc_7d", "ctr_7d", "impression_share_7d", "spend_7d",
                                        "cpc", "impression_share"]]],
        description="Bid optimiser: the campaign's own trailing rates a bid request is built from",
    ),
}

_VIEWS = {v.name: v for v in (campaign_performance, content_features, content_provider_features, provider_features, sender_domain_features,
                             sender_ip_features, sender_provider_features, subscriber_features, temporal_features,
                             *scored_views.values())}


def _adopted(model_id: str) -> list[str]:
    """The Feast columns (view__feature) adopted for a model; request fields need no fetching."""
    path = Path(__file__).with_name("adopted_features.json")
    entry = json.loads(path.read_text()).get(model_id, {}) if path.exists() else {}
    return [d["feature"] for d in entry.get("adopted", []) if "__" in d["feature"]]


def _with_adopted(model_id: str, service: FeatureService) -> FeatureService:
    """The service widened by the model's adopted features: the view's projection gains the
    feature, or the view joins with that feature alone."""
    for column in _adopted(model_id):
        view_name, feature = column.split("__", 1)
        if view_name not in _VIEWS:
            raise ValueError(f"{model_id} adopted {column}, but no feature view is named {view_name}")
        field = next((f for f in _VIEWS[view_name].features if f.name == feature), None)
        if field is None:
            raise ValueError(f"{model_id} adopted {column}, but {view_name} has no feature {feature}")
        projection = next((p for p in service.feature_view_projections if p.name == view_name), None)
        if projection is None:
            service.feature_view_projections.append(_VIEWS[view_name][[feature]].projection)
        elif feature not in {f.name for f in projection.features}:
            projection.features.append(field)
    return service


services = {model_id: _with_adopted(model_id, service) for model_id, service in services.items()}

mdl_001_deliverability = services["MDL-001"]
mdl_002_send_time = services["MDL-002"]
mdl_003_throttle = services["MDL-003"]
mdl_004_domain_reputation = services["MDL-004"]
mdl_005_engagement = services["MDL-005"]
mdl_006_churn_complaint = services["MDL-006"]
mdl_007_content_quality = services["MDL-007"]
mdl_008_isp_behaviour = services["MDL-008"]
mdl_009_warmup = services["MDL-009"]
mdl_010_list_hygiene = services["MDL-010"]
mkt_002_bidding = services["MKT-002"]
