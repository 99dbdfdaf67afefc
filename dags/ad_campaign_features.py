"""Marketing's campaign features, hourly: Spark builds the campaign × hour table (spec 003's
engineered features) from the campaign events lake that `adaptive-delivery stream
consume-campaigns` keeps, publishes it beside the other products' tables, and materialises the
hour into the online store (the `campaign_performance` view)."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment, interval
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

VIEW = "campaign_performance"


@task
def build() -> int:
    """The campaign table from the whole campaign lake (trailing windows need the past week)."""
    from adaptive_delivery.marketing.features import build_campaign_features
    from adaptive_delivery.platform.spark import spark_session

    dep = deployment()
    return build_campaign_features(dep.campaign_lake, dep.features,
                                   spark_session(master=dep.spark_master))


@task
def materialize() -> str:
    """The data interval's campaign rows into the online store."""
    from adaptive_delivery.platform import feature_store as st

    dep = deployment()
    start, end = interval(get_current_context(), timedelta(hours=1))
    fs = st.open_store(dep.feast_home, dep.features, dep.feast_profile)
    st.apply(fs)
    st.materialize(fs, start, end, views=[VIEW])
    return f"{VIEW}: {start} .. {end}"


@dag(dag_id="ad_campaign_features", schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
     start_date=START, catchup=False, max_active_runs=1, default_args=DEFAULT_ARGS,
     tags=["adaptive-delivery", "marketing", "features", "spark", "feast"], doc_md=__doc__,
     dagrun_timeout=timedelta(hours=1))
def ad_campaign_features():
    build() >> materialize()


ad_campaign_features()
