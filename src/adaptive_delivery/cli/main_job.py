"""`adaptive-delivery run`: the main job end to end on the embedded defaults."""

from __future__ import annotations

import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import typer

from adaptive_delivery.cli.common import (
    DEFAULT_MLFLOW_HOME,
    model_spec,
    prepare_out,
    repo_root,
    training_pipelines,
)
from adaptive_delivery.cli.model import stopped_reason

ENGINES = ("airflow", "direct")


def airflow_env(airflow_home: Path, extra: dict[str, str]) -> dict[str, str]:
    """A self-contained Airflow for this checkout: SQLite metadata under `airflow_home`, the repo's
    DAGs, no examples, few workers (standalone would start 32)."""
    import os

    return {**os.environ, "AIRFLOW_HOME": str(airflow_home.resolve()),
            "AIRFLOW__CORE__DAGS_FOLDER": str(repo_root() / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True", **extra}


def airflow_dags_test(dag_id: str, logical_date: date, env: dict[str, str], conf: dict | None = None,
                      log: Path | None = None) -> int:
    """`airflow dags test` of one DAG (migrating the metadata database first when it is new); its
    output goes to the console, or to `log`."""
    import subprocess

    airflow = str(Path(sys.executable).parent / "airflow")
    _migrate(airflow, env)
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


MAIN_STAGES = (
    ("world", "simulate the world", ()),
    ("calibrate", "calibration report", ()),
    ("features", "feature build (Spark)", ()),
    ("materialize", "feature store (Feast materialise)", ()),
    ("retrain", "train MDL-001 (Kubeflow pipeline)", ("load-training-set", "check-drift", "tune", "train-model",
                                                      "evaluate", "register", "gate")),
)


def run(
    out: Path = typer.Option(Path("runs/latest"), help="Where the run's lake, truth and reports go."),
    subscribers: int = typer.Option(5_000, min=100),
    days: int = typer.Option(14, min=1),
    horizon_days: int = typer.Option(None, min=1, help="The world's horizon (its population is sized for it; "
                                                       "default --days). Longer lets the scheduled DAGs advance it."),
    seed: int = typer.Option(7),
    profile: str = typer.Option("quick", help="Training profile for MDL-001 (quick | full)."),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="MLflow store, kept across runs (the champion lives here)."),
    engine: str = typer.Option("airflow", help="airflow: run the ad_main DAG (`airflow dags test`); direct: the same "
                                               "job functions in this process."),
    airflow_home: Path = typer.Option(None, help="Airflow's home (default: OUT/../airflow)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the tools' raw logs on the console too "
                                                                "(otherwise they go to OUT/logs/)."),
) -> None:
    """The main job on the embedded defaults: simulate the world, build and serve its features, and
    train, evaluate, register and gate MDL-001, through Airflow's ad_main DAG."""
    import os
    import subprocess

    from adaptive_delivery.cli import stages as st
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.twin import live
    from adaptive_delivery.twin.config import WorldConfig

    if engine not in ENGINES:
        raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}", param_hint="--engine")
    prepare_out(out, overwrite=True)
    live.state_path(out).unlink(missing_ok=True)  # a fresh world every run
    (out / jobs.TIMELINE).unlink(missing_ok=True)
    if horizon_days is not None and horizon_days < days:
        raise typer.BadParameter("the horizon must cover the days simulated", param_hint="--horizon-days")
    env = _main_job_env(out, subscribers, horizon_days or days, seed, profile, mlflow_home)
    until = WorldConfig.start + timedelta(days=days)
    logs = out / "logs"
    stages = [st.Stage(step, label, subs) for step, label, subs in MAIN_STAGES]
    show = st.stage_console()
    show.print(f"[bold]Adaptive Delivery main job[/bold]: {subscribers:,} subscribers × {days} days, seed {seed}, "
               f"via {engine}")
    show.print(f"   outputs {_shown(out)}/, raw tool logs {_shown(logs)}/" + ("" if verbose else " (-v: here too)"))
    began = time.monotonic()
    follower = st.Follower(out / jobs.TIMELINE, logs / "ad_main.log")
    if engine == "airflow":
        a_env = airflow_env(airflow_home or out.parent / "airflow", env)
        airflow = str(Path(sys.executable).parent / "airflow")
        with show.status("starting Airflow (metadata database, DAG parsing)"):
            _migrate(airflow, a_env)
        cmd = [airflow, "dags", "test", "ad_main", until.isoformat()]
        logs.mkdir(parents=True, exist_ok=True)
        with follower.log.open("w") as fh:
            proc = subprocess.Popen(cmd, env=a_env, stdout=None if verbose else fh,
                                    stderr=None if verbose else subprocess.STDOUT)
            done = st.follow(proc, stages, follower, show)
        if proc.returncode != 0 or len(done) < len(stages):
            show.print(f"[red]ad_main failed[/red] (exit {proc.returncode}); the task log is {_shown(follower.log)}")
            raise typer.Exit(code=2)
        dep = jobs.deployment(env)
    else:
        dep = jobs.deployment({**os.environ, **env})
        calls = (lambda: jobs.simulate_until(dep, until), lambda: jobs.calibrate(dep),
                 lambda: {**jobs.build_features(dep), **jobs.score_features(dep)},
                 lambda: _materialize_last_day(dep), lambda: training_pipelines().run_for(model_spec(jobs.MAIN_MODEL), dep))
        for i, (stage, call) in enumerate(zip(stages, calls, strict=True), start=1):
            try:
                st.run_stage(show, stage, i, len(stages), follower, verbose, call)
            except RuntimeError as exc:
                show.print(f"[red]training stopped[/red]: {stopped_reason(dep.tracking_uri) or exc}")
                raise typer.Exit(code=2) from exc
    _summarise_main_job(dep, show, logs, time.monotonic() - began, airflow_home or out.parent / "airflow")


