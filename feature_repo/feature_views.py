"""Feature views with the TTLs of spec §4.1 (subscriber 24 h, sender 1 h, provider 15 min), and the
temporal features computed on demand from the request's send time."""

from datetime import timedelta

import pandas as pd
from feast import FeatureView, Field, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Array, Bool, Float64, Int64, String, UnixTimestamp

from adaptive_delivery.features import definitions as fd
from entities import content, provider, sender_domain, sender_ip, subscriber
from sources import (
    content_source,
    provider_push,
    sender_domain_source,
    sender_ip_source,
    subscriber_push,
)

_SENDER_METRICS = [
    Field(name="sent_24h", dtype=Int64), Field(name="hard_bounce_rate_24h", dtype=Float64),
    Field(name="soft_bounce_rate_24h", dtype=Float64), Field(name="bounce_rate_24h", dtype=Float64),
    Field(name="block_rate_24h", dtype=Float64), Field(name="deferral_rate_24h", dtype=Float64),
    Field(name="complaint_rate_24h", dtype=Float64), Field(name="open_rate_24h", dtype=Float64),
    Field(name="volume_today", dtype=Int64), Field(name="volume_this_hour", dtype=Int64),
    Field(name="max_daily_volume_7d", dtype=Float64), Field(name="warmup_stage", dtype=Int64),
]

subscriber_features = FeatureView(
    name="subscriber_features",
    entities=[subscriber],
    ttl=fd.SUBSCRIBER_TTL,
    schema=[
        Field(name="engagement_score", dtype=Float64), Field(name="days_since_last_open", dtype=Float64),
        Field(name="days_since_last_click", dtype=Float64), Field(name="opens_30d", dtype=Int64),
        Field(name="clicks_30d", dtype=Int64), Field(name="emails_received_30d", dtype=Int64),
        Field(name="open_hour_heatmap", dtype=Array(Float64)), Field(name="click_hour_heatmap", dtype=Array(Float64)),
        Field(name="open_weekday_heatmap", dtype=Array(Float64)), Field(name="typical_response_hours", dtype=Float64),
        Field(name="engagement_consistency", dtype=Float64), Field(name="hard_bounces_total", dtype=Int64),
        Field(name="soft_bounces_total", dtype=Int64), Field(name="complaints_total", dtype=Int64),
        Field(name="bounce_history", dtype=Int64), Field(name="complaint_history", dtype=Int64),
        Field(name="tenure_days", dtype=Float64), Field(name="email_domain", dtype=String),
        Field(name="domain_category", dtype=String), Field(name="provider", dtype=String),
        Field(name="client", dtype=String), Field(name="device", dtype=String),
    ],
    source=subscriber_push,
    online=True,
    tags={"owner": "ml", "refresh": "daily"},
)

sender_domain_features = FeatureView(
    name="sender_domain_features",
    entities=[sender_domain],
    ttl=fd.SENDER_TTL,
    schema=[*_SENDER_METRICS, Field(name="domain_age_days", dtype=Float64), Field(name="spf", dtype=Bool),
            Field(name="dkim", dtype=Bool), Field(name="dmarc", dtype=Bool), Field(name="one_click_unsubscribe", dtype=Bool)],
    source=sender_domain_source,
    online=True,
    tags={"owner": "ml", "refresh": "hourly"},
)

sender_ip_features = FeatureView(
    name="sender_ip_features",
    entities=[sender_ip],
    ttl=fd.SENDER_TTL,
    schema=[*_SENDER_METRICS, Field(name="ip_age_days", dtype=Float64)],
    source=sender_ip_source,
    online=True,
    tags={"owner": "ml", "refresh": "hourly"},
)

provider_features = FeatureView(
    name="provider_features",
    entities=[provider],
    ttl=fd.PROVIDER_TTL,
    schema=[
        Field(name="attempts_15m", dtype=Int64), Field(name="accept_rate_15m", dtype=Float64),
        Field(name="deferrals_per_min", dtype=Float64), Field(name="blocks_per_min", dtype=Float64),
        Field(name="rate_4xx_15m", dtype=Float64), Field(name="rate_5xx_15m", dtype=Float64),
        Field(name="mean_latency_ms_15m", dtype=Float64), Field(name="throttle_signals_per_min", dtype=Float64),
    ],
    source=provider_push,
    online=True,
    tags={"owner": "ml", "refresh": "15min"},
)

content_features = FeatureView(
    name="content_features",
    entities=[content],
    ttl=timedelta(days=365),
    schema=[
        Field(name="subject_length", dtype=Int64), Field(name="subject_spam_words", dtype=Int64),
        Field(name="body_spam_words", dtype=Int64), Field(name="all_caps_share", dtype=Float64),
        Field(name="exclamation_density", dtype=Float64), Field(name="link_count", dtype=Int64),
        Field(name="image_count", dtype=Int64), Field(name="image_to_text_ratio", dtype=Float64),
        Field(name="personalization_level", dtype=Int64), Field(name="has_unsubscribe_link", dtype=Bool),
        Field(name="has_list_unsubscribe_header", dtype=Bool),
    ],
    source=content_source,
    online=True,
    tags={"owner": "ml", "refresh": "on write"},
)

send_time = RequestSource(name="send_time", schema=[Field(name="send_ts", dtype=UnixTimestamp)])


@on_demand_feature_view(
    sources=[send_time],
    schema=[Field(name="hour_of_day", dtype=Int64), Field(name="day_of_week", dtype=Int64),
            Field(name="is_weekend", dtype=Bool), Field(name="is_holiday", dtype=Bool)],
    mode="pandas",
)
def temporal_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Hour, weekday, weekend and US holiday of the moment a message is sent (UTC)."""
    import pandas as pd  # Feast runs this function from its source: it must import what it uses

    from adaptive_delivery.features.definitions import us_holidays

    ts = pd.to_datetime(inputs["send_ts"], utc=True)
    holidays = set().union(*(us_holidays(y) for y in set(ts.dt.year)))
    return pd.DataFrame({
        "hour_of_day": ts.dt.hour.astype("int64"),
        "day_of_week": ts.dt.weekday.astype("int64"),
        "is_weekend": ts.dt.weekday >= 5,
        "is_holiday": ts.dt.date.isin(holidays),
    })
