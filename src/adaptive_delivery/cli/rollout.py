"""`adaptive-delivery rollout …`: roll a challenger out safely (shadow, canary, ramp; promote or roll back)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from adaptive_delivery.cli.common import (
    DEFAULT_MLFLOW_HOME,
    DEFAULT_ROLLOUTS,
    console,
    print_evidence,
    registry_client,
    repo_import,
)

rollout_app = typer.Typer(help='Roll a challenger out safely: shadow, canary, ramp; promote or roll back.')


def _rollout_store(state: Path):
    from adaptive_delivery.platform.rollout.controller import RolloutStore

    return RolloutStore(state)


def _current(model_id: str, state: Path):
    from adaptive_delivery.platform.rollout.controller import Status

    running = [e for e in _rollout_store(state).list() if e.model_id == model_id.upper() and e.status == Status.RUNNING]
    if not running:
        raise typer.BadParameter(f"no running rollout for {model_id.upper()} under {state}")
    return running[-1]


def _write_manifests(exp, client, spec, state: Path) -> Path:
    seldon = repo_import("serving.seldon")

    def served(version: str):
        return seldon.ServedVersion(version, client.get_model_version(spec.registered_name, version).source)

    path = state / f"{exp.experiment_id}.seldon.yaml"
    path.write_text(seldon.to_yaml(seldon.manifests(exp, served(exp.control_version), served(exp.candidate_version))))
    return path


def _show(exp) -> None:
    t = Table(title=f"rollout {exp.experiment_id}: {exp.model_id} v{exp.control_version} -> v{exp.candidate_version}")
    for col in ("status", "stage", "candidate share", "stage started", "decisions"):
        t.add_column(col)
    t.add_row(exp.status.value, exp.stage.name, f"{exp.candidate_share():.0%}", exp.stage_started, str(len(exp.history)))
    console.print(t)
    if exp.history:
        last = exp.history[-1]
        console.print(f"last: {last['action']} at {last['at']}: {last['reason']}")
        print_evidence("evidence (control vs candidate)", last["evidence"])


@rollout_app.command("start")
def rollout_start(
    model_id: str = typer.Argument("MDL-001"),
    time_scale: float = typer.Option(1.0, help="Multiplies every stage's minimum duration (1 = spec §8 days)."),
    state: Path = typer.Option(DEFAULT_ROLLOUTS), mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME),
    tracking_uri: str = typer.Option(None),
) -> None:
    """Start rolling the `challenger` out against the `champion` (shadow first)."""
    from adaptive_delivery.platform.rollout import controller as rc
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import CHALLENGER, CHAMPION, alias_metrics

    spec, client = get(model_id), registry_client(mlflow_home, tracking_uri)
    control, _ = alias_metrics(client, spec, CHAMPION)
    candidate, _ = alias_metrics(client, spec, CHALLENGER)
    if control is None or candidate is None or control == candidate:
        raise typer.BadParameter(f"{spec.model_id} needs a champion and a different challenger "
                                 f"(champion: {control}, challenger: {candidate})")
    now = rc.utcnow()
    exp = rc.start(f"{now:%Y%m%d%H%M%S}", spec.model_id, control, candidate, now, plan=rc.default_plan(time_scale))
    store = _rollout_store(state)
    store.save(exp)
    _show(exp)
    console.print(f"state {store.path(exp.experiment_id)}; Seldon manifests {_write_manifests(exp, client, spec, state)}")


@rollout_app.command("status")
def rollout_status(model_id: str = typer.Argument("MDL-001"), state: Path = typer.Option(DEFAULT_ROLLOUTS)) -> None:
    """Show every rollout of a model and the evidence of its last decision."""
    found = [e for e in _rollout_store(state).list() if e.model_id == model_id.upper()]
    if not found:
        console.print(f"no rollouts of {model_id.upper()} under {state}")
    for exp in found:
        _show(exp)


def _decide(model_id: str, action, reason: str, state: Path, mlflow_home: Path, tracking_uri: str | None) -> None:
    from adaptive_delivery.platform.rollout import controller as rc
    from adaptive_delivery.platform.rollout.registry import record_decision
    from adaptive_delivery.platform.spec import get

    exp = _current(model_id, state)
    if action == rc.Action.ADVANCE and exp.stage_index + 1 >= len(exp.plan) - 1:
        action = rc.Action.PROMOTE
    rc.apply(exp, rc.Verdict(action, reason, exp.stage.name, [], 0, 0), rc.utcnow())
    spec, client = get(model_id), registry_client(mlflow_home, tracking_uri)
    record_decision(client, spec.registered_name, exp, reason)
    _rollout_store(state).save(exp)
    _show(exp)
    console.print(f"Seldon manifests {_write_manifests(exp, client, spec, state)}")


@rollout_app.command("advance")
def rollout_advance(model_id: str = typer.Argument("MDL-001"), reason: str = typer.Option("operator approved"),
                    state: Path = typer.Option(DEFAULT_ROLLOUTS), mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME),
                    tracking_uri: str = typer.Option(None)) -> None:
    """Move the running rollout to its next stage now (an operator's decision, recorded as such)."""
    from adaptive_delivery.platform.rollout.controller import Action

    _decide(model_id, Action.ADVANCE, f"manual: {reason}", state, mlflow_home, tracking_uri)


@rollout_app.command("rollback")
def rollout_rollback(model_id: str = typer.Argument("MDL-001"), reason: str = typer.Option("operator decision"),
                     state: Path = typer.Option(DEFAULT_ROLLOUTS), mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME),
                     tracking_uri: str = typer.Option(None)) -> None:
    """Stop the running rollout: all traffic back to the champion."""
    from adaptive_delivery.platform.rollout.controller import Action

    _decide(model_id, Action.ROLLBACK, f"manual: {reason}", state, mlflow_home, tracking_uri)


@rollout_app.command("simulate")
def rollout_simulate(
    subscribers: int = typer.Option(60_000, help="Subscribers in the simulated world."),
    warmup_days: int = typer.Option(8, help="Days simulated (every message sent) before the rollouts."),
    max_days: int = typer.Option(20, help="Longest a rollout may run, in simulated days."),
    min_sample: int = typer.Option(10_000, help="Messages per arm before a stage may be judged (spec §8: 10,000)."),
    seed: int = typer.Option(21), out: Path = typer.Option(Path("runs/rollout-sim")),
) -> None:
    """Roll a better and a deliberately worse MDL-001 candidate out inside the simulated world;
    print and save the evidence of every controller decision."""
    from adaptive_delivery.delivery.scenarios.provider_change import (
        ScenarioConfig,
        plot_scenario,
        run_scenario,
    )

    cfg = ScenarioConfig(subscribers=subscribers, warmup_days=warmup_days, max_days=max_days, min_sample=min_sample,
                         seed=seed)
    summary = run_scenario(cfg, out, log=console.print)
    for name, run in summary["runs"].items():
        console.rule(f"{name} candidate v{summary['versions'][name]}: {run['status']} at {run['final_stage']} "
                     f"after {run['days']} days; champion is now v{run['champion_after']}")
        for record in run["decisions"]:
            print_evidence(f"{record['stage']}: {record['action']} - {record['reason']} "
                            f"(n = {record['control_n']:,} vs {record['candidate_n']:,})", record["evidence"])
    console.print(f"evidence {out}/<better|worse>/evidence.json; summary {out}/summary.json; plot {plot_scenario(out)}")
