"""The Spark session every product's feature jobs run in: UTC, microsecond Parquet timestamps, no
UI, and on a local master nothing listening beyond loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pyspark.sql import SparkSession


def loopback_settings(master: str) -> dict[str, str]:
    """A local Spark listens on this machine's loopback only (its driver's RPC and block manager
    would otherwise listen on the external interface); a cluster's driver must be reachable."""
    return {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"} if master.startswith("local") else {}


def spark_session(app: str = "adaptive-delivery-features", master: str = "local[*]") -> SparkSession:
    """A Spark session configured the way every feature job expects (UTC, microsecond Parquet)."""
    builder = (
        SparkSession.builder.master(master).appName(app)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "4g")
    )
    for key, value in loopback_settings(master).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


@contextlib.contextmanager
def session_for(spark: SparkSession | None, app: str = "adaptive-delivery-features") -> Iterator[SparkSession]:
    """The caller's session, or one of its own for the block that is stopped after it."""
    if spark is not None:
        yield spark
        return
    own = spark_session(app)
    try:
        yield own
    finally:
        own.stop()
