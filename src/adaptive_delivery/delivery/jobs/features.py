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


def score_features(dep: Deployment) -> dict[str, int]:
    """Publish every model's scores as feature tables (`ModelSpec.scored_features`: MDL-004's
    reputation of each sending IP and domain, hour by hour over the lake), as the champion scores
    them; a model without a champion publishes its tables empty (the features read unknown, and
    a model trained on them learns nothing from them). Rows per table."""
    import tempfile

    from adaptive_delivery.platform.feature_publish import build_and_publish
    from adaptive_delivery.platform.spec import all_specs
    from adaptive_delivery.platform.training.policies import served_file
    from adaptive_delivery.platform.training.registry import CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.tracking import Tracking

    publishing = [s for s in all_specs() if s.scored_features is not None]
    if not publishing:
        return {}
    client = Tracking(dep.tracking_uri).client()
    tables = {}
    said = []
    for spec in publishing:
        declared = spec.scored_features.tables
        version, _ = alias_metrics(client, spec, CHAMPION)
        if version is None:
            scored = {}
            said.append(f"{spec.model_id}: no champion, its tables published empty")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                scored = spec.scored_features.score(dep.lake, served_file(dep.tracking_uri, spec, version, Path(tmp)))
            said.append(f"{spec.model_id} v{version}: " + ", ".join(f"{len(f):,} {t} rows" for t, f in scored.items()))
        tables.update({t: _scored_table(scored.get(t), key, features) for t, (key, features) in declared.items()})

    def build(staging: Path) -> dict[str, int]:
        import pyarrow.parquet as pq

        for table, rows in tables.items():
            (staging / table).mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, staging / table / "part-00000.parquet")
        return {table: rows.num_rows for table, rows in tables.items()}

    rows = build_and_publish(dep.features, build)
    record(dep, "score_features", "; ".join(said), rows=rows)
    return rows


_ARROW_KINDS = {"float": "float64", "int": "int64", "str": "string", "bool": "bool"}


def _scored_table(frame, key: str, features: dict[str, str]):
    """A published table in its declared types (an empty one too: the join key stays a string)."""
    import pandas as pd
    import pyarrow as pa

    schema = pa.schema([(key, pa.string()), ("event_timestamp", pa.timestamp("us", tz="UTC")),
                        *((name, pa.type_for_alias(_ARROW_KINDS[kind])) for name, kind in features.items())])
    if frame is None or len(frame) == 0:
        return schema.empty_table()
    frame = frame.assign(event_timestamp=pd.to_datetime(frame["event_timestamp"], utc=True).astype("datetime64[us, UTC]"))
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


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
    from adaptive_delivery.platform.spec import scored_tables

    # the models' published scores ride along wherever their tables exist (`score_features`)
    scored = [t for t in scored_tables() if (dep.features / t).is_dir()]
    views = feature_views_for([*(tables if tables is not None else spark_jobs.ALL_TABLES), *scored])
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
