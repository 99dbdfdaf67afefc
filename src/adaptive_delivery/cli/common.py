"""What the command groups share: the console, default locations, the registry client, small printers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


DEFAULT_MLFLOW_HOME = Path("runs/mlflow")


DEFAULT_ROLLOUTS = Path("runs/rollouts")
DEFAULT_EXPERIMENTS = Path("runs/experiments")


def claim_sealed(what: str, seeds: str | None, detail: str,
                 claim: Callable[[str], tuple[str, list[int]]]) -> tuple[str, list[int]]:
    """A version's sealed worlds, once its use of them is on record: `claim` records it in the ledger
    (given the command line) and returns the version and the worlds; refuses what the protocol forbids."""
    import shlex
    import sys

    from adaptive_delivery.platform import protocol

    if seeds:
        raise typer.BadParameter("--sealed evaluates on the sealed worlds; --seeds is for validation", param_hint="--seeds")
    try:
        version, claimed = claim(shlex.join(["adaptive-delivery", *sys.argv[1:]]))
    except protocol.SealedReuseError as exc:
        console.print(f"[red]refused: {exc}")
        raise typer.Exit(code=3) from exc
    console.print(f"{what} version {version}: sealed worlds {list(claimed)} claimed in {protocol.ledger_path()} "
                  f"({detail})")
    return version, list(claimed)


def ledger_claim(model_id: str, version: str, sealed) -> Callable[[str], tuple[str, list[int]]]:
    """`claim_sealed`'s claim of `sealed` for one model version in the sealed ledger."""
    from adaptive_delivery.platform import protocol

    def claim(command: str) -> tuple[str, list[int]]:
        protocol.SealedLedger(protocol.ledger_path()).claim(model_id, version, tuple(sealed), command=command)
        return version, list(sealed)

    return claim


def prepare_out(out: Path, overwrite: bool) -> None:
    targets = [out / "lake", out / "truth"]
    if any(t.exists() and any(t.iterdir()) for t in targets):
        if not overwrite:
            raise typer.BadParameter(f"{out} already holds a world; pass --overwrite to replace it", param_hint="--out")
        for t in targets:
            shutil.rmtree(t, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def repo_import(module: str):
    """The adapters beside the package (pipelines/, serving/), installed with it: imported only when
    a command needs them, so the package itself knows no orchestrator."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise typer.BadParameter(f"{module} is not importable ({exc}): install the project with "
                                 "`pip install -e .` from a checkout (make does)") from exc


def registry_client(mlflow_home: Path, tracking_uri: str | None):
    from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

    uri = tracking_uri or default_tracking_uri(mlflow_home)
    if not tracking_uri and not (mlflow_home / "mlflow.db").exists():
        raise typer.BadParameter(f"no MLflow store under {mlflow_home}: train a model first", param_hint="--mlflow-home")
    return Tracking(uri).client()


def training_pipelines():
    """The KFP adapter lives beside the package (pipelines/), not inside it."""
    return repo_import("pipelines.training")


def print_evidence(title: str, evidence: list[dict]) -> None:
    ev = Table(title=title)
    for col in ("metric", "control", "candidate", "change", "z", "p", "degraded"):
        ev.add_column(col)
    for e in evidence:
        ev.add_row(e["metric"], f"{e['control']:.4f}", f"{e['candidate']:.4f}", f"{e['change']:+.1%}",
                   "" if e["z"] is None else f"{e['z']:.2f}", "" if e["p"] is None else f"{e['p']:.3g}", str(e["degraded"]))
    console.print(ev)


def print_rows(title: str, rows: dict) -> None:
    t = Table(title=title)
    t.add_column("table")
    t.add_column("rows", justify="right")
    for k, v in rows.items():
        t.add_row(k, f"{v:,}")
    console.print(t)


def parse_seeds(text: str) -> list[int]:
    """'1,2,5' or '1001-1010'."""
    if "-" in text and "," not in text:
        lo, hi = (int(x) for x in text.split("-", 1))
        return list(range(lo, hi + 1))
    return [int(s) for s in text.split(",") if s.strip()]


def pd_records_markdown(records: list[dict]) -> str:
    import pandas as pd

    return pd.DataFrame(records).to_markdown(index=False, floatfmt=".4g")


def print_intervals(intervals: dict[str, dict[str, dict]], metrics: tuple[str, ...], first: str = "policy") -> None:
    """Each policy's (or `first`'s) figures as mean [95% interval] over worlds (x training runs)."""
    import pandas as pd

    def cell(i: dict) -> str:
        return f"{i['mean']:.4g} [{i['low']:.4g}, {i['high']:.4g}]"

    rows = [{first: p, "worlds x runs": f"{next(iter(m.values()))['worlds']} x {next(iter(m.values()))['runs']}",
             **{k: cell(m[k]) for k in metrics if k in m}} for p, m in intervals.items()]
    print(pd.DataFrame(rows).to_markdown(index=False))


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def model_spec(model_id: str):
    from adaptive_delivery.platform.spec import get

    return get(model_id)
