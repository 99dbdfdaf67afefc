"""The knowledge base's DAG (spec §9.2): every day, what each mailbox provider answered in the
week to the data interval's end is learned from the delivery lake and recorded as a new version
of the knowledge base (SQLite beside the deployment, PostgreSQL in a cluster: AD_KNOWLEDGE_URL);
with MDL-008's champion, each provider's behaviour group and whether its answers moved this week."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment, interval
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

WINDOW = timedelta(days=7)


@task
def learn() -> dict:
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.knowledge.behaviour import champion
    from adaptive_delivery.delivery.knowledge.learn import learn_window

    dep = deployment()
    _, end = interval(get_current_context(), WINDOW)
    # MDL-008's champion, where there is one: each provider's behaviour group and change test join the facts
    behaviour = champion(dep.tracking_uri, dep.home / "models")
    print(f"MDL-008 champion: version {behaviour[1]}" if behaviour else "no MDL-008 champion yet: no behaviour facts")
    run = learn_window(dep.lake, dep.knowledge_url, until=end.date(), days=WINDOW.days, behaviour=behaviour)
    summary = f"knowledge version {run.version}: {run.providers} providers, {run.facts} facts from {run.events:,} events"
    jobs.record(dep, "knowledge", summary, version=run.version)
    print(summary)
    return {"version": run.version, "providers": run.providers}


@dag(dag_id="ad_knowledge", schedule=CronDataIntervalTimetable("@daily", timezone="UTC"), start_date=START,
     catchup=False, max_active_runs=1, default_args=DEFAULT_ARGS, tags=["adaptive-delivery", "knowledge"],
     doc_md=__doc__, dagrun_timeout=timedelta(hours=1))
def ad_knowledge():
    learn()


ad_knowledge()
