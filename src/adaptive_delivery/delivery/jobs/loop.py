"""The sending loop of the embedded default: the simulated world advanced day by day, with the
rollouts in progress deciding for their arms."""

from __future__ import annotations

from datetime import date, datetime

from adaptive_delivery.delivery.jobs.deployment import (
    MAIN_MODEL,
    Deployment,
    DeploymentError,
    record,
)


# ---- the world (embedded default only) ---------------------------------------------------------
def simulate_until(dep: Deployment, until: date) -> dict:
    """Advance the simulated world to `until` (the end of the data interval); idempotent."""
    from adaptive_delivery.twin import live

    if dep.world is None:
        raise DeploymentError(f"the {dep.name} profile reads real MTA logs; there is no simulated world to advance")
    exp = _running_rollout(dep)
    if exp is None:
        done = live.advance_until(dep.home, until, dep.world).as_dict()
        if done["days"]:
            record(dep, "world", f"simulated {len(done['days'])} day(s) up to {done['today']}", events=done["events"])
        return done
    return _simulate_with_rollout(dep, until, exp)


def _running_rollout(dep: Deployment):
    from adaptive_delivery.delivery.scenarios import live_rollout as rollout_live
    from adaptive_delivery.platform.rollout import controller as rc

    return rollout_live.running(rc.RolloutStore(dep.rollouts), MAIN_MODEL) if dep.rollouts.exists() else None


def _arms(dep: Deployment, exp) -> tuple:
    """Both arms of an experiment as the registry holds them."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from adaptive_delivery.delivery.scenarios.rollout import ArmModel
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.steps import registered_bundle

    mlflow.set_tracking_uri(dep.tracking_uri)
    mlflow.set_registry_uri(dep.tracking_uri)
    client, spec = MlflowClient(dep.tracking_uri, registry_uri=dep.tracking_uri), get(exp.model_id)
    return tuple(ArmModel(v, registered_bundle(client, spec, f"models:/{spec.registered_name}/{v}"))
                 for v in (exp.control_version, exp.candidate_version))


def _simulate_with_rollout(dep: Deployment, until: date, exp) -> dict:
    """Each day with the experiment's arms deciding who gets mail; the tally grows day by day."""
    from adaptive_delivery.delivery.scenarios import live_rollout as rollout_live
    from adaptive_delivery.platform.rollout import controller as rc
    from adaptive_delivery.twin import live

    store = rc.RolloutStore(dep.rollouts)
    control, candidate = _arms(dep, exp)
    days = []
    while live.load(dep.home) is not None and date.fromisoformat(live.status(dep.home)["today"]) < until:
        today = live.status(dep.home)["today"]
        per_arm = rollout_live.step_day(dep.home, store, exp, control, candidate, dep.home / "predictions")
        days.append(today)
        record(dep, "world", f"simulated {today} with rollout {exp.experiment_id} at {exp.stage.name} "
               f"({exp.candidate_share():.0%} to v{exp.candidate_version}): control sent "
               f"{per_arm['control']['sent']:,}/{per_arm['control']['messages']:,}, candidate "
               f"{per_arm['candidate']['sent']:,}/{per_arm['candidate']['messages']:,}", arms=per_arm)
    return {"days": days, "today": live.status(dep.home)["today"], "rollout": exp.experiment_id}


# ---- rollouts ---------------------------------------------------------------------------------
def start_rollout(dep: Deployment, model_id: str, now: datetime) -> dict | None:
    """Roll the champion the gate just promoted out against the one it replaced (spec §8 stages,
    durations scaled by the deployment); nothing when the champion replaced none or one runs."""
    from mlflow.tracking import MlflowClient

    from adaptive_delivery.platform.rollout import controller as rc
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import CHAMPION, REPLACED_TAG

    spec, client = get(model_id), MlflowClient(dep.tracking_uri, registry_uri=dep.tracking_uri)
    store = rc.RolloutStore(dep.rollouts)
    try:
        champion = client.get_model_version_by_alias(spec.registered_name, CHAMPION)
    except Exception:  # noqa: BLE001 - no champion yet: nothing to roll out
        return None
    replaced = champion.tags.get(REPLACED_TAG)
    if replaced is None or any(e.model_id == model_id and e.candidate_version == str(champion.version)
                               for e in store.list()):
        return None
    if any(e.model_id == model_id and e.status == rc.Status.RUNNING for e in store.list()):
        return None
    exp = rc.start(f"{model_id.lower()}-v{champion.version}-{now:%Y%m%d%H%M}", model_id, replaced, str(champion.version),
                   now, plan=rc.default_plan(dep.rollout_time_scale), min_sample=dep.rollout_min_sample)
    store.save(exp)
    record(dep, "rollout", f"{model_id}: rollout {exp.experiment_id} started: v{exp.candidate_version} against "
           f"v{exp.control_version}, {exp.stage.name} first", model_id=model_id, experiment=exp.experiment_id)
    return {"experiment": exp.experiment_id, "control": exp.control_version, "candidate": exp.candidate_version}


def progress_rollouts(dep: Deployment, now: datetime) -> list[dict]:
    """Judge every running rollout: in the simulated world on the tally its days kept, on real
    traffic on the prediction log and the outcomes in the lake (`jobs.traffic`); decisions move
    registry aliases and go on the timeline."""
    from mlflow.tracking import MlflowClient

    from adaptive_delivery.platform.rollout import controller as rc
    from adaptive_delivery.platform.rollout.registry import record_decision
    from adaptive_delivery.platform.spec import get

    store, out = rc.RolloutStore(dep.rollouts), []
    client = MlflowClient(dep.tracking_uri, registry_uri=dep.tracking_uri)
    for exp in [e for e in store.list() if e.status == rc.Status.RUNNING] if dep.rollouts.exists() else []:
        def decided(e, verdict, spec=get(exp.model_id)):
            record_decision(client, spec.registered_name, e, verdict.reason)

        if dep.world is None:
            from adaptive_delivery.delivery.jobs.traffic import stage_stats

            step = rc.summary(exp, rc.step(store, exp, *stage_stats(dep.predictions, dep.lake, exp), now, decided))
        else:
            from dataclasses import asdict

            from adaptive_delivery.delivery.scenarios import live_rollout as rollout_live

            step = asdict(rollout_live.progress(store, exp, now, decided))
        record(dep, "rollout", f"{exp.model_id} {step['experiment_id']} {step['stage']}: {step['action']} "
                               f"({step['reason']})", **step)
        out.append(step)
    return out
