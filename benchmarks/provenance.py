"""What every results JSON records beside its numbers: the command that produced it, the commit it
ran at (and whether the tree had changes), the date, and the machine (cores, memory, Python)."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    except FileNotFoundError:  # no git on the machine
        return ""
    return done.stdout.strip()


def machine() -> dict[str, object]:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": os.cpu_count(), "memory_gib": round(memory_gib, 1), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.machine()}"}


def portable(arg: str) -> str:
    """An argument as anyone could type it: paths inside the checkout relative to it, paths outside
    it reduced to their last part (no machine's folders in a results file)."""
    if not arg.startswith("/"):
        return arg
    path = Path(arg).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else f"…/{path.name}"


def provenance(argv: list[str] | None = None) -> dict[str, object]:
    """The `provenance` block of a results JSON."""
    argv = sys.argv if argv is None else argv
    command = ["python", portable(str(Path(argv[0]).resolve())), *map(portable, argv[1:])]
    # A copy of the tree sent elsewhere (a GPU machine's) may carry a stale history or none: the
    # sender names the commit it sent in SOURCE_COMMIT, and the copy's own git is not asked.
    sent = os.environ.get("SOURCE_COMMIT")
    return {"command": shlex.join(command), "commit": sent or _git("rev-parse", "HEAD"),
            # the sealed-use ledger is written by the run itself (its claim comes first)
            "tree_changed": False if sent else bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".",
                                                         ":!benchmarks/results/sealed_ledger.jsonl")),
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}


RESULTS = REPO / "benchmarks" / "results"


def training_records(policies: list[Path]) -> list[dict]:
    """What trained each policy (the training.json beside it), the policy named by its file only: no
    machine's folders in a results file."""
    import json

    records = [json.loads((p.parent / "training.json").read_text()) for p in policies
               if (p.parent / "training.json").exists()]
    for record in records:
        record["policy"] = Path(record["policy"]).name
    return records


def write_results(name: str, report: dict[str, object], argv: list[str] | None = None) -> Path:
    """Write `benchmarks/results/<name>` with its provenance, the one way every benchmark records a
    figure (the docs render their tables from these files, so a figure is never typed twice)."""
    import json

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps({**report, "provenance": provenance(argv)}, indent=2, default=float) + "\n")
    return path
