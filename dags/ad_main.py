"""The main job (`make run`), on the embedded defaults: simulate a world → calibration report →
Spark feature build → Feast materialisation of the last day → train, evaluate, register and gate
MDL-001 through its Kubeflow pipeline. Triggered by hand (or `adaptive-delivery run`); the
scheduled DAGs run the same steps at their own cadence."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment
from airflow.sdk import dag, get_current_context, task


@task
def simulate() -> dict:
    """Simulate the world from its first day to the run's logical date."""
    from adaptive_delivery.delivery.jobs import simulate_until

    return simulate_until(deployment(), get_current_context()["logical_date"].date())


@task
def calibrate() -> dict:
    from adaptive_delivery.delivery.jobs import calibrate as report

    return {k: v for k, v in report(deployment()).items() if k == "overall"}


@task
def build_features() -> dict[str, int]:
    """Spark's feature tables, then the tables models publish their scores in."""
    from adaptive_delivery.delivery.jobs import build_features as build
    from adaptive_delivery.delivery.jobs import score_features

    dep = deployment()
    return {**build(dep), **score_features(dep)}


@task
def materialize() -> list[str]:
    """The last day of features into the online store, then a few subscribers read back."""
    from adaptive_delivery.delivery.jobs import ONLINE_WINDOW, latest_feature_hour, online_sample
    from adaptive_delivery.delivery.jobs import materialize as load

    dep = deployment()
    end = latest_feature_hour(dep)
    views = load(dep, end - ONLINE_WINDOW, end)
    print("online store sample (subscriber_features):", online_sample(dep))
    return views


@task
def train_mdl_001() -> dict:
    """MDL-001 through its pipeline (local runner or cluster, as the deployment says)."""
    from adaptive_delivery.delivery.jobs import MAIN_MODEL, record
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import latest_training_run
    from pipelines.training import run_for

    dep = deployment()
    spec = get(MAIN_MODEL)
    verdict = run_for(spec, dep)
    run = latest_training_run(dep.tracking_uri, spec)
    record(dep, "retrain", f"{MAIN_MODEL}: {verdict.splitlines()[0][:200]}", model_id=MAIN_MODEL, **run)
    return {"verdict": verdict, **run}


@dag(dag_id="ad_main", schedule=None, start_date=START, catchup=False, max_active_runs=1, default_args=DEFAULT_ARGS,
     tags=["adaptive-delivery", "main-job"], doc_md=__doc__, dagrun_timeout=timedelta(hours=4))
def ad_main():
    simulate() >> calibrate() >> build_features() >> materialize() >> train_mdl_001()


ad_main()
