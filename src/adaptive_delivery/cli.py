"""The `adaptive-delivery` command."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, help="Adaptive Delivery: learn how to deliver email, safely.")
ingest_app = typer.Typer(help="Bring real bounces, complaints and MTA logs into the events lake.")
app.add_typer(ingest_app, name="ingest")
console = Console()


def _prepare_out(out: Path, overwrite: bool) -> None:
    targets = [out / "lake", out / "truth"]
    if any(t.exists() and any(t.iterdir()) for t in targets):
        if not overwrite:
            raise typer.BadParameter(f"{out} already holds a world; pass --overwrite to replace it", param_hint="--out")
        for t in targets:
            shutil.rmtree(t, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


@app.command()
def simulate(
    subscribers: int = typer.Option(10_000, min=100, help="Subscribers across all senders on day 0."),
    days: int = typer.Option(7, min=1, max=3650, help="Days of history to generate."),
    seed: int = typer.Option(7, help="Same seed, same world, byte for byte."),
    out: Path = typer.Option(Path("runs/world"), help="Writes OUT/lake (events) and OUT/truth (never for training)."),
    start: str = typer.Option("2026-03-02", help="First simulated day (UTC)."),
    overwrite: bool = typer.Option(False, help="Replace an existing world in OUT."),
) -> None:
    """Generate a simulated world's event history into a day-partitioned Parquet lake."""
    from adaptive_delivery.world.config import WorldConfig
    from adaptive_delivery.world.simulator import simulate as run

    _prepare_out(out, overwrite)
    result = run(WorldConfig(subscribers=subscribers, days=days, seed=seed, start=date.fromisoformat(start)), out)
    console.print(json.dumps(result, indent=2))


@app.command()
def calibrate(out: Path = typer.Option(Path("runs/world"), help="A world written by `simulate`.")) -> None:
    """Compare a simulated world's aggregate rates with published industry figures."""
    from adaptive_delivery.world.report import write_report

    table = write_report(out)
    _print_calibration(table)
    console.print(f"plot: {out / 'world.png'}")


def _print_calibration(table: dict) -> None:
    t = Table(title="Simulated rates vs published averages (true outcomes, per message sent)")
    t.add_column("metric")
    t.add_column("published")
    for org in table["by_sender"]:
        t.add_column(org)
    for metric, target in table["targets"].items():
        t.add_row(metric, f"{target:.4%}", *(f"{v[metric]:.4%}" for v in table["by_sender"].values()))
    console.print(t)


@ingest_app.command("bounces")
def ingest_bounces(
    path: Path = typer.Argument(..., exists=True, help="A message file or a folder of them (one message per file)."),
    lake: Path = typer.Option(Path("runs/world/lake"), help="Events lake to write into."),
) -> None:
    """Parse DSN bounces and ARF complaints into outcome and complaint events."""
    from adaptive_delivery.events.ingest import ingest_mail
    from adaptive_delivery.events.lake import EventsLake

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    report = ingest_mail(EventsLake(lake), files)
    console.print(json.dumps(report.as_dict(), indent=2))


@ingest_app.command("kumomta")
def ingest_kumo(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A KumoMTA JSON log (one record per line)."),
    lake: Path = typer.Option(Path("runs/world/lake"), help="Events lake to write into."),
) -> None:
    """Parse KumoMTA log records into sends, delivery outcomes and complaints."""
    from adaptive_delivery.events.ingest import ingest_kumomta
    from adaptive_delivery.events.lake import EventsLake

    report = ingest_kumomta(EventsLake(lake), path)
    console.print(json.dumps(report.as_dict(), indent=2))


@app.command("score-bounces")
def score_bounces(
    corpus: Path = typer.Argument(..., exists=True, file_okay=False, help="A folder with maildir/, not-bounce/ and expected.json."),
) -> None:
    """Per-field accuracy of the bounce/ARF parser on a labelled corpus."""
    from adaptive_delivery.events.evaluate import score_corpus

    s = score_corpus(corpus)
    t = Table(title=f"Bounce parser on {s.verdicts} verdicts")
    t.add_column("field")
    t.add_column("accuracy")
    t.add_column("scored")
    for k, v in s.accuracy().items():
        t.add_row(k, f"{v:.1%}", str(s.scored[k]))
    t.add_row("not-bounce rejected", f"{s.not_bounce_rejected}/{s.not_bounce_total}", "")
    console.print(t)


@app.command()
def run(
    out: Path = typer.Option(Path("runs/latest"), help="Where the run's lake, truth and reports go."),
    subscribers: int = typer.Option(5_000, min=100),
    days: int = typer.Option(14, min=1),
    seed: int = typer.Option(7),
) -> None:
    """The main job on the embedded defaults: simulate the world and report on it."""
    from adaptive_delivery.events.lake import EventsLake
    from adaptive_delivery.world.config import WorldConfig
    from adaptive_delivery.world.report import write_report
    from adaptive_delivery.world.simulator import simulate as sim

    _prepare_out(out, overwrite=True)
    console.rule("1/2 simulate the world")
    sim(WorldConfig(subscribers=subscribers, days=days, seed=seed), out)
    summary = EventsLake(out / "lake").summary()
    t = Table(title=f"events lake: {out / 'lake'}")
    t.add_column("kind")
    t.add_column("rows", justify="right")
    t.add_column("days", justify="right")
    for kind, v in summary.items():
        t.add_row(kind, f"{v['rows']:,}", str(v.get("days", "")))
    console.print(t)
    console.rule("2/2 calibration report")
    _print_calibration(write_report(out))
    console.print(f"[bold]outputs[/bold]: lake {out / 'lake'} | truth {out / 'truth'} | "
                  f"report {out / 'calibration.json'} | plot {out / 'world.png'}")


if __name__ == "__main__":
    app()
