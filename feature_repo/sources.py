"""Where feature tables live. The Spark feature jobs write them; the profile decides the reader:
Parquet files for the local profile, SparkSources for the cluster profile (AD_FEAST_PROFILE)."""

import os

from feast import FileSource, PushSource
from feast.data_format import ParquetFormat
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

from adaptive_delivery.platform.spec import scored_tables

DATA = os.environ.get("AD_FEATURE_DATA", "data/features")
PROFILE = os.environ.get("AD_FEAST_PROFILE", "local")


def _source(table: str):
    path = f"{DATA.rstrip('/')}/{table}"
    if PROFILE == "cluster":
        return SparkSource(name=f"{table}_source", path=path, file_format="parquet", timestamp_field="event_timestamp")
    # a glob over the table's Parquet parts: what the DuckDB offline store reads (Spark writes many parts)
    return FileSource(name=f"{table}_source", path=f"{path}/*.parquet", file_format=ParquetFormat(),
                      timestamp_field="event_timestamp")


subscriber_source = _source("subscriber")
sender_domain_source = _source("sender_domain")
sender_ip_source = _source("sender_ip")
sender_provider_source = _source("sender_provider")
provider_source = _source("provider")
content_source = _source("content")
content_provider_source = _source("content_provider")
campaign_hourly_source = _source("campaign_hourly")  # marketing.features
# the tables models publish their scores in (ModelSpec.scored_features), one source each, named
# `<table>_source` like the others
scored_sources = {table: _source(table) for table in scored_tables()}
globals().update({f"{table}_source": source for table, source in scored_sources.items()})

# The feedback loop pushes fresh engagement and provider signals between batch builds.
subscriber_push = PushSource(name="subscriber_push", batch_source=subscriber_source)
provider_push = PushSource(name="provider_push", batch_source=provider_source)
# The MTA pushes each campaign's running counts per provider as replies arrive.
content_provider_push = PushSource(name="content_provider_push", batch_source=content_provider_source)
