"""Spark feature builds: the events lake in, point-in-time feature tables out.

Runs in-process on `local[*]` (`build_features`) or on a cluster through spark-submit
(`python -m adaptive_delivery.delivery.features.spark_jobs --lake s3://… --out s3://…`). Every table is
written to a staging folder first and published only when all tables succeeded, in one rename
(`publish`), so neither a failed build nor a crash leaves a partial or missing feature set behind.
The definitions mirror `reference.py`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.schema import (
    DIMENSION_SCHEMAS,
    EVENT_SCHEMAS,
    SchemaError,
    conform,
)
from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.delivery.providers import PROVIDER_NAMES
from adaptive_delivery.platform.feature_publish import build_and_publish
from adaptive_delivery.platform.spark import (  # noqa: F401 - spark_session, loopback_settings: the jobs' session
    loopback_settings,
    session_for,
    spark_session,
)

US_PER_DAY = 86_400 * 1_000_000


class FeatureBuildError(RuntimeError):
    """The lake cannot be turned into features; the message names the offending partition."""


# ---- input checks ----------------------------------------------------------------------------
def check_lake(lake: EventsLake) -> None:
    """Read every partition's footer and schema before Spark touches it; fail naming the first bad one."""
    if not lake.partitions("sends"):
        raise FeatureBuildError(f"no sends partitions under {lake.root / 'sends'}: nothing to build features from")
    for kind in EVENT_SCHEMAS:
        for path in lake.files(kind):
            try:
                table = pq.read_table(path)
            except Exception as exc:  # noqa: BLE001 - any unreadable file is a corrupt partition
                raise FeatureBuildError(f"corrupt partition {path}: {type(exc).__name__}: {exc}") from exc
            try:
                conform(kind, table)
            except SchemaError as exc:
                raise FeatureBuildError(f"partition {path} violates the {kind} schema: {exc}") from exc
    for kind in DIMENSION_SCHEMAS:
        path = lake.root / "dim" / f"{kind}.parquet"
        if not path.exists():
            raise FeatureBuildError(f"missing dimension table {path}")
        try:
            conform(kind, pq.read_table(path))
        except Exception as exc:  # noqa: BLE001
            raise FeatureBuildError(f"dimension table {path} is unreadable or violates its schema: {exc}") from exc


# ---- inputs ----------------------------------------------------------------------------------
_SPARK_TYPES = {"string": "string", "double": "double", "int16": "short", "int32": "int", "int64": "long",
                "int8": "byte", "bool": "boolean", "timestamp[us, tz=UTC]": "timestamp"}


def _read_events(spark: SparkSession, lake: EventsLake, kind: str) -> DataFrame:
    files = lake.files(kind)
    if not files:  # a kind with no events yet (e.g. no complaints): an empty table of the right shape
        ddl = ", ".join(f"{f.name} {_SPARK_TYPES[str(f.type)]}" for f in EVENT_SCHEMAS[kind])
        return spark.createDataFrame([], ddl)
    return spark.read.option("basePath", str(lake.root / kind)).parquet(*map(str, files)).drop("date")


def load_inputs(spark: SparkSession, lake: EventsLake) -> dict:
    sends = _read_events(spark, lake, "sends")
    keys = sends.select("message_id", "subscriber_id", "sending_domain", "sending_ip", "send_ts", "content_id",
                        F.col("provider").alias("send_provider"))
    outcomes = (_read_events(spark, lake, "outcomes").drop("subscriber_id", "sending_domain", "sending_ip")
                .join(keys, "message_id", "left")
                .withColumn("provider", F.coalesce("provider", "send_provider")))
    complaints = (_read_events(spark, lake, "complaints").drop("subscriber_id", "sending_domain", "sending_ip")
                  .join(keys.select("message_id", "subscriber_id", "sending_domain", "sending_ip"), "message_id", "left"))
    engagement = (_read_events(spark, lake, "engagement").drop("subscriber_id")
                  .join(keys.select("message_id", "subscriber_id", "sending_domain", "sending_ip", "send_ts"), "message_id", "left"))
    dims = {k: spark.read.parquet(str(lake.root / "dim" / f"{k}.parquet")) for k in DIMENSION_SCHEMAS}
    days = lake.partitions("sends")
    return {"sends": sends, "outcomes": outcomes, "complaints": complaints, "engagement": engagement, **dims,
            "snapshots": fd.Snapshots(days[0], days[-1])}