def _migrate(airflow: str, env: dict[str, str]) -> None:
    import subprocess

    if not (Path(env["AIRFLOW_HOME"]) / "airflow.db").exists():
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, text=True)


def _materialize_last_day(dep) -> list[str]:
    from adaptive_delivery.delivery import jobs

    end = jobs.latest_feature_hour(dep)
    return jobs.materialize(dep, end - jobs.ONLINE_WINDOW, end)


def _shown(path: Path | str) -> str:
    """A path as a person would type it from here: relative when it is under the working folder."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _summarise_main_job(dep, show, logs: Path, seconds: float, airflow_home: Path) -> None:
    """What the run produced, read back from its outputs (the same whichever engine ran it), the
    gate's verdict, and where to look next."""
    import warnings

    from adaptive_delivery.cli.stages import output_to
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.platform.training.registry import latest_training_run

    # the libraries' notices while reading the outputs back belong in the logs, not here
    with warnings.catch_warnings(), output_to(logs / "summary.log", verbose=False):
        warnings.simplefilter("ignore")
        lake = EventsLake(dep.lake).summary()
        online = jobs.online_sample(dep)
        spec = model_spec(jobs.MAIN_MODEL)
        last = latest_training_run(dep.tracking_uri, spec)
    events = sum(v["rows"] for v in lake.values())
    kinds = ", ".join(f"{k} {v['rows']:,}" for k, v in lake.items() if v["rows"])
    tables = sorted(p.name for p in dep.features.iterdir() if p.is_dir())
    metric = spec.primary_metric
    verdict = str(last.get("verdict", "")).splitlines()[0] if last.get("verdict") else "no training run recorded"
    show.print(f"\n[bold]done in {seconds / 60:.1f} min[/bold]; produced:")
    rows = [
        ("events lake", dep.lake, f"{events:,} events ({kinds})"),
        ("features", dep.features, f"{len(tables)} tables; online store read back {len(online['subscriber_id'])} "
                                   f"subscribers"),
        ("calibration", dep.home / "calibration.json", "simulated rates per sender beside published averages"),
        ("plot", dep.home / "world.png", "daily inbox / block / bounce / reputation per sender"),
        ("MDL-001", dep.home / "kfp", f"v{last.get('version') or '—'}: {metric} {last.get(metric, float('nan')):.4f} "
                                      f"vs oracle {last.get('oracle_' + metric, float('nan')):.4f} "
                                      "(referee: every message's true class)"),
    ]
    for name, path, what in rows:
        show.print(f"  {name:<12} {_shown(path)}  [dim]{what}[/dim]", no_wrap=True, overflow="ellipsis", crop=True)
    colour = "green" if verdict.startswith("PROMOTE") else "yellow"
    show.print(f"[bold]gate[/bold] (on the outcomes the sender saw): [{colour}]{verdict}[/{colour}]")
    uri = str(dep.tracking_uri)
    if uri.startswith("sqlite:///"):
        uri = "sqlite:///" + _shown(uri.removeprefix("sqlite:///"))
    show.print("[bold]look at it[/bold]:")
    show.print(f"  MLflow UI   .venv/bin/mlflow ui --backend-store-uri {uri}")
    show.print(f"  Airflow UI  .venv/bin/python tools/airflow_ui.py --home {_shown(airflow_home)}  (127.0.0.1:8080)")
    show.print(f"  reports     evaluation.html, drift.html in the MLflow run; {_shown(dep.home / 'world.png')}")
    show.print(f"  timeline    AD_HOME={_shown(dep.home)} .venv/bin/adaptive-delivery loop status")
    show.print(f"  raw logs    {_shown(logs)}/")
