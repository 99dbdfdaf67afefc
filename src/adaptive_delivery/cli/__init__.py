"""The `adaptive-delivery` command: one module per command group, assembled here."""

from __future__ import annotations

import typer

from adaptive_delivery.cli.experiment import experiment_app
from adaptive_delivery.cli.features import features_app
from adaptive_delivery.cli.ingest import ingest_app
from adaptive_delivery.cli.knowledge import knowledge_app
from adaptive_delivery.cli.kpi import kpi
from adaptive_delivery.cli.loop import loop_app
from adaptive_delivery.cli.main_job import run
from adaptive_delivery.cli.model import model_app
from adaptive_delivery.cli.rollout import rollout_app
from adaptive_delivery.cli.stream import stream_app
from adaptive_delivery.cli.world import calibrate, score_bounces, simulate

app = typer.Typer(add_completion=False, help="Adaptive Delivery: learn how to deliver email, safely.")
app.command()(simulate)
app.command()(calibrate)
app.command()(run)
app.command("score-bounces")(score_bounces)
app.command()(kpi)
app.add_typer(model_app, name="model")
app.add_typer(ingest_app, name="ingest")
app.add_typer(features_app, name="features")
app.add_typer(rollout_app, name="rollout")
app.add_typer(loop_app, name="loop")
app.add_typer(stream_app, name="stream")
app.add_typer(experiment_app, name="experiment")
app.add_typer(knowledge_app, name="knowledge")

__all__ = ["app"]
