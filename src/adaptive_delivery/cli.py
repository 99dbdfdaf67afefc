"""The `adaptive-delivery` command."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, help="Adaptive Delivery: learn how to deliver email, safely.")
ingest_app = typer.Typer(help="Bring real bounces, complaints and MTA logs into the events lake.")
app.add_typer(ingest_app, name="ingest")
features_app = typer.Typer(help="Build feature tables with Spark and serve them through Feast.")
app.add_typer(features_app, name="features")
rollout_app = typer.Typer(help="Roll a challenger out safely: shadow, canary, ramp; promote or roll back.")
app.add_typer(rollout_app, name="rollout")
throttle_app = typer.Typer(help="MDL-003: learn per-provider sending rates; compare with rule-based MTAs.")
app.add_typer(throttle_app, name="throttle")
warmup_app = typer.Typer(help="MDL-009: learn how fast a new IP may grow; compare with fixed schedules and rules.")
app.add_typer(warmup_app, name="warmup")
loop_app = typer.Typer(help="The unattended loop (AD_* deployment): the simulated world, its timeline, scenarios.")
app.add_typer(loop_app, name="loop")
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
    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.simulator import simulate as run

    _prepare_out(out, overwrite)
    result = run(WorldConfig(subscribers=subscribers, days=days, seed=seed, start=date.fromisoformat(start)), out)
    console.print(json.dumps(result, indent=2))


@app.command()
def calibrate(out: Path = typer.Option(Path("runs/world"), help="A world written by `simulate`.")) -> None:
    """Compare a simulated world's aggregate rates with published industry figures."""
    from adaptive_delivery.twin.report import write_report

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


@features_app.command("build")
def features_build(
    lake: Path = typer.Option(Path("runs/world/lake"), help="The events lake to read."),
    out: Path = typer.Option(None, help="Where to publish the feature tables (default: LAKE/../features)."),
    master: str = typer.Option("local[*]", help="Spark master (local[*] in-process; use spark-submit for a cluster)."),
) -> None:
    """Build every feature table from the lake with Spark and publish them together."""
    from adaptive_delivery.delivery.features.spark_jobs import (
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

    from adaptive_delivery.platform import feature_store as st

    home = home or features.parent / "feast"
    fs = st.open_store(home, features, profile)
    applied = st.apply(fs)
    end = pc.max(ds.dataset(features / "calendar").to_table(columns=["event_timestamp"]).column(0)).as_py() + timedelta(hours=1)
    st.materialize(fs, end - timedelta(hours=hours), end)
    console.print(f"applied {len(applied)} Feast objects; materialised {end - timedelta(hours=hours)} .. {end} "
                  f"into the {profile} online store under {home}")


DEFAULT_MLFLOW_HOME = Path("runs/mlflow")


def _training_pipelines():
    """The KFP adapter lives beside the package (pipelines/), not inside it."""
    try:
        return _repo_import("pipelines.training")
    except ImportError as exc:
        raise typer.BadParameter("the KFP pipelines are not importable: run from a checkout of the repository") from exc


@app.command()
def train(
    model_id: str = typer.Argument(..., help="A model id, e.g. MDL-001 (see `adaptive-delivery models`)."),
    profile: str = typer.Option("quick", help="quick (a few trials, capped rows) | full (the cluster's setting)."),
    world: Path = typer.Option(Path("runs/latest"), help="A run folder holding lake/, features/ (and truth/ from the simulator)."),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="MLflow store (SQLite + artifacts); kept across runs."),
    tracking_uri: str = typer.Option(None, help="An MLflow tracking server instead of the local store."),
) -> None:
    """Run the training pipeline locally (KFP SubprocessRunner): tune, train, evaluate, register, gate."""
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.spec import profile as get_profile
    from adaptive_delivery.platform.training.tracking import default_tracking_uri

    try:
        spec, _ = get(model_id), get_profile(profile)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from exc
    if spec.trainer == "simulator":
        _train_policy(spec, profile, mlflow_home, tracking_uri, world)
        return
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


