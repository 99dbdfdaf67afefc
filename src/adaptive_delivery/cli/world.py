"""Top-level commands about the simulated world: simulate one, calibrate it, score the bounce parser."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from adaptive_delivery.cli.common import console, prepare_out


def simulate(
    subscribers: int = typer.Option(10_000, min=100, help="Subscribers across all senders on day 0."),
    days: int = typer.Option(7, min=1, max=3650, help="Days of history to generate."),
    seed: int = typer.Option(7, help="Same seed, same world, byte for byte."),
    out: Path = typer.Option(Path("runs/world"), help="Writes OUT/lake (events) and OUT/truth (never for training)."),
    start: str = typer.Option("2026-03-02", help="First simulated day (UTC)."),
    overwrite: bool = typer.Option(False, help="Replace an existing world in OUT."),
    content_check: Path | None = typer.Option(
        None, exists=True, dir_okay=False,
        help="An MDL-007 scorer file: senders check each campaign's content with it before it goes out "
             "(rewrite or hold); the content records carry its P(spam), a feature of MDL-001."),
) -> None:
    """Generate a simulated world's event history into a day-partitioned Parquet lake."""
    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.simulator import simulate as run

    config = WorldConfig(subscribers=subscribers, days=days, seed=seed, start=date.fromisoformat(start))
    gate = None
    if content_check is not None:
        from adaptive_delivery.delivery.models.mdl007_content.model import load_scorer
        from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
        from adaptive_delivery.delivery.models.mdl007_content.twin_gate import content_gate

        try:
            gate = content_gate(ContentAssessor(load_scorer(content_check)), config)
        except Exception as exc:  # any unreadable file (not joblib, truncated, another class) is the same mistake
            raise typer.BadParameter(f"{content_check} is not an MDL-007 scorer: {exc}",
                                     param_hint="--content-check") from exc
    prepare_out(out, overwrite)
    result = run(config, out, content_gate=gate)
    console.print(json.dumps(result, indent=2))


def calibrate(out: Path = typer.Option(Path("runs/world"), help="A world written by `simulate`.")) -> None:
    """Compare a simulated world's aggregate rates with published industry figures."""
    from adaptive_delivery.twin.report import write_report

    table = write_report(out)
    print_calibration(table)
    console.print(f"plot: {out / 'world.png'}")


def print_calibration(table: dict) -> None:
    t = Table(title="Simulated rates vs published averages (true outcomes, per message sent)")
    t.add_column("metric")
    t.add_column("published")
    for org in table["by_sender"]:
        t.add_column(org)
    for metric, target in table["targets"].items():
        t.add_row(metric, f"{target:.4%}", *(f"{v[metric]:.4%}" for v in table["by_sender"].values()))
    console.print(t)


def score_bounces(
    corpus: Path = typer.Argument(..., exists=True, file_okay=False, help="A folder with maildir/, not-bounce/ and expected.json."),
) -> None:
    """Per-field accuracy of the bounce/ARF parser on a labelled corpus."""
    from adaptive_delivery.delivery.events.evaluate import score_corpus

    s = score_corpus(corpus)
    t = Table(title=f"Bounce parser on {s.verdicts} verdicts")
    t.add_column("field")
    t.add_column("accuracy")
    t.add_column("scored")
    for k, v in s.accuracy().items():
        t.add_row(k, f"{v:.1%}", str(s.scored[k]))
    t.add_row("not-bounce rejected", f"{s.not_bounce_rejected}/{s.not_bounce_total}", "")
    console.print(t)
