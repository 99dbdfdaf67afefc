"""How bounce parsing time grows with the size of a hostile input: recipients in one DSN, and the
length of one line (a run of dashes, the pattern that once took minutes). Both must grow linearly:
the results file records seconds per input and a straight-line fit, and the docs plot the curves.

Run: `.venv/bin/python benchmarks/ingest_scaling.py` (writes benchmarks/results/ingest_scaling.json).
"""

from __future__ import annotations

import gc
import json
import time

import numpy as np
from provenance import write_results

from adaptive_delivery.delivery.events.dsn import parse_message

RECIPIENTS = (250, 500, 1_000, 2_000, 4_000)
LINE_CHARS = (10_000, 25_000, 50_000, 100_000)
REPEATS = 5


def dsn(recipients: int = 1, line: int = 0) -> bytes:
    head = (b"From: MAILER-DAEMON@mx.example.net\nTo: b@sender.example.com\nSubject: Undelivered Mail\n"
            b"Date: Thu, 01 Jan 2026 10:00:00 +0000\nContent-Type: text/plain\n\n"
            b"This message could not be delivered to the following recipients:\n")
    rows = b"".join(f"<user{i}@example.net>: 550 5.1.1 user unknown\n".encode() for i in range(max(recipients, 1)))
    return head + (b"-" * line + b"\n" if line else b"") + rows


def seconds(raw: bytes) -> float:
    """The fastest of REPEATS parses (the least disturbed by the rest of the machine), with the
    garbage collector paused so its passes over the whole heap do not land on one size only."""
    best = float("inf")
    for _ in range(REPEATS):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            parse_message(raw)
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def curve(sizes: tuple[int, ...], make) -> dict[str, object]:
    """Seconds per size, the least-squares line through them, and how far the points stray from it
    (a quadratic parser's largest point sits far above the line through the small ones)."""
    t = np.array([seconds(make(n)) for n in sizes])
    slope, intercept = np.polyfit(np.array(sizes, float), t, 1)
    fitted = slope * np.array(sizes) + intercept
    return {"sizes": list(sizes), "seconds": t.tolist(), "seconds_per_unit": float(slope),
            "max_relative_residual": float(np.max(np.abs(t - fitted)) / t.max()),
            "doubling_ratio": float(t[-1] / t[-2])}


def main() -> None:
    result = {"repeats": REPEATS,
              "recipients": curve(RECIPIENTS, lambda n: dsn(recipients=n)),
              "line_length": curve(LINE_CHARS, lambda n: dsn(line=n))}
    write_results("ingest_scaling.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
