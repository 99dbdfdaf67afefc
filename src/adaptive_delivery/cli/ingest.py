"""`adaptive-delivery ingest …`: bring real bounces, complaints and MTA logs into the events lake."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from adaptive_delivery.cli.common import console

ingest_app = typer.Typer(help='Bring real bounces, complaints and MTA logs into the events lake.')


@ingest_app.command("bounces")
def ingest_bounces(
    path: Path = typer.Argument(..., exists=True, help="A message file or a folder of them (one message per file)."),
    lake: Path = typer.Option(Path("runs/world/lake"), help="Events lake to write into."),
) -> None:
    """Parse DSN bounces and ARF complaints into outcome and complaint events."""
    from adaptive_delivery.delivery.events.ingest import ingest_mail
    from adaptive_delivery.delivery.events.lake import EventsLake

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    report = ingest_mail(EventsLake(lake), files)
    console.print(json.dumps(report.as_dict(), indent=2))


@ingest_app.command("kumomta")
def ingest_kumo(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A KumoMTA JSON log (one record per line)."),
    lake: Path = typer.Option(Path("runs/world/lake"), help="Events lake to write into."),
) -> None:
    """Parse KumoMTA log records into sends, delivery outcomes and complaints."""
    from adaptive_delivery.delivery.events.ingest import ingest_kumomta
    from adaptive_delivery.delivery.events.lake import EventsLake

    report = ingest_kumomta(EventsLake(lake), path)
    console.print(json.dumps(report.as_dict(), indent=2))
