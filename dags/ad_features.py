"""Feature DAGs: the hourly build refreshes sender and provider features (spec §4.1 TTLs of 1 h and
15 min), the daily build refreshes every table; each then publishes the models' scores as features
(MDL-004's hourly reputation) and materialises its data interval into the online store. Spark runs
in-process or through spark-submit, as the deployment profile says."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment, interval
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

# Table names here, not imported from the package: importing Spark's job module at parse time would
# load PySpark for every parse. tests/unit/test_dags.py checks they match the package.
HOURLY_TABLES = ("sender_domain", "sender_ip", "sender_provider", "provider", "content_provider", "calendar")


@task
def build(tables: list[str] | None) -> dict[str, int]:
    """Spark feature build over the whole lake (point-in-time tables), published atomically."""
    from adaptive_delivery.delivery.jobs import build_features

    return build_features(deployment(), tables)


@task
def score() -> dict[str, int]:
    """The tables models publish their scores in (MDL-004's reputation of each sending IP and
    domain), from the lake the build read, as each champion scores it."""
    from adaptive_delivery.delivery.jobs import score_features

    return score_features(deployment())


@task
def materialize(tables: list[str] | None, period_hours: float) -> list[str]:
    """Load the data interval's feature values into the online store."""
    from adaptive_delivery.delivery.jobs import materialize as load

    start, end = interval(get_current_context(), timedelta(hours=period_hours))
    return load(deployment(), start, end, tables)


def feature_dag(dag_id: str, cron: str, tables: tuple[str, ...] | None, period_hours: float, doc: str):
    @dag(dag_id=dag_id, schedule=CronDataIntervalTimetable(cron, timezone="UTC"), start_date=START, catchup=False,
         max_active_runs=1, default_args=DEFAULT_ARGS, tags=["adaptive-delivery", "features", "spark", "feast"],
         doc_md=doc, dagrun_timeout=timedelta(hours=period_hours))
    def features():
        chosen = list(tables) if tables is not None else None
        build(chosen) >> score() >> materialize(chosen, period_hours)

    return features()


ad_features_hourly = feature_dag("ad_features_hourly", "@hourly", HOURLY_TABLES, 1.0,
                                 "Hourly: sender and provider feature tables, then the hour into the online store.")
ad_features_daily = feature_dag("ad_features_daily", "@daily", None, 24.0,
                                "Daily: every feature table, then the day into the online store.")