def _train_policy(spec, profile: str, mlflow_home: Path, tracking_uri: str | None, world: Path) -> None:
    """A control policy: its own pipeline (train in the world, evaluate, register + gate)."""
    from adaptive_delivery.platform.training.tracking import default_tracking_uri

    mlflow_home.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or default_tracking_uri(mlflow_home)
    console.rule(f"{spec.model_id}: policy pipeline ({profile}: {spec.policy_trainer.timesteps[profile]:,} steps)")
    try:
        verdict = _training_pipelines().run_policy_local(spec, tracking_uri=uri, pipeline_root=world / "kfp", profile=profile)
    except RuntimeError as exc:
        console.print(f"[red]training stopped[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    console.print(("[green]" if verdict.startswith("PROMOTE") else "[yellow]") + verdict)
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
    from adaptive_delivery.platform.spec import all_specs
    from adaptive_delivery.platform.training.registry import CHALLENGER, CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

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


DEFAULT_ROLLOUTS = Path("runs/rollouts")


def _repo_import(module: str):
    """Adapters that live beside the package (pipelines/, serving/): import them from the checkout."""
    import importlib

    root = Path(__file__).resolve().parents[2]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(module)


def _registry(mlflow_home: Path, tracking_uri: str | None):
    from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

    uri = tracking_uri or default_tracking_uri(mlflow_home)
    if not tracking_uri and not (mlflow_home / "mlflow.db").exists():
        raise typer.BadParameter(f"no MLflow store under {mlflow_home}: train a model first", param_hint="--mlflow-home")
    return Tracking(uri).client()


@app.command()
def serve(
    model_id: str = typer.Argument("MDL-001"),
    aliases: str = typer.Option("champion,challenger", help="Registry aliases to serve (each as its own model)."),
    http_port: int = typer.Option(8080), grpc_port: int = typer.Option(8081),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME), tracking_uri: str = typer.Option(None),
    out: Path = typer.Option(Path("runs/serving"), help="MLServer settings, model copies, prediction log."),
    world: Path = typer.Option(Path("runs/latest"), help="A world whose Feast online store (WORLD/feast, "
                               "WORLD/features) answers entity-key requests; skipped when it has none."),
) -> None:
    """Start the local serving stack: MLServer on 127.0.0.1 with the registered versions behind ALIASES."""
    from mlflow.exceptions import MlflowException

    from adaptive_delivery.platform.spec import get

    local = _repo_import("serving.local")
    spec, client = get(model_id), _registry(mlflow_home, tracking_uri)
    if spec.runtime is None:
        raise typer.BadParameter(f"{spec.model_id} has no network runtime (its spec sets none)", param_hint="MODEL_ID")
    models: dict[str, tuple[str, Path]] = {}
    for alias in [a.strip() for a in aliases.split(",") if a.strip()]:
        try:
            version, folder = local.resolve_alias(client, spec.registered_name, alias, out / "models")
        except MlflowException:
            console.print(f"[yellow]no version behind alias {alias!r}; skipped[/yellow]")
            continue
        models.setdefault(f"{spec.model_id.lower()}-v{version}", (version, folder))
        if alias == "champion":
            models[spec.model_id.lower()] = (version, folder)
    if not models:
        raise typer.BadParameter(f"nothing registered under {aliases} for {spec.model_id}")
    store = None
    if spec.feature_service and (world / "feast" / "registry.db").exists():
        store = local.feature_store_settings(world, spec.feature_service)
        console.print(f"entity-key requests read {spec.feature_service} from {world / 'feast'}")
    settings = local.write_settings(out / "mlserver", models, http_port, grpc_port, prediction_log=out / "predictions.jsonl",
                                    runtimes=dict.fromkeys(models, spec.runtime), feature_store=store)
    server = local.start(settings, http_port, grpc_port, next(iter(models)))
    console.print(f"serving {', '.join(models)} at {server.url}/v2/models/<name>/infer (gRPC 127.0.0.1:{grpc_port}); "
                  f"log {server.log}; Ctrl-C stops")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()


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
    seldon = _repo_import("serving.seldon")

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
        _print_evidence("evidence (control vs candidate)", last["evidence"])


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

    spec, client = get(model_id), _registry(mlflow_home, tracking_uri)
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
    spec, client = get(model_id), _registry(mlflow_home, tracking_uri)
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
            _print_evidence(f"{record['stage']}: {record['action']} - {record['reason']} "
                            f"(n = {record['control_n']:,} vs {record['candidate_n']:,})", record["evidence"])
    console.print(f"evidence {out}/<better|worse>/evidence.json; summary {out}/summary.json; plot {plot_scenario(out)}")


