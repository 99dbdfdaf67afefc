"""`adaptive-delivery run`: the main job end to end on the embedded defaults."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

import typer
from rich.table import Table

from adaptive_delivery.cli.common import (
    DEFAULT_MLFLOW_HOME,
    console,
    model_spec,
    prepare_out,
    repo_root,
    training_pipelines,
)
from adaptive_delivery.cli.model import print_training_summary, stopped_reason
from adaptive_delivery.cli.world import print_calibration

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
    prepare_out(out, overwrite=True)
    live.state_path(out).unlink(missing_ok=True)  # a fresh world every run
    (out / jobs.TIMELINE).unlink(missing_ok=True)
    env = _main_job_env(out, subscribers, days, seed, profile, mlflow_home)
    until = WorldConfig.start + timedelta(days=days)
    if engine == "airflow":
        console.rule(f"the main job through Airflow: ad_main, logical date {until}")
        code = airflow_dags_test("ad_main", until, airflow_env(airflow_home or out.parent / "airflow", env))
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
            training_pipelines().run_for(model_spec(jobs.MAIN_MODEL), dep)
        except RuntimeError as exc:
            console.print(f"[red]training stopped[/red]: {stopped_reason(dep.tracking_uri) or exc}")
            raise typer.Exit(code=2) from exc
    _summarise_main_job(dep)


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
    print_calibration(json.loads((dep.home / "calibration.json").read_text()))
    _show_online_sample(dep)
    spec = model_spec(jobs.MAIN_MODEL)
    print_training_summary(dep.tracking_uri, spec)
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
