"""Feature views with the TTLs of spec §4.1 (subscriber 24 h, sender 1 h, provider 15 min), and the
temporal features computed on demand from the request's send time."""

from datetime import timedelta

import pandas as pd
from feast import FeatureView, Field, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Array, Bool, Float64, Int64, String, UnixTimestamp

from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.marketing import feature_definitions as md
from adaptive_delivery.platform.spec import scored_tables
from entities import campaign, content, provider, sender_domain, sender_ip, subscriber
from sources import (
    campaign_hourly_source,
    content_provider_push,
    content_source,
    provider_push,
    sender_domain_source,
    sender_ip_source,
    scored_sources,
    sender_provider_source,
    subscriber_push,
)

_FEAST_TYPES = {"float": Float64, "int": Int64, "str": String, "bool": Bool, "float_array": Array(Float64)}


def _fields(features: dict[str, str]) -> list[Field]:
    """Feast fields from the shared feature definitions (one place names and types features)."""
    return [Field(name=name, dtype=_FEAST_TYPES[kind]) for name, kind in features.items()]


subscriber_features = FeatureView(
    name="subscriber_features",
    entities=[subscriber],
    ttl=fd.SUBSCRIBER_TTL,
    schema=_fields(fd.SUBSCRIBER_FEATURES),
    source=subscriber_push,
    online=True,
    tags={"owner": "ml", "refresh": "daily"},
)

sender_domain_features = FeatureView(
    name="sender_domain_features",
    entities=[sender_domain],
    ttl=fd.SENDER_TTL,
    schema=_fields(fd.DOMAIN_FEATURES),
    source=sender_domain_source,
    online=True,
    tags={"owner": "ml", "refresh": "hourly"},
)

sender_ip_features = FeatureView(
    name="sender_ip_features",
    entities=[sender_ip],
    ttl=fd.SENDER_TTL,
    schema=_fields(fd.IP_FEATURES),
    source=sender_ip_source,
    online=True,
    tags={"owner": "ml", "refresh": "hourly"},
)

sender_provider_features = FeatureView(
    name="sender_provider_features",
    entities=[sender_ip, provider],
    ttl=fd.SENDER_TTL,
    schema=_fields(fd.SENDER_PROVIDER_FEATURES),
    source=sender_provider_source,
    online=True,
    tags={"owner": "ml", "refresh": "hourly"},
)

provider_features = FeatureView(
    name="provider_features",
    entities=[provider],
    ttl=fd.PROVIDER_TTL,
    schema=_fields(fd.PROVIDER_FEATURES),
    source=provider_push,
    online=True,
    tags={"owner": "ml", "refresh": "15min"},
)

content_features = FeatureView(
    name="content_features",
    entities=[content],
    ttl=timedelta(days=365),
    schema=_fields(fd.CONTENT_FEATURES),
    source=content_source,
    online=True,
    tags={"owner": "ml", "refresh": "on write"},
)

content_provider_features = FeatureView(
    name="content_provider_features",
    entities=[content, provider],
    ttl=fd.CAMPAIGN_TTL,
    schema=_fields(fd.CONTENT_PROVIDER_FEATURES),
    source=content_provider_push,
    online=True,
    tags={"owner": "ml", "refresh": "event-driven (1 min)"},
)

# marketing: a campaign's latest complete hour and trailing week (spec 003 engineered features)
campaign_performance = FeatureView(
    name="campaign_performance",
    entities=[campaign],
    ttl=md.CAMPAIGN_TTL,
    schema=_fields(md.CAMPAIGN_FEATURES),
    source=campaign_hourly_source,
    online=True,
    tags={"owner": "ml", "product": "marketing", "refresh": "hourly"},
)

# what models publish for others (ModelSpec.scored_features, e.g. MDL-004's ip_reputation): one view
# per table, named `<table>_features`, keyed by the entity its join key names
_ENTITIES = {e.join_key: e for e in (campaign, content, provider, sender_domain, sender_ip, subscriber)}
scored_views = {
    table: FeatureView(name=f"{table}_features", entities=[_ENTITIES[key]], ttl=declared.ttl,
                       schema=_fields(dict(features)), source=scored_sources[table], online=True,
                       tags={"owner": "ml", "refresh": "hourly", "scored_by": model_id})
    for table, (model_id, declared) in scored_tables().items()
    for key, features in [declared.tables[table]]
}
globals().update({view.name: view for view in scored_views.values()})

send_time = RequestSource(name="send_time", schema=[Field(name="send_ts", dtype=UnixTimestamp)])


@on_demand_feature_view(
    sources=[send_time],
    schema=_fields(fd.TEMPORAL_FEATURES),
    mode="pandas",
)
def temporal_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Hour, weekday, weekend and US holiday of the moment a message is sent (UTC)."""
    # Feast runs this function from its source: it must import what it uses
    from adaptive_delivery.delivery.features.definitions import temporal_features as from_send_time

    return from_send_time(inputs["send_ts"]).set_axis(inputs.index)