def _print_evidence(title: str, evidence: list[dict]) -> None:
    ev = Table(title=title)
    for col in ("metric", "control", "candidate", "change", "z", "p", "degraded"):
        ev.add_column(col)
    for e in evidence:
        ev.add_row(e["metric"], f"{e['control']:.4f}", f"{e['candidate']:.4f}", f"{e['change']:+.1%}",
                   "" if e["z"] is None else f"{e['z']:.2f}", "" if e["p"] is None else f"{e['p']:.3g}", str(e["degraded"]))
    console.print(ev)


def _print_rows(title: str, rows: dict) -> None:
    t = Table(title=title)
    t.add_column("table")
    t.add_column("rows", justify="right")
    for k, v in rows.items():
        t.add_row(k, f"{v:,}")
    console.print(t)


@throttle_app.command("train")
def throttle_train(
    timesteps: int = typer.Option(200_000, min=1_000, help="PPO environment steps (30-second decisions)."),
    out: Path = typer.Option(Path("runs/throttle"), help="Writes OUT/mdl003_ppo.zip and OUT/training.json."),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu", help="cpu | cuda (the MLP is small: cpu is usually as fast)."),
    speed_block_penalty: float = typer.Option(None, help="Extra training cost per speed-caused block (default: the model's)."),
) -> None:
    """Train MDL-003's PPO policy in the world's throttling environment, behind the safety rails."""
    from adaptive_delivery.delivery.models.mdl003_throttle.training import (
        SPEED_BLOCK_PENALTY,
        train_and_save,
    )

    console.rule(f"MDL-003: PPO for {timesteps:,} steps on {device}")
    penalty = SPEED_BLOCK_PENALTY if speed_block_penalty is None else speed_block_penalty
    _report_training(out, train_and_save(timesteps, seed, out, device=device, progress=True, speed_block_penalty=penalty))


def _report_training(out: Path, policy: Path) -> None:
    meta = json.loads((out / "training.json").read_text())
    console.print(f"trained in {meta['seconds']:.0f} s ({meta['timesteps'] / meta['seconds']:,.0f} steps/s); policy {policy}")


@throttle_app.command("evaluate")
def throttle_evaluate(
    policy: Path = typer.Option(Path("runs/throttle/mdl003_ppo.zip"), help="A trained MDL-003 policy (skipped if absent)."),
    days: float = typer.Option(7.0, min=0.01, help="Simulated days per provider and seed."),
    seeds: str = typer.Option("1001,1002", help="World seeds (training never uses seeds below 100,000)."),
    workers: int = typer.Option(2, min=1),
    out: Path = typer.Option(Path("runs/throttle"), help="Writes the table (CSV, Markdown), targets and the trace plot."),
) -> None:
    """Every throttle policy on the same held-out worlds: per provider and overall, plus a run where
    Gmail halves its limit mid-way (plotted)."""
    from rich.progress import Progress

    from adaptive_delivery.delivery.models.mdl003_throttle import report as tr
    from adaptive_delivery.twin.providers import PROVIDER_NAMES

    ppo = policy if policy.exists() else None
    if ppo is None:
        console.print(f"[yellow]{policy} not found: evaluating the baselines only (train with `throttle train`)")
    seed_list = _seed_list(seeds)
    with Progress(console=console) as progress:
        task = progress.add_task("worlds", total=len(seed_list) * len(PROVIDER_NAMES))
        tab, extra = tr.evaluate_into(ppo, out, days=days, seeds=seed_list, workers=workers, trace=ppo is not None,
                                      on_world_done=lambda _: progress.advance(task))
    shown = tab[["provider", "policy", "delivered_per_hour", "block_rate", "rate_block_rate", "deferral_rate",
                 "complaint_rate", "reputation_end", "oracle_share"]]
    console.rule(f"throttle policies over {days:g} simulated days x {len(seed_list)} held-out worlds per provider")
    print(shown.to_markdown(index=False, floatfmt=".4g"))
    if ppo is not None:
        print(pd_records_markdown(extra["limit_halved"]))
        console.print(f"targets: {extra['targets']}; trace {extra['plot']}")
        (out / "metrics.json").write_text(json.dumps(tr.registry_metrics(tab), indent=2))
    console.print(f"table {out / 'throttle_eval.md'}; targets {out / 'throttle_targets.json'}")


