"""The prediction log: one JSON line per decision a served model returned.

A decision belongs in the log only once its caller got it, so the feedback loop never attributes an
outcome to an answer nobody received. A runtime calls `record` while it answers; inside `deferred()`
(the serving guard opens one around each request) the lines wait and are written by `commit()`,
which the guard calls only after the response went out; outside one (a direct call, a batch job)
they are written at once. Pure standard library: runs in either environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path


class Pending:
    """Lines recorded during one request, by log file."""

    def __init__(self) -> None:
        self.lines: dict[Path, list[str]] = {}

    def add(self, path: Path, lines: list[str]) -> None:
        self.lines.setdefault(path, []).extend(lines)

    def commit(self) -> None:
        for path, lines in self.lines.items():
            _append(path, lines)
        self.lines.clear()


_pending: ContextVar[Pending | None] = ContextVar("pending_decisions", default=None)


def _append(path: Path, lines: list[str]) -> None:
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:  # one write per request: lines of concurrent requests never interleave
        fh.write("".join(lines))


def record(path: Path, records: Iterable[dict]) -> None:
    """Log decisions: held until the open `deferred()` commits, or written now outside one."""
    lines = [json.dumps(rec) + "\n" for rec in records]
    pending = _pending.get()
    if pending is None:
        _append(path, lines)
    else:
        pending.add(path, lines)


@contextmanager
def deferred() -> Iterator[Pending]:
    """Hold what `record` logs inside the block; what is not committed is dropped with it."""
    pending = Pending()
    token = _pending.set(pending)
    try:
        yield pending
    finally:
        _pending.reset(token)
