"""`adaptive-delivery experiment …`: the A/B test manager (marketing spec): create a multi-variant
experiment, ask which variant users see, pause, resume, switch a variant off, judge the tallies,
complete."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from adaptive_delivery.cli.common import DEFAULT_EXPERIMENTS, console

experiment_app = typer.Typer(help="A/B tests: sticky multi-variant assignment, pause, complete, judge.")
STATE = typer.Option(DEFAULT_EXPERIMENTS, help="Where the experiments are kept (one JSON file each).")


def _store(state: Path):
    from adaptive_delivery.platform.rollout.ab_test import ABTestStore

    return ABTestStore(state)


def _load(experiment_id: str, state: Path):
    try:
        return _store(state).load(experiment_id)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="EXPERIMENT_ID") from exc


def _now():
    from adaptive_delivery.platform.rollout.controller import utcnow

    return utcnow()


def _shares(variants: list[str]) -> dict[str, float]:
    """'name=share' pairs (shares as fractions or percentages), the control first."""
    out = {}
    for item in variants:
        name, _, share = item.partition("=")
        try:
            value = float(share)
        except ValueError as exc:
            raise typer.BadParameter(f"{item!r}: write NAME=SHARE, e.g. control=50", param_hint="--variant") from exc
        out[name.strip()] = value
    total = sum(out.values())
    if total > 1.5:  # percentages
        out = {k: v / 100 for k, v in out.items()}
    return out


@experiment_app.command()
def create(experiment_id: str, variant: list[str] = typer.Option(..., help="NAME=SHARE, the control first; "
                                                                        "repeat per variant (e.g. control=50)"),
           state: Path = STATE) -> None:
    """Register a new active experiment."""
    from adaptive_delivery.platform.rollout.ab_test import create as new

    try:
        test = new(experiment_id, _shares(variant), _now())
        path = _store(state).register(test)
    except (ValueError, FileExistsError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"created {experiment_id}: " + ", ".join(f"{v.name} {v.share:.0%}" for v in test.variants)
                  + f" ({path})")


@experiment_app.command()
def assign(experiment_id: str, user: list[str] = typer.Argument(..., help="user ids"), state: Path = STATE) -> None:
    """The variant each user sees now, one JSON line per user."""
    from adaptive_delivery.platform.rollout.ab_test import assign as variants

    test = _load(experiment_id, state)
    for u, v in zip(user, variants(test, user), strict=True):
        print(json.dumps({"user": u, "experiment": experiment_id, "variant": v, "status": test.status.value}))


def _change(experiment_id: str, state: Path, action) -> None:
    test = _load(experiment_id, state)
    try:
        action(test)
    except (ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc.args[0]) if exc.args else str(exc)) from exc
    _store(state).save(test)
    console.print(f"{experiment_id}: {test.status.value}" + (f", winner {test.winner}" if test.winner else ""))


@experiment_app.command()
def pause(experiment_id: str, reason: str = typer.Option(..., help="why (kept in its history)"),
          state: Path = STATE) -> None:
    """Everyone sees the control until it resumes."""
    from adaptive_delivery.platform.rollout import ab_test as ab

    _change(experiment_id, state, lambda t: ab.pause(t, _now(), reason))


@experiment_app.command()
def resume(experiment_id: str, state: Path = STATE) -> None:
    """Back to the declared split; every user sees the variant they saw before."""
    from adaptive_delivery.platform.rollout import ab_test as ab

    _change(experiment_id, state, lambda t: ab.resume(t, _now()))


@experiment_app.command()
def switch(experiment_id: str, variant: str, on: bool = typer.Option(..., "--on/--off"), state: Path = STATE) -> None:
    """Switch one variant off (its users see the control) or back on."""
    from adaptive_delivery.platform.rollout import ab_test as ab

    _change(experiment_id, state, lambda t: ab.switch(t, variant, on, _now()))


@experiment_app.command()
def complete(experiment_id: str, winner: str = typer.Option(None, help="the variant everyone sees from now "
                                                                     "(default: the control)"),
             reason: str = typer.Option("", help="why (kept in its history)"), state: Path = STATE) -> None:
    """End the experiment."""
    from adaptive_delivery.platform.rollout import ab_test as ab

    _change(experiment_id, state, lambda t: ab.complete(t, _now(), winner, reason))


@experiment_app.command()
def analyse(experiment_id: str, tallies: Path = typer.Argument(..., help="JSON: {variant: [successes, trials]}"),
            state: Path = STATE) -> None:
    """Each variant against the control (two-proportion z-tests, Holm-corrected) and the pick."""
    from adaptive_delivery.platform.rollout.ab_test import analyse as judge

    test = _load(experiment_id, state)
    try:
        counts = {k: (int(v[0]), int(v[1])) for k, v in json.loads(tallies.read_text()).items()}
        results, pick = judge(test, counts)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise typer.BadParameter(f"{tallies}: {exc}", param_hint="TALLIES") from exc
    t = Table(title=f"{experiment_id} ({test.status.value})")
    for col in ("variant", "trials", "rate", "lift", "z", "Holm p", "verdict"):
        t.add_column(col)
    for r in results:
        verdict = "better" if r.better else "worse" if r.worse else ("control" if r.name == test.control else
                                                                      "no difference yet")
        t.add_row(r.name, f"{r.trials:,}", f"{r.rate:.4%}" if r.trials else "-",
                  "-" if r.lift is None else f"{r.lift:+.1%}", "-" if r.z is None else f"{r.z:.2f}",
                  "-" if r.p_holm is None else f"{r.p_holm:.3g}", verdict)
    console.print(t)
    console.print(f"pick: {pick}" if pick else "no variant is better than the control yet")