def pd_records_markdown(records: list[dict]) -> str:
    import pandas as pd

    return pd.DataFrame(records).to_markdown(index=False, floatfmt=".4g")


def _register_evaluated(spec_id: str, policy: Path, evaluation: Path, mlflow_home: Path, tracking_uri: str | None) -> None:
    """Register an evaluated policy (`challenger`) and gate it against the champion."""
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.policies import register_policy_step
    from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

    spec = get(spec_id)
    mlflow_home.mkdir(parents=True, exist_ok=True)
    tracking = Tracking(tracking_uri or default_tracking_uri(mlflow_home))
    training = policy.parent / "training.json"
    params = {"policy": policy.name, **(json.loads(training.read_text()) if training.exists() else {})}
    try:
        verdict = register_policy_step(spec, tracking, policy, evaluation, params)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--evaluation") from exc
    console.print(f"{spec.model_id}: registered v{verdict.challenger_version} as challenger")
    console.print(("[green]" if verdict.passed else "[red]") + verdict.summary())


@throttle_app.command("register")
def throttle_register(
    policy: Path = typer.Option(Path("runs/throttle/mdl003_ppo.zip"), exists=True, help="The trained policy."),
    evaluation: Path = typer.Option(Path("runs/throttle"), help="Where `throttle evaluate` wrote its table."),
    mlflow_home: Path = typer.Option(Path("runs/mlflow"), help="The local MLflow store."),
    tracking_uri: str = typer.Option(None, help="An MLflow tracking server instead of the local store."),
) -> None:
    """Register the evaluated MDL-003 policy in MLflow (challenger) and gate it against the champion."""
    _register_evaluated("MDL-003", policy, evaluation, mlflow_home, tracking_uri)


@warmup_app.command("train")
def warmup_train(
    timesteps: int = typer.Option(150_000, min=1_000, help="PPO environment steps (daily decisions)."),
    out: Path = typer.Option(Path("runs/warmup"), help="Writes OUT/mdl009_ppo.zip and OUT/training.json."),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu", help="cpu | cuda (the MLP is small: cpu is usually as fast)."),
) -> None:
    """Train MDL-009's PPO policy on new IPs in the world, behind the warm-up rails."""
    from adaptive_delivery.delivery.models.mdl009_warmup.training import train_and_save

    console.rule(f"MDL-009: PPO for {timesteps:,} daily decisions on {device}")
    _report_training(out, train_and_save(timesteps, seed, out, device=device, progress=True))


@warmup_app.command("evaluate")
def warmup_evaluate(
    policy: Path = typer.Option(Path("runs/warmup/mdl009_ppo.zip"), help="A trained MDL-009 policy (skipped if absent)."),
    days: int = typer.Option(40, min=2, help="Daily decisions per new IP."),
    seeds: str = typer.Option("1001-1010", help="World seeds, a list or a range (training uses seeds >= 100,000)."),
    out: Path = typer.Option(Path("runs/warmup"), help="Writes the table (CSV, Markdown), per-run rows and the plot."),
) -> None:
    """Every warm-up policy on the same new IPs: days to full capacity, reputation damage, block
    events, pauses; per audience (this world's typical list and a clean one)."""
    from adaptive_delivery.delivery.models.mdl009_warmup import report as wr

    ppo = policy if policy.exists() else None
    if ppo is None:
        console.print(f"[yellow]{policy} not found: evaluating the baselines only (train with `warmup train`)")
    seed_list = _seed_list(seeds)
    with console.status(f"{len(seed_list)} new IPs x {days} days per policy and audience"):
        tab, df, extra = wr.evaluate_into(ppo, out, days=days, seeds=seed_list)
    console.rule(f"warm-up policies: {len(seed_list)} held-out new IPs x {days} days")
    print(tab.to_markdown(index=False, floatfmt=".4g"))
    if ppo is not None:
        (out / "metrics.json").write_text(json.dumps(wr.registry_metrics(df, days), indent=2))
    console.print(f"table {out / 'warmup_eval.md'}; plots {', '.join(extra['plots'].values())}")