def _snapshot_df(spark: SparkSession, times: list[datetime]) -> DataFrame:
    return spark.createDataFrame([(t,) for t in times], "T timestamp_ntz").select(
        F.to_utc_timestamp(F.col("T").cast("timestamp"), "UTC").alias("T"))


def _us(col: str | Column) -> Column:
    return F.unix_micros(F.col(col) if isinstance(col, str) else col)


# ---- subscriber ------------------------------------------------------------------------------
def subscriber_features(spark: SparkSession, inp: dict) -> DataFrame:
    snaps = F.broadcast(_snapshot_df(spark, inp["snapshots"].subscriber()))
    eng = inp["engagement"].filter(~F.col("machine_open") & F.col("subscriber_id").isNotNull())
    weights = F.create_map(*[x for k, v in fd.ENGAGEMENT_WEIGHTS.items() for x in (F.lit(k), F.lit(v))])
    weighted = (eng.select("subscriber_id", "event_ts", "event_type")
                .unionByName(inp["complaints"].filter(F.col("subscriber_id").isNotNull())
                             .select("subscriber_id", "event_ts", F.lit("complaint").alias("event_type")))
                .withColumn("weight", weights[F.col("event_type")]))
    score = (weighted.crossJoin(snaps).filter(F.col("event_ts") < F.col("T"))
             .withColumn("decayed", F.col("weight") * F.pow(F.lit(0.5), (_us("T") - _us("event_ts")) / F.lit(US_PER_DAY * fd.HALF_LIFE_DAYS)))
             .groupBy("subscriber_id", "T").agg(F.sum("decayed").alias("raw_score")))
    opens = eng.filter(F.col("event_type") == "open")
    clicks = eng.filter(F.col("event_type") == "click")
    month = F.col("T") - F.expr("INTERVAL 30 DAYS")

    def recency(events: DataFrame, name: str) -> DataFrame:
        e = events.crossJoin(snaps).filter(F.col("event_ts") < F.col("T"))
        return e.groupBy("subscriber_id", "T").agg(
            F.max("event_ts").alias(f"last_{name}"),
            F.sum((F.col("event_ts") >= month).cast("long")).alias(f"{name}s_30d"),
        )

    sends_30d = (inp["sends"].crossJoin(snaps).filter(F.col("send_ts") < F.col("T"))
                 .groupBy("subscriber_id", "T").agg(
                     F.sum((F.col("send_ts") >= month).cast("long")).alias("emails_received_30d"),
                     F.count("*").alias("emails_received_total")))

    def heatmap(events: DataFrame, bucket: Column, width: int, name: str) -> DataFrame:
        counts = (events.crossJoin(snaps).filter(F.col("event_ts") < F.col("T")).withColumn("b", bucket)
                  .groupBy("subscriber_id", "T").pivot("b", list(range(width))).count().na.fill(0))
        cells = [F.col(str(i)).cast("double") for i in range(width)]
        total = sum(cells[1:], cells[0])
        return counts.select("subscriber_id", "T", F.when(total > 0, F.array(*[c / total for c in cells]))
                             .otherwise(F.array(*[F.lit(0.0)] * width)).alias(name))

    first_open = opens.groupBy("message_id").agg(F.first("subscriber_id").alias("subscriber_id"),
                                                 F.min("event_ts").alias("open_ts"), F.first("send_ts").alias("send_ts"))
    response = (first_open.crossJoin(snaps).filter(F.col("open_ts") < F.col("T"))
                .groupBy("subscriber_id", "T")
                .agg(F.avg((_us("open_ts") - _us("send_ts")) / F.lit(3_600_000_000.0)).alias("typical_response_hours")))
    bounced = inp["outcomes"].filter((F.col("status") == "bounced") & F.col("subscriber_id").isNotNull())
    bounces = (bounced.crossJoin(snaps).filter(F.col("event_ts") < F.col("T")).groupBy("subscriber_id", "T").agg(
        F.sum((F.col("bounce_class") == "hard").cast("long")).alias("hard_bounces_total"),
        F.sum((F.col("bounce_class") == "soft").cast("long")).alias("soft_bounces_total"),
        F.max("event_ts").alias("last_bounce")))
    placed = inp["outcomes"].filter((F.col("status") == "accepted") & F.col("placement").isNotNull()
                                    & F.col("subscriber_id").isNotNull())
    placements = (placed.crossJoin(snaps).filter((F.col("event_ts") < F.col("T")) & (F.col("event_ts") >= month))
                  .groupBy("subscriber_id", "T").agg(
                      F.sum((F.col("placement") == "inbox").cast("long")).alias("inbox_placements_30d"),
                      F.sum((F.col("placement") == "spam").cast("long")).alias("spam_placements_30d")))
    # the last time the address took a message: how long it has gone unproven (the records' view
    # of whether it still lives)
    accepted = inp["outcomes"].filter((F.col("status") == "accepted") & F.col("subscriber_id").isNotNull())
    deliveries = (accepted.crossJoin(snaps).filter(F.col("event_ts") < F.col("T"))
                  .groupBy("subscriber_id", "T").agg(F.max("event_ts").alias("last_delivery")))
    complaints = (inp["complaints"].filter(F.col("subscriber_id").isNotNull()).crossJoin(snaps)
                  .filter(F.col("event_ts") < F.col("T")).groupBy("subscriber_id", "T").agg(F.count("*").alias("complaints_total")))
    grid = (inp["subscribers"].crossJoin(snaps).filter(F.col("signup_ts") < F.col("T"))
            .select("subscriber_id", "T", "signup_ts", "email_domain", "domain_category", "provider", "client", "device"))
    f = grid
    for part in (score, recency(opens, "open"), recency(clicks, "click"), sends_30d,
                 heatmap(opens, F.hour("event_ts"), 24, "open_hour_heatmap"),
                 heatmap(clicks, F.hour("event_ts"), 24, "click_hour_heatmap"),
                 heatmap(opens, (F.dayofweek("event_ts") + 5) % 7, 7, "open_weekday_heatmap"),
                 response, bounces, placements, deliveries, complaints):
        f = f.join(part, ["subscriber_id", "T"], "left")
    zeros24 = F.array(*[F.lit(0.0)] * 24)
    days_since = lambda c: F.coalesce((_us("T") - _us(c)) / F.lit(float(US_PER_DAY)), F.lit(fd.NEVER_DAYS))  # noqa: E731
    f = f.select(
        "subscriber_id",
        F.least(F.greatest(F.lit(100.0) / (1 + F.exp(-F.coalesce("raw_score", F.lit(0.0)) / 10.0)), F.lit(0.0)), F.lit(100.0)).alias("engagement_score"),
        days_since("last_open").alias("days_since_last_open"),
        days_since("last_click").alias("days_since_last_click"),
        F.coalesce("opens_30d", F.lit(0)).cast("long").alias("opens_30d"),
        F.coalesce("clicks_30d", F.lit(0)).cast("long").alias("clicks_30d"),
        F.coalesce("emails_received_30d", F.lit(0)).cast("long").alias("emails_received_30d"),
        F.coalesce("emails_received_total", F.lit(0)).cast("long").alias("emails_received_total"),
        F.coalesce("open_hour_heatmap", zeros24).alias("open_hour_heatmap"),
        F.coalesce("click_hour_heatmap", zeros24).alias("click_hour_heatmap"),
        F.coalesce("open_weekday_heatmap", F.array(*[F.lit(0.0)] * 7)).alias("open_weekday_heatmap"),
        F.coalesce("typical_response_hours", F.lit(-1.0)).alias("typical_response_hours"),
        F.coalesce("hard_bounces_total", F.lit(0)).cast("long").alias("hard_bounces_total"),
        F.coalesce("soft_bounces_total", F.lit(0)).cast("long").alias("soft_bounces_total"),
        F.coalesce("complaints_total", F.lit(0)).cast("long").alias("complaints_total"),
        days_since("last_bounce").alias("days_since_last_bounce"),
        days_since("last_delivery").alias("days_since_last_delivery"),
        F.coalesce("inbox_placements_30d", F.lit(0)).cast("long").alias("inbox_placements_30d"),
        F.coalesce("spam_placements_30d", F.lit(0)).cast("long").alias("spam_placements_30d"),
        ((_us("T") - _us("signup_ts")) / F.lit(float(US_PER_DAY))).alias("tenure_days"),
        "email_domain", "domain_category", "provider", "client", "device", F.col("T").alias("event_timestamp"),
    )
    entropy = F.aggregate(F.filter("open_hour_heatmap", lambda x: x > 0), F.lit(0.0), lambda acc, x: acc + x * F.log(x))
    return (f.withColumn("engagement_consistency",
                         F.when(F.aggregate("open_hour_heatmap", F.lit(0.0), lambda a, x: a + x) > 0,
                                1.0 + entropy / math.log(24)).otherwise(0.0))
            .withColumn("bounce_history", ((F.col("hard_bounces_total") + F.col("soft_bounces_total")) > 0).cast("long"))
            .withColumn("complaint_history", (F.col("complaints_total") > 0).cast("long")))


