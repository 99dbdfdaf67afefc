"""The feature-discovery DAG (spec §9.1): every week, for each model that declares feature
discovery, the report of how the fields it does not read relate to its outcomes beyond its
champion's predictions, and the fields suggested for a shadow trial. It only reports: a person
runs the trial and approves (`adaptive-delivery features trial|approve`)."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment, interval
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from adaptive_delivery.platform.spec import all_specs

DISCOVERING = [s.model_id for s in all_specs() if s.discovery is not None]


@task
def report(model_id: str) -> dict:
    from adaptive_delivery.delivery.jobs.discovery import discover

    _, end = interval(get_current_context(), timedelta(days=7))
    result = discover(deployment(), model_id, until=end)
    print(f"{model_id}: suggested {result['suggestions'] or 'nothing'}; report in {result['folder']}")
    return {"model_id": model_id, "suggestions": result["suggestions"], "folder": result["folder"]}


@dag(dag_id="ad_feature_discovery", schedule=CronDataIntervalTimetable("@weekly", timezone="UTC"), start_date=START,
     catchup=False, max_active_runs=1, default_args=DEFAULT_ARGS,
     tags=["adaptive-delivery", "feature-discovery", "monitoring"], doc_md=__doc__,
     dagrun_timeout=timedelta(hours=2))
def ad_feature_discovery():
    report.expand(model_id=DISCOVERING)


ad_feature_discovery()
