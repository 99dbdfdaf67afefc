"""The rollout-progress DAG: every day, each running experiment is judged on what its arms did in
the world (or, on a cluster, on the outcomes attributed to each arm's predictions): hold, advance
shadow → canary → ramp, promote, or roll back on a guardrail (spec §8). Decisions move registry
aliases and go on the timeline with their evidence (counts, rates, z, p)."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment, interval
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable


@task
def progress() -> list[dict]:
    from adaptive_delivery.delivery.jobs import progress_rollouts

    _, end = interval(get_current_context(), timedelta(days=1))
    decided = progress_rollouts(deployment(), end)
    for d in decided:
        print(f"{d['experiment_id']} {d['stage']}: {d['action']} ({d['reason']})")
    return decided


@dag(dag_id="ad_rollout", schedule=CronDataIntervalTimetable("@daily", timezone="UTC"), start_date=START, catchup=False,
     max_active_runs=1, default_args=DEFAULT_ARGS, tags=["adaptive-delivery", "rollout", "seldon"], doc_md=__doc__,
     dagrun_timeout=timedelta(hours=1))
def ad_rollout():
    progress()


ad_rollout()
