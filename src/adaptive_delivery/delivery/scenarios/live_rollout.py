"""Rollouts in the long-lived world the scheduler drives: the world step of each day runs the
running experiment's arms in the sending loop and adds what happened to the stage's tally (kept
beside the experiment's state); the rollout-progress step judges the tally, moves the experiment
on and records the decision in the registry. The same controller, guardrails and evidence as
`simulation.run_rollout`, split where the scheduler splits the day."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from adaptive_delivery.delivery.scenarios.rollout import (
    ArmModel,
    StageTally,
    day_decisions,
    tally_day,
)
from adaptive_delivery.platform.rollout import controller as rc
from adaptive_delivery.twin import live


@dataclass(frozen=True)
class Progress:
    experiment_id: str
    stage: str
    action: str
    reason: str
    status: str
    evidence: list[dict]


def tally_path(store: rc.RolloutStore, experiment_id: str) -> Path:
    return store.root / f"{experiment_id}.tally.pkl"


def load_tally(store: rc.RolloutStore, experiment_id: str) -> StageTally:
    path = tally_path(store, experiment_id)
    if not path.exists():
        return StageTally()
    with path.open("rb") as fh:
        return pickle.load(fh)


def save_tally(store: rc.RolloutStore, experiment_id: str, tally: StageTally) -> None:
    path = tally_path(store, experiment_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(tally, fh)
    tmp.replace(path)


def running(store: rc.RolloutStore, model_id: str) -> rc.Experiment | None:
    """The experiment of `model_id` in progress, if any (at most one runs per model)."""
    found = [e for e in store.list() if e.model_id == model_id and e.status == rc.Status.RUNNING]
    return found[-1] if found else None


def step_day(home: Path, store: rc.RolloutStore, exp: rc.Experiment, control: ArmModel, candidate: ArmModel,
             prediction_log: Path | None = None) -> dict[str, dict]:
    """Simulate the world's next day with both arms in the sending loop; tally what each arm did."""
    made = {}

    def make_filter(world):
        made["decided"] = day_decisions(home / "lake", home / "truth", world, exp, control, candidate)
        return made["decided"]

    today = live.status(home)["today"]
    result = live.step_one(home, make_filter)
    tally = load_tally(store, exp.experiment_id)
    per_arm = tally_day(tally, made["decided"], result.events, datetime.fromisoformat(today).date(), prediction_log)
    save_tally(store, exp.experiment_id, tally)
    return per_arm


def progress(store: rc.RolloutStore, exp: rc.Experiment, now: datetime,
             on_decision: Callable[[rc.Experiment, rc.Verdict], None] | None = None) -> Progress:
    """Judge the stage's tally: hold, advance, promote or roll back; a decision starts a new tally."""
    verdict = rc.step(store, exp, *load_tally(store, exp.experiment_id).snapshot(), now, on_decision)
    if verdict.action != rc.Action.HOLD:
        save_tally(store, exp.experiment_id, StageTally())
    return Progress(**rc.summary(exp, verdict))
