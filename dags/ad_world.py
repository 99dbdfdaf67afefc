"""The world DAG (embedded default): advances the simulator to the end of each daily data interval,
so a local scheduler with catch-up runs simulated weeks with nobody watching."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment, interval
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable


@task
def simulate_day() -> dict:
    """Simulate every day up to the end of the data interval (idempotent: a re-run adds nothing)."""
    from adaptive_delivery.delivery.jobs import simulate_until

    _, end = interval(get_current_context(), timedelta(days=1))
    return simulate_until(deployment(), end.date())


@dag(dag_id="ad_world", schedule=CronDataIntervalTimetable("@daily", timezone="UTC"), start_date=START, catchup=False,
     max_active_runs=1, default_args=DEFAULT_ARGS, tags=["adaptive-delivery", "world", "simulator"],
     doc_md=__doc__, dagrun_timeout=timedelta(hours=1))
def ad_world():
    simulate_day()


ad_world()
