"""Campaign features (spec 003's engineered features) built by Spark from the campaign events lake.

One row per campaign and hour: the hour's spend, impressions, clicks, conversions and eligible
impressions summed over its ad groups, keywords, devices and locations, and what an advertiser
reads from them (cost per click, click-through, conversion rate, cost per conversion,
impression share), the same rates over the trailing seven days (168 hours, this one included),
and the hour's calendar (hour of day, day of week with Sunday 0, day of month, weekend, time
category). A rate whose denominator is zero is null: no clicks has no cost per click, which the
spec's fragment writes as 0 and a model would read as free clicks.

The row's `event_timestamp` is the end of its hour, when the hour's report is complete, so a
point-in-time join never reads an hour before it was over. The table (`campaign_hourly`) is
published beside every other product's tables as one new version (`platform.feature_publish`)
and registered in Feast as the `campaign_performance` view of the `campaign` entity.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from adaptive_delivery.marketing import events
from adaptive_delivery.platform.feature_publish import build_and_publish
from adaptive_delivery.platform.spark import session_for, spark_session

TABLE = "campaign_hourly"
COUNTS = ("spend", "impressions", "clicks", "conversions", "eligible_impressions")
TRAILING_HOURS = 168
TIME_CATEGORIES = ((6, 12, "morning"), (12, 18, "afternoon"), (18, 22, "evening"))  # else night


class CampaignFeatureError(RuntimeError):
    """The campaign lake holds nothing to build from."""


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, numerator / denominator)


def _rates(suffix: str, spend: Column, impressions: Column, clicks: Column, conversions: Column,
           eligible: Column) -> list[Column]:
    return [_ratio(spend, clicks).alias(f"cpc{suffix}"), _ratio(clicks, impressions).alias(f"ctr{suffix}"),
            _ratio(conversions, clicks).alias(f"conversion_rate{suffix}"),
            _ratio(spend, conversions).alias(f"cost_per_conversion{suffix}"),
            _ratio(impressions, eligible).alias(f"impression_share{suffix}")]


def _time_category(hour: Column) -> Column:
    chosen = F.lit("night")
    for low, high, name in reversed(TIME_CATEGORIES):
        chosen = F.when((hour >= low) & (hour < high), name).otherwise(chosen)
    return chosen


def campaign_hourly(stats: DataFrame) -> DataFrame:
    """The campaign × hour feature rows of the lake's report rows."""
    hourly = stats.groupBy("campaign_id", "event_ts").agg(*(F.sum(c).alias(c) for c in COUNTS))
    hours = F.col("event_ts").cast("long")
    trailing = Window.partitionBy("campaign_id").orderBy(hours).rangeBetween(-(TRAILING_HOURS - 1) * 3600, 0)
    summed = {c: F.sum(c).over(trailing) for c in COUNTS}
    ts = F.col("event_ts")
    return hourly.select(
        "campaign_id", (ts + F.expr("INTERVAL 1 HOUR")).alias("event_timestamp"), *COUNTS,
        *_rates("", *(F.col(c) for c in COUNTS)),
        summed["spend"].alias("spend_7d"),
        *_rates("_7d", *(summed[c] for c in COUNTS)),
        F.hour(ts).alias("hour_of_day"), (F.dayofweek(ts) - 1).alias("day_of_week"),
        F.dayofmonth(ts).alias("day_of_month"), F.dayofweek(ts).isin(1, 7).alias("is_weekend"),
        _time_category(F.hour(ts)).alias("time_category"),
    )


def build_campaign_features(lake_root: str | Path, out: str | Path, spark: SparkSession | None = None) -> int:
    """Build `campaign_hourly` from a campaign lake and publish it beside the other tables; its rows."""
    lake = events.lake(lake_root, docs=False)
    files = lake.files(events.KIND)
    if not files:
        raise CampaignFeatureError(f"no {events.KIND} partitions under {Path(lake_root) / events.KIND}")

    def build(staging: Path) -> dict[str, int]:
        stats = session.read.parquet(*(str(f) for f in files))
        campaign_hourly(stats).write.mode("overwrite").parquet(str(staging / TABLE))
        return {TABLE: session.read.parquet(str(staging / TABLE)).count()}

    with session_for(spark, "adaptive-delivery-campaign-features") as session:
        return build_and_publish(Path(out), build)[TABLE]


def parser() -> argparse.ArgumentParser:
    """The job's arguments (what the cluster's SparkApplication passes)."""
    out = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    out.add_argument("--lake", required=True, help="The campaign events lake.")
    out.add_argument("--out", required=True, help="The published feature tables.")
    out.add_argument("--master", default="local[*]")
    return out


def main(argv: list[str] | None = None) -> None:
    """spark-submit entry point: `python -m adaptive_delivery.marketing.features --lake … --out …`."""
    args = parser().parse_args(argv)
    rows = build_campaign_features(args.lake, args.out, spark_session(master=args.master))
    print(f"{TABLE}: {rows} rows")


if __name__ == "__main__":
    main()
