"""How many threads a model's trainer may use."""

from __future__ import annotations

import os

DEFAULT_THREADS = 2  # the machines this runs on: two cores


def training_threads() -> int:
    """OMP_NUM_THREADS where the process was given its share of the cores, else two. Several
    processes on two cores (`make test` runs two workers) whose OpenMP pools each take both cores
    spin against each other: the whole suite cost a third more CPU that way, measured."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(given) if given.isdigit() and int(given) > 0 else DEFAULT_THREADS
