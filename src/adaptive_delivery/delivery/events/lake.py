"""Delivery's events lake: the platform's lake (`platform.lake`) over delivery's catalogue.

Layout under the lake root::

    sends/date=2026-03-02/part-<name>.parquet     events, microsecond UTC timestamps
    outcomes/… complaints/… engagement/…
    dim/subscribers.parquet …                     dimension snapshots
    _quarantine/<kind>/part-<name>.parquet        rows refused by validation, with a reason
    _quarantine/raw/part-<name>.parquet           inputs that could not be parsed at all
"""

from __future__ import annotations

from pathlib import Path

from adaptive_delivery.delivery.events.schema import CATALOGUE
from adaptive_delivery.platform import lake as platform_lake
from adaptive_delivery.platform.lake import (  # noqa: F401 - where delivery's callers find them
    PARQUET_OPTIONS,
    QUARANTINE,
    IngestCounts,
    day_of,
    write_parquet_atomic,
)


class EventsLake(platform_lake.EventsLake):
    """A directory of delivery's day-partitioned event tables and dimension snapshots."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root, CATALOGUE)