@warmup_app.command("register")
def warmup_register(
    policy: Path = typer.Option(Path("runs/warmup/mdl009_ppo.zip"), exists=True, help="The trained policy."),
    evaluation: Path = typer.Option(Path("runs/warmup"), help="Where `warmup evaluate` wrote its rows."),
    mlflow_home: Path = typer.Option(Path("runs/mlflow"), help="The local MLflow store."),
    tracking_uri: str = typer.Option(None, help="An MLflow tracking server instead of the local store."),
) -> None:
    """Register the evaluated MDL-009 policy in MLflow (challenger) and gate it against the champion."""
    _register_evaluated("MDL-009", policy, evaluation, mlflow_home, tracking_uri)


def _seed_list(text: str) -> list[int]:
    """'1,2,5' or '1001-1010'."""
    if "-" in text and "," not in text:
        lo, hi = (int(x) for x in text.split("-", 1))
        return list(range(lo, hi + 1))
    return [int(s) for s in text.split(",") if s.strip()]


@app.command("score-bounces")
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


ENGINES = ("airflow", "direct")


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _airflow_env(airflow_home: Path, extra: dict[str, str]) -> dict[str, str]:
    """A self-contained Airflow for this checkout: SQLite metadata under `airflow_home`, the repo's
    DAGs, no examples, few workers (standalone would start 32)."""
    import os

    return {**os.environ, "AIRFLOW_HOME": str(airflow_home.resolve()),
            "AIRFLOW__CORE__DAGS_FOLDER": str(_repo_root() / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True", **extra}


def airflow_dags_test(dag_id: str, logical_date: date, env: dict[str, str], conf: dict | None = None,
                      log: Path | None = None) -> int:
    """`airflow dags test` of one DAG (migrating the metadata database first when it is new); its
    output goes to the console, or to `log`."""
    import subprocess

    airflow = str(Path(sys.executable).parent / "airflow")
    if not (Path(env["AIRFLOW_HOME"]) / "airflow.db").exists():
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, text=True)
    cmd = [airflow, "dags", "test", dag_id, logical_date.isoformat()]
    if conf:
        cmd[3:3] = ["-c", json.dumps(conf)]
    if log is None:
        return subprocess.run(cmd, env=env, check=False).returncode
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        return subprocess.run(cmd, env=env, check=False, stdout=fh, stderr=subprocess.STDOUT).returncode


def _main_job_env(out: Path, subscribers: int, days: int, seed: int, profile: str, mlflow_home: Path) -> dict[str, str]:
    from adaptive_delivery.platform.training.tracking import default_tracking_uri

    mlflow_home.mkdir(parents=True, exist_ok=True)
    return {"AD_PROFILE": "local", "AD_HOME": str(out.resolve()), "AD_WORLD_SUBSCRIBERS": str(subscribers),
            "AD_WORLD_HORIZON_DAYS": str(days), "AD_WORLD_SEED": str(seed), "AD_TRAINING_PROFILE": profile,
            "AD_TRACKING_URI": default_tracking_uri(mlflow_home.resolve())}


@app.command()
def run(
    out: Path = typer.Option(Path("runs/latest"), help="Where the run's lake, truth and reports go."),
    subscribers: int = typer.Option(5_000, min=100),
    days: int = typer.Option(14, min=1),
    seed: int = typer.Option(7),
    profile: str = typer.Option("quick", help="Training profile for MDL-001 (quick | full)."),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="MLflow store, kept across runs (the champion lives here)."),
    engine: str = typer.Option("airflow", help="airflow: run the ad_main DAG (`airflow dags test`); direct: the same "
                                               "job functions in this process."),
    airflow_home: Path = typer.Option(None, help="Airflow's home (default: OUT/../airflow)."),
) -> None:
    """The main job on the embedded defaults: simulate the world, build and serve its features, and
    train, evaluate, register and gate MDL-001, through Airflow's ad_main DAG."""
    import os

    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.twin import live
    from adaptive_delivery.twin.config import WorldConfig

    if engine not in ENGINES:
        raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}", param_hint="--engine")
    _prepare_out(out, overwrite=True)
    live.state_path(out).unlink(missing_ok=True)  # a fresh world every run
    (out / jobs.TIMELINE).unlink(missing_ok=True)
    env = _main_job_env(out, subscribers, days, seed, profile, mlflow_home)
    until = WorldConfig.start + timedelta(days=days)
    if engine == "airflow":
        console.rule(f"the main job through Airflow: ad_main, logical date {until}")
        code = airflow_dags_test("ad_main", until, _airflow_env(airflow_home or out.parent / "airflow", env))
        if code != 0:
            console.print(f"[red]ad_main failed[/red] (exit {code}); the task logs above say where")
            raise typer.Exit(code=2)
        dep = jobs.deployment(env)
    else:
        dep = jobs.deployment({**os.environ, **env})
        console.rule("1/5 simulate the world")
        jobs.simulate_until(dep, until)
        console.rule("2/5 calibration report")
        jobs.calibrate(dep)
        console.rule("3/5 feature build (Spark)")
        jobs.build_features(dep)
        console.rule("4/5 feature store (Feast: register, materialise, read online)")
        end = jobs.latest_feature_hour(dep)
        jobs.materialize(dep, end - jobs.ONLINE_WINDOW, end)
        console.rule("5/5 train MDL-001 (Kubeflow pipeline, local runner): tune, train, evaluate, register, gate")
        try:
            _training_pipelines().run_for(_spec(jobs.MAIN_MODEL), dep)
        except RuntimeError as exc:
            console.print(f"[red]training stopped[/red]: {_stopped_reason(dep.tracking_uri) or exc}")
            raise typer.Exit(code=2) from exc
    _summarise_main_job(dep)


