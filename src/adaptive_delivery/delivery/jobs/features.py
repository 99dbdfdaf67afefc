"""Feature jobs: Spark builds (in-process or spark-submit) and Feast materialisation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from adaptive_delivery.delivery.jobs.deployment import Deployment, record


# ---- features ----------------------------------------------------------------------------------
def spark_submit_command(dep: Deployment, tables: Iterable[str] | None = None) -> list[str]:
    """The spark-submit call for the feature job on the deployment's Spark master."""
    from adaptive_delivery.delivery.features import spark_jobs

    conf = {"spark.sql.session.timeZone": "UTC", "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.ui.enabled": "false", **spark_jobs.loopback_settings(dep.spark_master), **dep.spark_conf}
    cmd = ["spark-submit", "--master", dep.spark_master]
    if not dep.spark_in_process:
        cmd += ["--deploy-mode", "cluster"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [spark_jobs.__file__, "--lake", str(dep.lake), "--out", str(dep.features)]
    if tables is not None:
        cmd += ["--tables", ",".join(tables)]
    return cmd


def build_features(dep: Deployment, tables: Iterable[str] | None = None, submit: bool | None = None) -> dict[str, int]:
    """Build feature tables with Spark: in-process on a local master, through spark-submit otherwise
    (or when `submit` asks for it)."""
    from adaptive_delivery.delivery.features import spark_jobs
    from adaptive_delivery.platform.monitoring.metrics import feature_metrics

    tables = tuple(tables) if tables is not None else None
    if submit is None:
        submit = not dep.spark_in_process
    try:
        if not submit:
            rows = spark_jobs.build_features(dep.lake, dep.features, spark_jobs.spark_session(master=dep.spark_master),
                                             tables)
        else:
            rows = _spark_submit(dep, tables)
    except Exception:
        feature_metrics({}, [("build", 1)]).export(dep.home)  # the failure alert's counter
        raise
    feature_metrics(rows).export(dep.home)
    record(dep, "features", f"built {len(rows)} feature table(s) with Spark ({'spark-submit' if submit else 'in-process'})",
           rows=rows)
    return rows


def _spark_submit(dep: Deployment, tables: tuple[str, ...] | None) -> dict[str, int]:
    import pyspark

    cmd = spark_submit_command(dep, tables)
    cmd[0] = str(Path(sys.executable).parent / "spark-submit")
    env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"spark-submit failed ({done.returncode}): {done.stderr[-2000:]}")
    last = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(last[-1].replace("'", '"')) if last else {}


def feature_views_for(tables: Iterable[str]) -> list[str]:
    """The Feast views fed by these feature tables (the calendar table has none: it is joined on request)."""
    from adaptive_delivery.platform import feature_store as st

    views = {name.split(":", 1)[1] for name in st.definitions() if name.startswith("FeatureView:")}
    return sorted(f"{t}_features" for t in tables if f"{t}_features" in views)


def materialize(dep: Deployment, start: datetime, end: datetime, tables: Iterable[str] | None = None) -> list[str]:
    """Register the Feast definitions and load [start, end) into the online store (the data interval)."""
    from adaptive_delivery.delivery.features import spark_jobs
    from adaptive_delivery.platform import feature_store as st

    if end <= start:
        raise ValueError(f"empty data interval {start} .. {end}")
    views = feature_views_for(tables if tables is not None else spark_jobs.ALL_TABLES)
    fs = st.open_store(dep.feast_home, dep.features, dep.feast_profile)
    st.apply(fs)
    st.materialize(fs, start, end, views)
    record(dep, "materialize", f"materialised {len(views)} view(s) over {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} "
           f"into the {dep.feast_profile} online store", views=views)
    return views


ONLINE_WINDOW = timedelta(hours=24)


def latest_feature_hour(dep: Deployment) -> datetime:
    """The end of the newest hour the feature tables cover (the calendar table has one row per hour)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    last = pc.max(ds.dataset(dep.features / "calendar").to_table(columns=["event_timestamp"]).column(0)).as_py()
    return last + timedelta(hours=1)


def online_sample(dep: Deployment, n: int = 5) -> dict[str, list]:
    """A few subscribers read back from the online store: the loop from lake to serving closes."""
    import pyarrow.dataset as ds

    from adaptive_delivery.platform import feature_store as st

    fs = st.open_store(dep.feast_home, dep.features, dep.feast_profile)
    ids = ds.dataset(dep.features / "subscriber").to_table(columns=["subscriber_id"]).column(0).to_pylist()
    people = sorted(set(ids))[:n]
    return st.online(fs, ["subscriber_features:engagement_score", "subscriber_features:opens_30d",
                          "subscriber_features:days_since_last_open"], [{"subscriber_id": p} for p in people])
