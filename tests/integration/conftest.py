"""Integration fixtures: a tiny world's feature tables built once by Spark and by the reference."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from adaptive_delivery.delivery.features.spark_jobs import spark_session

    session = spark_session(master="local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def built_features(tiny_world, spark):
    """(world dir, Spark-built feature dir, reference tables)."""
    from adaptive_delivery.delivery.features.reference import build_all
    from adaptive_delivery.delivery.features.spark_jobs import build_features

    out = tiny_world / "features"
    build_features(tiny_world / "lake", out, spark)
    return tiny_world, out, build_all(tiny_world / "lake")