def _spec(model_id: str):
    from adaptive_delivery.platform.spec import get

    return get(model_id)


def _summarise_main_job(dep) -> None:
    """What the run produced, read back from its outputs (the same whichever engine ran it)."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.platform.training.registry import latest_training_run

    t = Table(title=f"events lake: {dep.lake}")
    for col in ("kind", "rows", "days"):
        t.add_column(col, justify="right" if col != "kind" else "left")
    for kind, v in EventsLake(dep.lake).summary().items():
        t.add_row(kind, f"{v['rows']:,}", str(v.get("days", "")))
    console.print(t)
    _print_calibration(json.loads((dep.home / "calibration.json").read_text()))
    _show_online_sample(dep)
    spec = _spec(jobs.MAIN_MODEL)
    _print_training_summary(dep.tracking_uri, spec)
    last = latest_training_run(dep.tracking_uri, spec)
    verdict = str(last.get("verdict", ""))
    console.print(("[green]" if verdict.startswith("PROMOTE") else "[yellow]") + verdict)
    console.print(f"[bold]outputs[/bold]: lake {dep.lake} | truth {dep.truth} | features {dep.features} | "
                  f"feature store {dep.feast_home} | report {dep.home / 'calibration.json'} | plot {dep.home / 'world.png'} | "
                  f"pipeline artifacts {dep.home / 'kfp'} | timeline {dep.home / jobs.TIMELINE} | MLflow {dep.tracking_uri}")


def _show_online_sample(dep) -> None:
    """A few subscribers read back from the online store: proof the loop from lake to serving closes."""
    from adaptive_delivery.delivery import jobs

    got = jobs.online_sample(dep)
    t = Table(title="online store sample (subscriber_features)")
    for col in got:
        t.add_column(col.replace("subscriber_features__", ""))
    for row in zip(*got.values(), strict=True):
        t.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(t)


@loop_app.command("status")
def loop_status(last: int = typer.Option(20, help="How many timeline entries to show.")) -> None:
    """Where the loop's world stands and what the loop did last (AD_HOME/timeline.jsonl)."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.twin import live

    dep = jobs.deployment()
    console.print(f"deployment [bold]{dep.name}[/bold], home {dep.home}, MLflow {dep.tracking_uri}")
    if dep.world is not None:
        console.print_json(json.dumps(live.status(dep.home)))
    t = Table(title=f"timeline ({dep.home / jobs.TIMELINE})")
    for col in ("at", "world day", "step", "summary"):
        t.add_column(col)
    for e in jobs.timeline(dep)[-last:]:
        t.add_row(e["at"], str(e.get("world_day") or ""), e["step"], e["summary"])
    console.print(t)