# ---- senders ---------------------------------------------------------------------------------
def _bucket_grid(spark: SparkSession, keys: DataFrame, key: str, first: datetime, n: int, width_s: int) -> DataFrame:
    idx = spark.range(n).withColumnRenamed("id", "i")
    start_us = int((first - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    return keys.select(key).distinct().crossJoin(idx).withColumn(
        "bucket_start", F.timestamp_micros(F.lit(start_us) + F.col("i") * F.lit(width_s * 1_000_000)))


def _bucket_of(ts: str, first: datetime, width_s: int) -> Column:
    start_us = int((first - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    return F.floor((_us(ts) - F.lit(start_us)) / F.lit(width_s * 1_000_000)).cast("long")


def sender_features(spark: SparkSession, inp: dict, key: str) -> DataFrame:
    snaps = inp["snapshots"]
    first = datetime.combine(snaps.first_day, datetime.min.time())
    n_hours = len(snaps.sender())
    dim = inp["ips"] if key == "sending_ip" else inp["senders"]
    grid = _bucket_grid(spark, dim, key, first, n_hours, 3600)
    human_opens = inp["engagement"].filter((F.col("event_type") == "open") & ~F.col("machine_open"))
    counts = [
        inp["sends"].groupBy(key, _bucket_of("send_ts", first, 3600).alias("i")).agg(F.count("*").alias("sent")),
        inp["outcomes"].groupBy(key, _bucket_of("event_ts", first, 3600).alias("i")).agg(
            F.sum(((F.col("status") == "bounced") & (F.col("bounce_class") == "hard")).cast("long")).alias("hard"),
            F.sum(((F.col("status") == "bounced") & (F.col("bounce_class") == "soft")).cast("long")).alias("soft"),
            F.sum((F.col("status") == "blocked").cast("long")).alias("blocked"),
            F.sum((F.col("status") == "deferred").cast("long")).alias("deferred")),
        inp["complaints"].groupBy(key, _bucket_of("event_ts", first, 3600).alias("i")).agg(F.count("*").alias("complaints")),
        human_opens.groupBy(key, _bucket_of("event_ts", first, 3600).alias("i")).agg(F.count("*").alias("opens")),
    ]
    f = grid
    for c in counts:
        f = f.join(c, [key, "i"], "left")
    cols = ("sent", "hard", "soft", "blocked", "deferred", "complaints", "opens")
    f = f.na.fill(0, list(cols)).withColumn("day", F.to_date("bucket_start"))
    last24 = Window.partitionBy(key).orderBy("i").rangeBetween(-23, 0)
    today = Window.partitionBy(key, "day").orderBy("i").rowsBetween(Window.unboundedPreceding, 0)
    for c in cols:
        f = f.withColumn(f"{c}_24h", F.sum(c).over(last24))
    f = f.withColumn("volume_today", F.sum("sent").over(today))
    daily = (f.groupBy(key, "day").agg(F.sum("sent").alias("day_total"))
             .withColumn("d", F.datediff("day", F.lit(snaps.first_day)))
             .withColumn("prev6_max", F.max("day_total").over(Window.partitionBy(key).orderBy("d").rangeBetween(-6, -1))))
    f = f.join(daily.select(key, "day", "prev6_max"), [key, "day"], "left")
    denom = F.greatest(F.col("sent_24h"), F.lit(1)).cast("double")
    stage = F.lit(len(fd.WARMUP_STAGE_UPPER))
    mx = F.greatest(F.coalesce("prev6_max", F.lit(0)), F.col("volume_today")).cast("double")
    for i, upper in reversed(list(enumerate(fd.WARMUP_STAGE_UPPER))):
        stage = F.when(mx < upper, F.lit(i)).otherwise(stage)
    T = F.col("bucket_start") + F.expr("INTERVAL 1 HOURS")
    out = f.select(
        key, T.alias("event_timestamp"), F.col("sent_24h").cast("long"),
        (F.col("hard_24h") / denom).alias("hard_bounce_rate_24h"), (F.col("soft_24h") / denom).alias("soft_bounce_rate_24h"),
        ((F.col("hard_24h") + F.col("soft_24h")) / denom).alias("bounce_rate_24h"),
        (F.col("blocked_24h") / denom).alias("block_rate_24h"), (F.col("deferred_24h") / denom).alias("deferral_rate_24h"),
        (F.col("complaints_24h") / denom).alias("complaint_rate_24h"), (F.col("opens_24h") / denom).alias("open_rate_24h"),
        F.col("volume_today").cast("long"), F.col("sent").cast("long").alias("volume_this_hour"),
        mx.alias("max_daily_volume_7d"), stage.cast("long").alias("warmup_stage"),
    )
    if key == "sending_domain":
        d = inp["senders"].select("sending_domain", "domain_created_ts", "spf", "dkim", "dmarc", "one_click_unsubscribe")
        return out.join(d, key).withColumn(
            "domain_age_days", (_us("event_timestamp") - _us("domain_created_ts")) / F.lit(float(US_PER_DAY))).drop("domain_created_ts")
    d = inp["ips"].select("sending_ip", "first_used_ts")
    return out.join(d, key).withColumn(
        "ip_age_days", (_us("event_timestamp") - _us("first_used_ts")) / F.lit(float(US_PER_DAY))).drop("first_used_ts")


# ---- sender x provider -----------------------------------------------------------------------
def sender_provider_features(spark: SparkSession, inp: dict) -> DataFrame:
    """Per sending IP and mailbox provider, hourly: the provider-specific view of a sender's
    standing (spec §3.1 contextual features: ISP-specific recent issues)."""
    snaps = inp["snapshots"]
    first = datetime.combine(snaps.first_day, datetime.min.time())
    n_hours = len(snaps.sender())
    keys = ["sending_ip", "provider"]
    pairs = inp["ips"].select("sending_ip").distinct().crossJoin(inp["sends"].select("provider").distinct())
    grid = pairs.crossJoin(spark.range(n_hours).withColumnRenamed("id", "i"))
    o = inp["outcomes"]
    counts = [
        inp["sends"].groupBy(*keys, _bucket_of("send_ts", first, 3600).alias("i")).agg(F.count("*").alias("sent")),
        o.groupBy(*keys, _bucket_of("event_ts", first, 3600).alias("i")).agg(
            F.sum((F.col("status") == "blocked").cast("long")).alias("blocked"),
            F.sum((F.col("status") == "deferred").cast("long")).alias("deferred"),
            F.sum((F.col("status") == "bounced").cast("long")).alias("bounced"),
            F.sum(((F.col("status") == "accepted") & (F.col("placement") == "inbox")).cast("long")).alias("inbox"),
            F.sum(((F.col("status") == "accepted") & (F.col("placement") == "spam")).cast("long")).alias("spam")),
    ]
    f = grid
    for c in counts:
        f = f.join(c, [*keys, "i"], "left")
    cols = ("sent", "blocked", "deferred", "bounced", "inbox", "spam")
    f = f.na.fill(0, list(cols))
    last24 = Window.partitionBy(*keys).orderBy("i").rangeBetween(-23, 0)
    for c in cols:
        f = f.withColumn(f"{c}_24h", F.sum(c).over(last24))
    denom = F.greatest(F.col("sent_24h"), F.lit(1)).cast("double")
    placed = F.col("inbox_24h") + F.col("spam_24h")
    start_us = int((first - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    T = F.timestamp_micros(F.lit(start_us) + (F.col("i") + 1) * F.lit(3600 * 1_000_000))
    return f.select(
        *keys, T.alias("event_timestamp"), F.col("sent_24h").cast("long"), F.col("sent").cast("long").alias("volume_this_hour"),
        (F.col("blocked_24h") / denom).alias("block_rate_24h"), (F.col("deferred_24h") / denom).alias("deferral_rate_24h"),
        (F.col("bounced_24h") / denom).alias("bounce_rate_24h"),
        F.when(placed > 0, F.col("spam_24h") / placed).otherwise(F.lit(0.0)).alias("spam_placement_rate_24h"),
        placed.cast("long").alias("placements_24h"),
    )


# ---- providers -------------------------------------------------------------------------------
def provider_features(spark: SparkSession, inp: dict) -> DataFrame:
    snaps = inp["snapshots"]
    first = datetime.combine(snaps.first_day, datetime.min.time())
    seen = inp["outcomes"].select("provider").where(F.col("provider").isNotNull())
    providers = seen.union(spark.createDataFrame([(p,) for p in PROVIDER_NAMES], "provider string")).distinct()
    grid = _bucket_grid(spark, providers, "provider", first, len(snaps.provider()), 900)
    o = inp["outcomes"].withColumn("i", _bucket_of("event_ts", first, 900))
    agg = o.groupBy("provider", "i").agg(
        F.count("*").alias("n"),
        F.sum((F.col("status") == "accepted").cast("long")).alias("accepted"),
        F.sum((F.col("status") == "deferred").cast("long")).alias("deferred"),
        F.sum((F.col("status") == "blocked").cast("long")).alias("blocked"),
        F.sum(((F.col("smtp_code") >= 400) & (F.col("smtp_code") < 500)).cast("long")).alias("r4"),
        F.sum(((F.col("smtp_code") >= 500) & (F.col("smtp_code") < 600)).cast("long")).alias("r5"),
        F.avg("latency_ms").alias("lat"),
        F.sum((F.col("status").isin("deferred", "blocked") & F.col("reason").isin(*fd.THROTTLE_REASONS)).cast("long")).alias("thr"),
    )
    f = grid.join(agg, ["provider", "i"], "left").na.fill(0, ["n", "accepted", "deferred", "blocked", "r4", "r5", "thr"])
    share = lambda c: F.when(F.col("n") > 0, F.col(c) / F.col("n")).otherwise(F.lit(-1.0))  # noqa: E731
    return f.select(
        "provider", (F.col("bucket_start") + F.expr("INTERVAL 15 MINUTES")).alias("event_timestamp"),
        F.col("n").cast("long").alias("attempts_15m"), share("accepted").alias("accept_rate_15m"),
        (F.col("deferred") / 15.0).alias("deferrals_per_min"), (F.col("blocked") / 15.0).alias("blocks_per_min"),
        share("r4").alias("rate_4xx_15m"), share("r5").alias("rate_5xx_15m"),
        F.coalesce("lat", F.lit(-1.0)).alias("mean_latency_ms_15m"), (F.col("thr") / 15.0).alias("throttle_signals_per_min"),
    )


# ---- campaigns in flight ---------------------------------------------------------------------
def content_provider_features(spark: SparkSession, inp: dict) -> DataFrame:
    """Per content and mailbox provider, at the end of every minute in which the provider answered
    one of its messages: the content's outcomes there so far and their rates (-1 before any)."""
    o = inp["outcomes"].filter(F.col("content_id").isNotNull() & F.col("provider").isNotNull())
    keys = ["content_id", "provider"]
    every_us = int(fd.CAMPAIGN_EVERY.total_seconds()) * 1_000_000
    minute = F.floor(_us("event_ts") / F.lit(every_us)).cast("long")
    status = F.col("status")
    per_minute = o.groupBy(*keys, minute.alias("m")).agg(
        F.sum((status == "accepted").cast("long")).alias("accepted"),
        F.sum(((status == "accepted") & (F.col("placement") == "inbox")).cast("long")).alias("inbox"),
        F.sum(((status == "accepted") & (F.col("placement") == "spam")).cast("long")).alias("spam"),
        F.sum((status == "blocked").cast("long")).alias("blocked"),
        F.sum((status == "bounced").cast("long")).alias("bounced"),
        F.sum((status == "deferred").cast("long")).alias("deferred"),
        F.count("*").alias("answers"),
    )
    so_far = Window.partitionBy(*keys).orderBy("m").rowsBetween(Window.unboundedPreceding, 0)
    cols = ("accepted", "inbox", "spam", "blocked", "bounced", "deferred", "answers")
    f = per_minute.select(*keys, "m", *[F.sum(c).over(so_far).alias(c) for c in cols])
    done = F.col("accepted") + F.col("blocked") + F.col("bounced")
    placed = F.col("inbox") + F.col("spam")
    share = lambda num, den: F.when(den > 0, num / den).otherwise(F.lit(-1.0))  # noqa: E731
    return f.select(
        *keys, F.timestamp_micros((F.col("m") + 1) * F.lit(every_us)).alias("event_timestamp"),
        done.cast("long").alias("outcomes_so_far"), share(F.col("blocked"), done).alias("block_rate_so_far"),
        share(F.col("spam"), placed).alias("spam_share_so_far"), share(F.col("bounced"), done).alias("bounce_rate_so_far"),
        share(F.col("deferred"), F.col("answers")).alias("deferral_rate_so_far"),
    )


# ---- content and calendar ------------------------------------------------------------------
def _occurrences(col: str, words: tuple[str, ...]) -> Column:
    low = F.lower(F.col(col))
    parts = [((F.length(low) - F.length(F.replace(low, F.lit(w), F.lit("")))) / len(w)) for w in words]
    return sum(parts[1:], parts[0]).cast("long")


def content_features(spark: SparkSession, inp: dict) -> DataFrame:
    first = inp["campaigns"].groupBy("content_id").agg(F.min("scheduled_ts").alias("first_ts"))
    c = inp["contents"].join(first, "content_id", "left")
    text = F.concat_ws(" ", "subject", "body_text")
    letters = F.length("subject") - F.length(F.regexp_replace("subject", "[A-Za-z]", ""))
    capitals = F.length("subject") - F.length(F.regexp_replace("subject", "[A-Z]", ""))
    words = F.greatest(F.size(F.split(F.trim("body_text"), r"\s+")), F.lit(1))
    level = F.create_map(*[x for k, v in fd.PERSONALIZATION_LEVEL.items() for x in (F.lit(k), F.lit(v))])
    return c.select(
        "content_id", (F.col("first_ts") - F.expr("INTERVAL 1 MINUTES")).alias("event_timestamp"),
        F.length("subject").cast("long").alias("subject_length"),
        _occurrences("subject", fd.SPAM_TRIGGER_WORDS).alias("subject_spam_words"),
        _occurrences("body_text", fd.SPAM_TRIGGER_WORDS).alias("body_spam_words"),
        (capitals / F.greatest(letters, F.lit(1))).cast("double").alias("all_caps_share"),
        ((F.length(text) - F.length(F.regexp_replace(text, "!", ""))) / F.greatest(F.length(text), F.lit(1)) * 100.0).alias("exclamation_density"),
        F.col("link_count").cast("long"), F.col("image_count").cast("long"),
        (F.col("image_count") / words * 100.0).alias("image_to_text_ratio"),
        level[F.col("personalization_level")].cast("long").alias("personalization_level"),
        "has_unsubscribe_link", "has_list_unsubscribe_header",
        F.coalesce(F.col("spam_risk"), F.lit(fd.UNSCORED)).cast("double").alias("content_spam_risk"),
    )


def calendar_features(spark: SparkSession, inp: dict) -> DataFrame:
    snaps = inp["snapshots"]
    first = datetime.combine(snaps.first_day, datetime.min.time())
    n = ((snaps.last_day - snaps.first_day).days + 1) * 24
    years = range(snaps.first_day.year, snaps.last_day.year + 1)
    holidays = sorted(d.isoformat() for y in years for d in fd.us_holidays(y))
    start_us = int((first - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    h = spark.range(n).select(F.timestamp_micros(F.lit(start_us) + F.col("id") * F.lit(3_600_000_000)).alias("hour_ts"))
    return h.select(
        "hour_ts", F.col("hour_ts").alias("event_timestamp"), F.hour("hour_ts").cast("long").alias("hour_of_day"),
        ((F.dayofweek("hour_ts") + 5) % 7).cast("long").alias("day_of_week"),
        (((F.dayofweek("hour_ts") + 5) % 7) >= 5).alias("is_weekend"),
        F.date_format("hour_ts", "yyyy-MM-dd").isin(*holidays).alias("is_holiday"),
    )


# ---- the job -----------------------------------------------------------------------------
TABLE_BUILDERS: dict[str, Callable[[SparkSession, dict], DataFrame]] = {
    "subscriber": subscriber_features,
    "sender_domain": lambda spark, inp: sender_features(spark, inp, "sending_domain"),
    "sender_ip": lambda spark, inp: sender_features(spark, inp, "sending_ip"),
    "sender_provider": sender_provider_features,
    "provider": provider_features,
    "content": content_features,
    "content_provider": content_provider_features,
    "calendar": calendar_features,
}
# Spec §4.1 cadences: sender and provider features refresh hourly (TTL 1 h / 15 min), and so do
# campaigns in flight (between builds their counts are pushed as outcomes arrive); the daily build
# refreshes everything, subscriber and content features included.
HOURLY_TABLES = ("sender_domain", "sender_ip", "sender_provider", "provider", "content_provider", "calendar")
ALL_TABLES = tuple(TABLE_BUILDERS)


def build_features(lake_root: str | Path, out: str | Path, spark: SparkSession | None = None,
                   tables: Iterable[str] | None = None) -> dict[str, int]:
    """Build feature tables from the lake (all of them, or `tables`) and publish them as one new
    version (`publish`: a partial build keeps the other tables as they were); returns rows per table."""
    chosen = tuple(tables) if tables is not None else ALL_TABLES
    unknown = sorted(set(chosen) - set(TABLE_BUILDERS))
    if unknown or not chosen:
        raise FeatureBuildError(f"unknown feature tables {unknown or '(none chosen)'}; known: {', '.join(ALL_TABLES)}")
    lake = EventsLake(lake_root)
    check_lake(lake)

    def build(staging: Path) -> dict[str, int]:
        inp = load_inputs(session, lake)
        rows = {}
        for name in chosen:
            TABLE_BUILDERS[name](session, inp).write.mode("overwrite").parquet(str(staging / name))
            rows[name] = session.read.parquet(str(staging / name)).count()
        return rows

    with session_for(spark) as session:
        return build_and_publish(Path(out), build)  # the other tables (other products' too) kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build feature tables from an events lake (spark-submit entry point).")
    parser.add_argument("--lake", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--master", default=None, help="Spark master; omit under spark-submit")
    parser.add_argument("--tables", default=None, help=f"comma-separated subset of {','.join(ALL_TABLES)} (default: all)")
    args = parser.parse_args(argv)
    spark = spark_session(master=args.master) if args.master else SparkSession.builder.getOrCreate()
    print(build_features(args.lake, args.out, spark, args.tables.split(",") if args.tables else None))


if __name__ == "__main__":
    main()

