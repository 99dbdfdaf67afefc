"""One retraining DAG per model spec, on the spec's schedule (spec §2.1): run the spec's Kubeflow
pipeline (KFP's local runner, or a Kubeflow cluster, as the deployment says), then record the
outcome. The drift DAG triggers these with a reason when monitoring says a model must retrain;
a pipeline whose gate stops the challenger succeeds with that verdict: nothing is promoted."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment, retrain_dag_id
from airflow.sdk import Param, dag, get_current_context, task

from adaptive_delivery.platform.spec import ModelSpec, all_specs


@task
def train(model_id: str) -> str:
    """Tune, train, evaluate, register and gate through the spec's pipeline; returns the verdict."""
    from adaptive_delivery.delivery.jobs import record
    from adaptive_delivery.platform.spec import get
    from pipelines.training import run_for

    dep = deployment()
    params = get_current_context()["params"]
    reason = params.get("reason", "schedule")
    window = {k: int(params.get(k) or 0) for k in ("holdout_days", "recalibration_days")}
    window["expected_drift"] = reason if params.get("expected_drift") else ""
    record(dep, "retrain", f"{model_id}: pipeline started ({reason})", model_id=model_id, reason=reason,
           **{k: v for k, v in window.items() if v})
    verdict = run_for(get(model_id), dep, window=window)
    return verdict


@task
def summarise(model_id: str, verdict: str) -> dict:
    """The registered version, its holdout metrics beside the oracle's, and the gate's verdict, on the timeline."""
    from adaptive_delivery.delivery.jobs import record
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import latest_training_run

    dep = deployment()
    run = latest_training_run(dep.tracking_uri, get(model_id))
    record(dep, "retrain", f"{model_id}: {verdict.splitlines()[0][:200]}", model_id=model_id, **run)
    return run


@task
def start_rollout(model_id: str, run: dict) -> dict | None:
    """A champion the gate promoted over an earlier one is rolled out against it (shadow first)."""
    from adaptive_delivery.delivery.jobs import start_rollout as start

    if not run.get("promoted"):
        return None
    return start(deployment(), model_id, get_current_context()["logical_date"])


def retrain_dag(spec: ModelSpec):
    @dag(dag_id=retrain_dag_id(spec.model_id), schedule=spec.schedule.cron, start_date=START, catchup=False,
         max_active_runs=1, default_args={**DEFAULT_ARGS, "execution_timeout": timedelta(hours=6)},
         tags=["adaptive-delivery", "training", spec.model_id, spec.trainer],
         params={"reason": Param("schedule", type="string", description="why this run retrains"),
                 "holdout_days": Param(0, type="integer", minimum=0,
                                       description="days held out for evaluation and the gate (0: the spec's)"),
                 "recalibration_days": Param(0, type="integer", minimum=0,
                                             description="newest training days that fit per-provider offsets (0: none)"),
                 "expected_drift": Param(False, type="boolean",
                                         description="the reason says the data moved: drift is reported, not a stop")},
         doc_md=f"Retrain {spec.model_id} {spec.name} ({spec.schedule.value}; GPU: {spec.needs_gpu}).\n\n{__doc__}",
         dagrun_timeout=timedelta(hours=8))
    def retrain():
        run = summarise(spec.model_id, train(spec.model_id))
        if spec.trains_on_features:  # decisions served per message go through a rollout
            start_rollout(spec.model_id, run)

    return retrain()


for _spec in all_specs():
    globals()[retrain_dag_id(_spec.model_id)] = retrain_dag(_spec)
