"""Retraining requests from outside the monitor's daily check: an online learner that finds its
champion's errors have moved asks for a retraining here, and the monitoring DAG triggers it with the
reason on its next run. One JSON line per request in the reports folder; taking the requests
renames the file first, so a request written meanwhile waits for the next run and none is taken
twice."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

REQUESTS_FILE = "retrain_requests.jsonl"


def request_retraining(folder: Path, model_id: str, reason: str, **evidence: object) -> dict:
    """Append a request; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    line = {"model_id": model_id, "reason": reason, "at": datetime.now(UTC).isoformat(), **evidence}
    with (folder / REQUESTS_FILE).open("a") as out:
        out.write(json.dumps(line, default=str) + "\n")
        out.flush()
        os.fsync(out.fileno())
    return line


def take_requests(folder: Path) -> list[dict]:
    """Every request written so far, once: the file is renamed before it is read."""
    path = folder / REQUESTS_FILE
    if not path.exists():
        return []
    taken = path.with_name(f"{path.stem}.taken-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.jsonl")
    os.replace(path, taken)
    return [json.loads(line) for line in taken.read_text().splitlines() if line.strip()]


def triggers(results: list[dict], requested: list[dict], dag_id: Callable[[str], str],
             alarm_window: Mapping[str, object]) -> list[dict]:
    """One retraining trigger per model: the monitor's reasons (`results`, with the window of a
    retraining that answers an alarm) and the requests taken since the last run, reasons joined."""
    out = {r["model_id"]: {"trigger_dag_id": dag_id(r["model_id"]),
                           "conf": {"reason": ("monitor: " + "; ".join(r["retrain"]))[:500], **alarm_window}}
           for r in results if r.get("retrain")}
    for model_id in dict.fromkeys(r["model_id"] for r in requested):
        reasons = "; ".join(dict.fromkeys(r["reason"] for r in requested if r["model_id"] == model_id))
        if model_id in out:
            out[model_id]["conf"]["reason"] = (out[model_id]["conf"]["reason"] + "; " + reasons)[:500]
        else:
            out[model_id] = {"trigger_dag_id": dag_id(model_id), "conf": {"reason": reasons[:500]}}
    return list(out.values())
