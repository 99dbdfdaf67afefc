"""The drift-and-performance DAG: every day, each served supervised model's champion is checked on
the outcomes that arrived in the data interval (Evidently data and prediction drift against its
training window, feature shift, its primary metric beside the oracle's), and each model trained on
the twin's logs that can observe the deployment's own (MDL-004, MDL-008) on them. A model that must
retrain gets its retraining DAG triggered with the reason, as does a model whose online learner
asked for one (AD_HOME/reports/retrain_requests.jsonl); reports go to MLflow and AD_HOME/reports."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment, interval, retrain_dag_id
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from adaptive_delivery.platform.spec import all_specs

MONITORED = [s.model_id for s in all_specs() if s.monitored]


@task
def check(model_id: str) -> dict:
    from adaptive_delivery.delivery.jobs import monitor

    start, end = interval(get_current_context(), timedelta(days=1))
    result = monitor(deployment(), model_id, start, end)
    print(result.get("summary"))
    return {k: result.get(k) for k in ("model_id", "version", "summary", "retrain", "alerts")}


@task
def retraining_requests(results: list[dict]) -> list[dict]:
    """One trigger per model that must retrain: the monitor's reasons (with the window of a
    retraining that answers an alarm: gated on the newest day, recalibrated on the day before) and
    those an online learner asked for since the last run."""
    from adaptive_delivery.platform.monitoring.checks import ADAPTIVE_RETRAINING
    from adaptive_delivery.platform.online.retraining import take_requests, triggers

    return triggers(results, take_requests(deployment().reports), retrain_dag_id, ADAPTIVE_RETRAINING)


@dag(dag_id="ad_monitor", schedule=CronDataIntervalTimetable("@daily", timezone="UTC"), start_date=START, catchup=False,
     max_active_runs=1, default_args=DEFAULT_ARGS, tags=["adaptive-delivery", "monitoring", "evidently", "drift"],
     doc_md=__doc__, dagrun_timeout=timedelta(hours=2))
def ad_monitor():
    results = check.expand(model_id=MONITORED)
    TriggerDagRunOperator.partial(task_id="trigger_retraining", wait_for_completion=False).expand_kwargs(
        retraining_requests(results))


ad_monitor()
