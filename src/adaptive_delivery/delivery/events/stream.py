"""Delivery events through Redis Streams into the lake (`platform.streams` carries them, the
platform's `lake_stream.LakeSink` writes them).

An entry is one event: its kind (`sends`, `outcomes`, `complaints`, `engagement`) and one row of
that kind's schema as a JSON object (timestamps as ISO 8601 text, or integer microseconds since
the epoch). The sink gives them the batch path's treatment: the same schemas and checks, the same
quarantine with a reason, the same drop of events already in the lake by event id, and a line in
the lake's ledger per batch (entries in = accepted + quarantined + duplicates). An entry the lake
cannot even read (an unknown kind, text that is not a JSON object, a value of the wrong type) is
kept whole in the raw quarantine with why.

Producers parse at the edge with the batch path's parsers: `mail_events` (DSN bounces and ARF
complaints, one file per message) and `kumomta_events` (a KumoMTA JSON log) yield the events to
publish, and an input they refuse as a `_refused` entry carrying the input and the reason.
Given an outcome store (`outcome_store.OutcomeStore`), the sink also folds every event the checks
pass into it, and given an `online` push (`features.online_push.OnlinePush`), pushes the feature
rows the batch changed to the online store, both before the batch is acknowledged. `replay` publishes a lake's events in time order,
so a world written by the batch path can be run through the stream and the two lakes compared.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import redis

from adaptive_delivery.delivery.events.ingest import read_message, safe_name
from adaptive_delivery.delivery.events.kumomta import parse_log
from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.schema import (
    CATALOGUE,
    EVENT_SCHEMAS,
    KEY_COLUMN,
    TIME_COLUMN,
)
from adaptive_delivery.platform import lake_stream
from adaptive_delivery.platform.lake_stream import (  # noqa: F401 - delivery's callers find them here
    REFUSED,
    SOURCE,
    EntryError,
    LakeSink,
    StreamBatch,
    refused,
)
from adaptive_delivery.platform.streams import Entry, publish

STREAM = "ad:events"
GROUP = "lake"
PACE_S = 0.01  # a paced replay sends what is due in steps of this much wall time


def decode(entry: Entry) -> tuple[str, dict[str, Any]]:
    """(kind, row) of an entry, or EntryError saying why it is not a delivery event."""
    return lake_stream.decode(entry, CATALOGUE)


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def mail_events(paths: Iterable[Path], source: str = "dsn") -> Iterator[tuple[str, dict[str, Any]]]:
    """Bounce and complaint messages (one file each) as stream entries: their events, or the
    message refused with the batch path's reason."""
    for path in paths:
        name = safe_name(path.name)
        raw, kind, rows, reason = read_message(path, name)
        if reason is not None:
            yield refused(source, name, raw, reason)
            continue
        for row in rows:
            yield kind, _json_row(row)


def kumomta_events(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A KumoMTA JSON log as stream entries: each record's event, or the line refused with why."""
    batch = parse_log(path.read_bytes().splitlines())
    for q in batch.quarantined:
        yield refused("kumomta", f"{path.name}:{q['line_no']}", str(q["raw"]).encode(), q["reason"])
    for kind in ("sends", "outcomes", "complaints"):
        for row in getattr(batch, kind):
            yield kind, _json_row(row)


def replay(client: redis.Redis, lake: EventsLake, stream: str = STREAM, batch: int = 1_000,
           speed: float | None = None) -> dict[str, int]:
    """Publish every event of a lake, day by day and in time order across kinds (as they
    happened); events published per kind. `speed` paces it on an accelerated clock (60: an hour
    of the world in a minute); None publishes as fast as Redis takes it."""
    sent = {kind: 0 for kind in EVENT_SCHEMAS}

    def timed() -> Iterator[tuple[int, str, dict[str, Any]]]:
        for t, kind, row in in_time_order(lake):
            sent[kind] += 1
            yield t, kind, row

    if speed is None:
        publish(client, stream, ((kind, row) for _, kind, row in timed()), batch=batch)
        return sent
    if speed <= 0:
        raise ValueError(f"speed must be positive, not {speed}")
    started, first, chunk = time.monotonic(), None, []
    for t, kind, row in timed():
        first = t if first is None else first
        due = started + (t - first) / 1e6 / speed
        if due > time.monotonic() + PACE_S:  # the next event is later: send what is due, then wait
            publish(client, stream, chunk, batch=batch)
            chunk = []
            time.sleep(max(0.0, due - time.monotonic()))
        chunk.append((kind, row))
    publish(client, stream, chunk, batch=batch)
    return sent


def in_time_order(lake: EventsLake) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(time in microseconds, kind, row as JSON wants it) of every event in time order (a day in
    memory at a time)."""
    for day in sorted({d for kind in EVENT_SCHEMAS for d in lake.partitions(kind)}):
        yield from _merged(lake, day)


def _merged(lake: EventsLake, day: date) -> Iterator[tuple[int, str, dict[str, Any]]]:
    streams = []
    for kind in EVENT_SCHEMAS:
        if day in lake.partitions(kind):
            table = lake.read(kind, days=[day])
            table = table.sort_by([(TIME_COLUMN[kind], "ascending"), (KEY_COLUMN[kind], "ascending")])
            streams.append(_tagged(kind, table))
    yield from heapq.merge(*streams, key=lambda x: (x[0], x[1]))


def _tagged(kind: str, table: pa.Table) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(time in microseconds, kind, the row as JSON wants it) per event."""
    ts = table.column(TIME_COLUMN[kind]).cast(pa.int64()).to_pylist()
    for t, row in zip(ts, table.to_pylist(), strict=True):
        yield t, kind, _json_row(row)


def lake_table(lake: EventsLake, kind: str) -> pa.Table:
    """A kind's events in a fixed order (by event id): two lakes holding the same events compare equal."""
    table = lake.read(kind)
    return table.take(pc.sort_indices(table, [(KEY_COLUMN[kind], "ascending")]))
