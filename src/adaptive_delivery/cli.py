"""The `adaptive-delivery` command."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, help="Adaptive Delivery: learn how to deliver email, safely.")
ingest_app = typer.Typer(help="Bring real bounces, complaints and MTA logs into the events lake.")
app.add_typer(ingest_app, name="ingest")
features_app = typer.Typer(help="Build feature tables with Spark and serve them through Feast.")
app.add_typer(features_app, name="features")
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


@features_app.command("build")
def features_build(
    lake: Path = typer.Option(Path("runs/world/lake"), help="The events lake to read."),
    out: Path = typer.Option(None, help="Where to publish the feature tables (default: LAKE/../features)."),
    master: str = typer.Option("local[*]", help="Spark master (local[*] in-process; use spark-submit for a cluster)."),
) -> None:
    """Build every feature table from the lake with Spark and publish them together."""
    from adaptive_delivery.features.spark_jobs import (
        FeatureBuildError,
        build_features,
        spark_session,
    )

    out = out or lake.parent / "features"
    try:
        rows = build_features(lake, out, spark_session(master=master))
    except FeatureBuildError as exc:
        console.print(f"[red]feature build failed:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    _print_rows(f"feature tables: {out}", rows)


@features_app.command("materialize")
def features_materialize(
    features: Path = typer.Option(Path("runs/world/features"), help="Published feature tables."),
    home: Path = typer.Option(None, help="Feature-store home: registry and online store (default: FEATURES/../feast)."),
    profile: str = typer.Option("local", help="local | redis-local | cluster"),
    hours: float = typer.Option(24.0, help="Materialise the last HOURS of the data (the online window)."),
) -> None:
    """Register the Feast definitions and load the latest feature values into the online store."""
    from datetime import timedelta

    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from adaptive_delivery.features import store as st

    home = home or features.parent / "feast"
    fs = st.open_store(home, features, profile)
    applied = st.apply(fs)
    end = pc.max(ds.dataset(features / "calendar").to_table(columns=["event_timestamp"]).column(0)).as_py() + timedelta(hours=1)
    st.materialize(fs, end - timedelta(hours=hours), end)
    console.print(f"applied {len(applied)} Feast objects; materialised {end - timedelta(hours=hours)} .. {end} "
                  f"into the {profile} online store under {home}")


DEFAULT_MLFLOW_HOME = Path("runs/mlflow")


def _training_pipelines():
    """The KFP adapter lives beside the package (pipelines/), not inside it: import it from the checkout."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pipelines" / "training.py").exists() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from pipelines import training
    except ImportError as exc:
        raise typer.BadParameter("the KFP pipelines are not importable: run from a checkout of the repository") from exc
    return training


@app.command()
def train(
    model_id: str = typer.Argument(..., help="A model id, e.g. MDL-001 (see `adaptive-delivery models`)."),
    profile: str = typer.Option("quick", help="quick (a few trials, capped rows) | full (the cluster's setting)."),
    world: Path = typer.Option(Path("runs/latest"), help="A run folder holding lake/, features/ (and truth/ from the simulator)."),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="MLflow store (SQLite + artifacts); kept across runs."),
    tracking_uri: str = typer.Option(None, help="An MLflow tracking server instead of the local store."),
) -> None:
    """Run the training pipeline locally (KFP SubprocessRunner): tune, train, evaluate, register, gate."""
    from adaptive_delivery.models.spec import get
    from adaptive_delivery.models.spec import profile as get_profile
    from adaptive_delivery.training.tracking import default_tracking_uri

    try:
        spec, _ = get(model_id), get_profile(profile)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from exc
    for part in ("lake", "features"):
        if not (world / part).is_dir():
            raise typer.BadParameter(f"{world / part} does not exist: run `adaptive-delivery run` or build features first",
                                     param_hint="--world")
    mlflow_home.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or default_tracking_uri(mlflow_home)
    truth = world / "truth" if (world / "truth" / "messages").is_dir() else None
    try:
        verdict = _training_pipelines().run_local(
            spec, lake=world / "lake", features=world / "features", feast_home=world / "feast", tracking_uri=uri,
            pipeline_root=world / "kfp", truth_dir=truth, profile=profile)
    except RuntimeError as exc:
        reason = _stopped_reason(uri)
        console.print(f"[red]training stopped[/red]: {reason or exc}")
        raise typer.Exit(code=2) from exc
    _print_training_summary(uri, spec)
    colour = "green" if verdict.startswith("PROMOTE") else "yellow"
    console.print(f"[{colour}]{verdict}[/{colour}]")
    console.print(f"MLflow: {uri}  (browse: mlflow ui --backend-store-uri {uri})")