@loop_app.command("scenario")
def loop_scenario(
    home: Path = typer.Option(Path("runs/scenario"), help="The loop's home (recreated)."),
    subscribers: int = typer.Option(20_000, min=1_000),
    provider: str = typer.Option("gmail"),
    limit_scale: float = typer.Option(1.0, help="The provider's hidden limit is multiplied by this."),
    strictness_scale: float = typer.Option(1.0, help="Its spam filter's strictness is multiplied by this."),
    inbox_shift: float = typer.Option(-1.5, help="Its inbox logit moves by this for all mail (negative: tighter)."),
    warmup_days: int = typer.Option(35, help="Days simulated before the first champion (30-day features settle)."),
    steady_days: int = typer.Option(3, help="Days the loop runs unchanged after the first champion."),
    max_days: int = typer.Option(21, help="Days after the first champion the loop may run."),
    min_sample: int = typer.Option(1_000, help="Rollout minimum sample per arm (spec §8: 10,000)."),
    seed: int = typer.Option(7),
) -> None:
    """A provider changes mid-run, unannounced: Airflow's DAGs (`airflow dags test`, one simulated day
    at a time) must detect it, retrain, gate and roll out. Prints the timeline; writes
    HOME/scenario.json, HOME/scenario.png, the DAG logs under HOME/dag-runs/."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.scenarios import drift as sc

    if home.exists():
        shutil.rmtree(home)
    cfg = sc.DriftScenario(subscribers=subscribers, seed=seed, warmup_days=warmup_days, steady_days=steady_days,
                           provider=provider,
                           limit_scale=limit_scale, strictness_scale=strictness_scale, inbox_shift=inbox_shift,
                           max_days=max_days,
                           rollout_min_sample=min_sample)
    env = cfg.env(home)
    airflow_env = _airflow_env(home / "airflow", env)
    dep = jobs.deployment(env)

    def run_dag(dag_id: str, day: date, conf: dict | None) -> None:
        log = home / "dag-runs" / f"{day}-{dag_id}.log"
        if airflow_dags_test(dag_id, day, airflow_env, conf, log=log) != 0:
            console.print(f"[red]{dag_id} for {day} failed[/red]: see {log}")
            raise typer.Exit(code=2)
        console.print(f"[dim]{day} {dag_id}: success ({log.name})[/dim]")

    summary = sc.run(cfg, dep, run_dag, log=console.print)
    t = Table(title=f"timeline ({dep.home / jobs.TIMELINE})")
    for col in ("world day", "step", "summary"):
        t.add_column(col)
    for e in summary["timeline"]:
        if e["step"] not in ("features", "materialize", "world", "calibrate"):
            t.add_row(str(e.get("world_day") or ""), e["step"], e["summary"][:160])
    console.print(t)
    console.print(f"change {summary['change_day']}; first alarm after it {summary['detected_on']}; retrained "
                  f"{summary['retrained_on']}; rollouts {summary['rollouts']}")
    console.print(f"summary {dep.home / 'scenario.json'}; plot {summary['plot']}; Airflow home {home / 'airflow'}; "
                  f"MLflow {dep.tracking_uri}")


@loop_app.command("change-provider")
def loop_change_provider(
    provider: str = typer.Argument(..., help="gmail, yahoo, outlook, …"),
    limit_scale: float = typer.Option(1.0, help="Multiplies the provider's hidden sending limit."),
    strictness_scale: float = typer.Option(1.0, help="Multiplies its spam filter's strictness."),
    inbox_shift: float = typer.Option(0.0, help="Moves its inbox logit for all mail (negative: a tightening)."),
) -> None:
    """A scenario: from the next simulated day a mailbox provider changes its behaviour, unannounced."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.twin import live

    dep = jobs.deployment()
    try:
        config = live.change_provider(dep.home, provider, limit_scale, strictness_scale, inbox_shift)
    except (ValueError, live.WorldStateError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    jobs.record(dep, "scenario", f"{provider} changes: limit x{limit_scale}, spam filter strictness x{strictness_scale}, "
                f"inbox logit {inbox_shift:+} from simulated day {config.change_day}", provider=provider)
    console.print(live.status(dep.home)["change"])


if __name__ == "__main__":
    app()
