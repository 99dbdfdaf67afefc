"""A console a person can read: one line per stage of a long job with its duration and outcome, a
live bar while it runs, and the tools' raw output (Airflow, Spark, KFP, Feast, MLflow) in log files.

Stages are followed through the job's timeline (`delivery.jobs.record` appends one line per step),
so the same display serves a job run by Airflow in another process and one run in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

ANSI = re.compile(r"\x1b\[[0-9;]*m")
KFP_TASK_DONE = re.compile(r"Task '?([\w-]+)'? finished with status '?SUCCESS")


@dataclass(frozen=True)
class Stage:
    step: str  # the timeline step that marks it done
    label: str
    substeps: tuple[str, ...] = ()  # KFP tasks it runs, shown as a bar


@dataclass
class StageResult:
    stage: Stage
    seconds: float
    summary: str
    ok: bool = True


@dataclass
class Follower:
    """Reads what a job appended to its timeline and its log since the last look."""

    timeline: Path
    log: Path
    _timeline_pos: int = 0
    _log_pos: int = 0

    def new_entries(self) -> list[dict]:
        if not self.timeline.exists():
            return []
        with self.timeline.open() as fh:
            fh.seek(self._timeline_pos)
            text = fh.read()
        complete = text[: text.rfind("\n") + 1]
        self._timeline_pos += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def new_tasks(self) -> list[str]:
        if not self.log.exists():
            return []
        with self.log.open(errors="replace") as fh:
            fh.seek(self._log_pos)
            text = fh.read()
            self._log_pos = fh.tell()
        return KFP_TASK_DONE.findall(ANSI.sub("", text))


def stage_console() -> Console:
    """The console for stage lines: the process's real stdout, even while fd 1 goes to a log."""
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    return Console(file=stream, highlight=False, width=None if stream.isatty() else 120)


def _line(console: Console, result: StageResult, index: int, total: int) -> None:
    mark = "[green]✓[/green]" if result.ok else "[red]✗[/red]"
    console.print(f" {mark} {index}/{total} {result.stage.label:<38} {result.seconds:6.1f} s  {result.summary}",
                  no_wrap=True, overflow="ellipsis", crop=True)


def follow(process: subprocess.Popen, stages: list[Stage], follower: Follower, console: Console,
           poll_s: float = 0.5) -> list[StageResult]:
    """Show each stage as the job in `process` reaches it; returns what each finished stage did."""
    results: list[StageResult] = []
    started = time.monotonic()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        index = 0
        task = None
        pending: list[dict] = []
        while index < len(stages):
            stage = stages[index]
            if task is None:
                total = len(stage.substeps) or None
                task = bar.add_task(f"{index + 1}/{len(stages)} {stage.label}", total=total,
                                    count=f"0/{total} steps" if total else "")
            for name in follower.new_tasks():
                if name in stage.substeps:
                    bar.advance(task)
                    done = int(bar.tasks[-1].completed)
                    bar.update(task, count=f"{done}/{len(stage.substeps)} steps (last: {name})")
            pending += follower.new_entries()  # kept: two stages may finish between two looks
            entry = next((e for e in pending if e.get("step") == stage.step), None)
            if entry is not None:
                now = time.monotonic()
                bar.remove_task(task)
                task = None
                pending = pending[pending.index(entry) + 1:]
                results.append(StageResult(stage, now - started, str(entry.get("summary", ""))))
                _line(console, results[-1], index + 1, len(stages))
                started = now
                index += 1
                continue
            if process.poll() is not None:
                bar.remove_task(task)
                if process.returncode != 0:
                    results.append(StageResult(stage, time.monotonic() - started, "failed", ok=False))
                    _line(console, results[-1], index + 1, len(stages))
                break
            time.sleep(poll_s)
    process.wait()
    return results


@contextlib.contextmanager
def output_to(log: Path, verbose: bool) -> Iterator[None]:
    """Send this process's stdout and stderr (and its children's) to `log`, unless `verbose`."""
    if verbose:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("a") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_stage(console: Console, stage: Stage, index: int, total: int, follower: Follower, verbose: bool, fn) -> object:
    """Run one in-process stage with its tools' output in the follower's log; print its line, with
    the summary the stage wrote to the timeline."""
    started = time.monotonic()
    with console.status(f"{index}/{total} {stage.label}"), output_to(follower.log, verbose):
        out = fn()
    entry = next((e for e in reversed(follower.new_entries()) if e.get("step") == stage.step), {})
    _line(console, StageResult(stage, time.monotonic() - started, str(entry.get("summary", ""))), index, total)
    return out