def _print_training_summary(uri: str, spec) -> None:
    """The latest run's holdout metrics beside the simulator oracle's."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], f"tags.model_id = '{spec.model_id}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return
    m = runs[0].data.metrics
    t = Table(title=f"{spec.model_id} holdout ({int(m.get('rows', 0)):,} messages), run {runs[0].info.run_id[:8]}")
    for col in ("metric", "model", "oracle"):
        t.add_column(col)
    for name in spec.metrics:
        if name in m:
            oracle = m.get(f"oracle_{name}")
            t.add_row(name, f"{m[name]:.4f}", "—" if oracle is None else f"{oracle:.4f}")
    console.print(t)


def _stopped_reason(uri: str) -> str | None:
    """The reason the last failed run recorded (the step that stopped it and its message)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], "attributes.status = 'FAILED'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    tags = runs[0].data.tags
    return f"step {tags.get('failed_step', '?')}: {tags.get('stopped_reason', '')}"


@app.command()
def models(
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="MLflow store to read aliases from."),
    tracking_uri: str = typer.Option(None, help="An MLflow tracking server instead of the local store."),
) -> None:
    """List the model specs and which version each alias (champion, challenger) points to."""
    from adaptive_delivery.models.spec import all_specs
    from adaptive_delivery.training.registry import CHALLENGER, CHAMPION, alias_metrics
    from adaptive_delivery.training.tracking import Tracking, default_tracking_uri

    uri = tracking_uri or (default_tracking_uri(mlflow_home) if (mlflow_home / "mlflow.db").exists() else None)
    client = Tracking(uri).client() if uri else None
    t = Table(title=f"model specs{f' and registry {uri}' if uri else ' (no registry yet)'}")
    for col in ("id", "name", "feature service", "schedule", "gpu", "primary metric", CHAMPION, CHALLENGER):
        t.add_column(col)
    for spec in all_specs():
        cells = []
        for alias in (CHAMPION, CHALLENGER):
            version, metrics = alias_metrics(client, spec, alias) if client else (None, None)
            value = (metrics or {}).get(spec.primary_metric)
            cells.append("—" if version is None else f"v{version}" + (f" ({value:.4f})" if value is not None else ""))
        t.add_row(spec.model_id, spec.name, spec.feature_service, spec.schedule.value, "yes" if spec.needs_gpu else "no",
                  spec.primary_metric, *cells)
    console.print(t)


def _print_rows(title: str, rows: dict) -> None:
    t = Table(title=title)
    t.add_column("table")
    t.add_column("rows", justify="right")
    for k, v in rows.items():
        t.add_row(k, f"{v:,}")
    console.print(t)


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
    profile: str = typer.Option("quick", help="Training profile for MDL-001 (quick | full)."),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="MLflow store, kept across runs (the champion lives here)."),
) -> None:
    """The main job on the embedded defaults: simulate the world, build and serve its features, and
    train, evaluate, register and gate MDL-001."""
    from adaptive_delivery.events.lake import EventsLake
    from adaptive_delivery.world.config import WorldConfig
    from adaptive_delivery.world.report import write_report
    from adaptive_delivery.world.simulator import simulate as sim

    _prepare_out(out, overwrite=True)
    console.rule("1/5 simulate the world")
    sim(WorldConfig(subscribers=subscribers, days=days, seed=seed), out)
    summary = EventsLake(out / "lake").summary()
    t = Table(title=f"events lake: {out / 'lake'}")
    t.add_column("kind")
    t.add_column("rows", justify="right")
    t.add_column("days", justify="right")
    for kind, v in summary.items():
        t.add_row(kind, f"{v['rows']:,}", str(v.get("days", "")))
    console.print(t)
    console.rule("2/5 calibration report")
    _print_calibration(write_report(out))
    console.rule("3/5 feature build (Spark)")
    features_build(lake=out / "lake", out=out / "features", master="local[*]")
    console.rule("4/5 feature store (Feast: register, materialise, read online)")
    features_materialize(features=out / "features", home=out / "feast", profile="local", hours=24.0)
    _show_online_sample(out)
    console.rule("5/5 train MDL-001 (Kubeflow pipeline, local runner): tune, train, evaluate, register, gate")
    train(model_id="MDL-001", profile=profile, world=out, mlflow_home=mlflow_home, tracking_uri=None)
    console.print(f"[bold]outputs[/bold]: lake {out / 'lake'} | truth {out / 'truth'} | features {out / 'features'} | "
                  f"feature store {out / 'feast'} | report {out / 'calibration.json'} | plot {out / 'world.png'} | "
                  f"pipeline artifacts {out / 'kfp'} | MLflow {mlflow_home}")


def _show_online_sample(out: Path) -> None:
    """Read a few subscribers back from the online store: proof the loop from lake to serving closes."""
    import pyarrow.dataset as ds

    from adaptive_delivery.features import store as st

    fs = st.open_store(out / "feast", out / "features")
    ids = ds.dataset(out / "features" / "subscriber").to_table(columns=["subscriber_id"]).column(0).to_pylist()
    people = sorted(set(ids))[:5]
    got = st.online(fs, ["subscriber_features:engagement_score", "subscriber_features:opens_30d",
                         "subscriber_features:days_since_last_open"], [{"subscriber_id": p} for p in people])
    t = Table(title="online store sample (subscriber_features)")
    for col in got:
        t.add_column(col.replace("subscriber_features__", ""))
    for row in zip(*got.values(), strict=True):
        t.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(t)


if __name__ == "__main__":
    app()
