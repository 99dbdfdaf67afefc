"""Delivery events through Redis Streams into the lake (`platform.streams` carries them).

An entry is one event: its kind (`sends`, `outcomes`, `complaints`, `engagement`) and one row of
that kind's schema as a JSON object (timestamps as ISO 8601 text, or integer microseconds since
the epoch). The consumer's sink (`LakeSink`) gives them the batch path's treatment: the same
schemas and checks, the same quarantine with a reason, the same drop of events already in the
lake by event id, and a line in the lake's ledger per batch (entries in = accepted + quarantined +
duplicates). An entry the lake cannot even read (an unknown kind, text that is not a JSON object,
a value of the wrong type) is kept whole in the raw quarantine with why.

Producers parse at the edge with the batch path's parsers: `mail_events` (DSN bounces and ARF
complaints, one file per message) and `kumomta_events` (a KumoMTA JSON log) yield the events to
publish, and an input they refuse as a `_refused` entry carrying the input and the reason.
Given an outcome store (`outcome_store.OutcomeStore`), the sink also folds every event the checks
pass into it, and given an `online` push (`features.online_push.OnlinePush`), pushes the feature
rows the batch changed to the online store, both before the batch is acknowledged. `replay` publishes a lake's events in time order,
so a world written by the batch path can be run through the stream and the two lakes compared.
"""

from __future__ import annotations

import base64
import heapq
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import redis

from adaptive_delivery.delivery.events.ingest import (
    IngestReport,
    ledger_record,
    read_message,
    safe_name,
)
from adaptive_delivery.delivery.events.kumomta import parse_log
from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.outcome_store import OutcomeStore
from adaptive_delivery.delivery.events.schema import EVENT_SCHEMAS, KEY_COLUMN, TIME_COLUMN
from adaptive_delivery.platform.streams import Entry, publish

STREAM = "ad:events"
GROUP = "lake"
SOURCE = "stream"
# An input a producer could not read as events (a bounce that is not one, a log line that is not
# a record): it travels as itself, and the consumer keeps it whole in the lake's raw quarantine.
REFUSED = "_refused"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PACE_S = 0.01  # a paced replay sends what is due in steps of this much wall time


class EntryError(ValueError):
    """An entry the lake cannot read as an event (its reason goes to the quarantine)."""


Converter = Callable[[Any], Any]


def _timestamp(name: str) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise EntryError(f"{name}: a timestamp is ISO 8601 text or integer microseconds")
        if isinstance(value, int):
            try:
                return _EPOCH + timedelta(microseconds=value)
            except OverflowError as exc:
                raise EntryError(f"{name}: {value} microseconds is no time") from exc
        try:
            when = datetime.fromisoformat(value)
        except ValueError as exc:
            raise EntryError(f"{name}: {value[:40]!r} is not an ISO 8601 time") from exc
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return convert


def _typed(name: str, kinds: tuple[type, ...], what: str) -> Converter:
    """Values of `kinds` pass as they are (a JSON true is no number, though Python's bool is an int)."""
    refuse_bool = bool not in kinds

    def convert(value: Any) -> Any:
        if value is None or (isinstance(value, kinds) and not (refuse_bool and isinstance(value, bool))):
            return value
        raise EntryError(f"{name}: expected {what}")
    return convert


def _whole(name: str) -> Converter:
    def convert(value: Any) -> Any:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise EntryError(f"{name}: expected a whole number" if isinstance(value, float) else f"{name}: expected a number")
    return convert


def _converter(field: pa.Field) -> Converter:
    """How a JSON value becomes the schema's type (None stays None: the checks judge nulls),
    chosen once per field rather than per value."""
    t, name = field.type, field.name
    if pa.types.is_timestamp(t):
        return _timestamp(name)
    if pa.types.is_boolean(t):
        return _typed(name, (bool,), "true or false")
    if pa.types.is_string(t):
        return _typed(name, (str,), "text")
    if pa.types.is_integer(t):
        return _whole(name)
    if pa.types.is_floating(t):
        return _typed(name, (int, float), "a number")
    return lambda value: value


_CONVERTERS: dict[str, tuple[tuple[str, Converter], ...]] = {
    kind: tuple((f.name, _converter(f)) for f in schema) for kind, schema in EVENT_SCHEMAS.items()}


def decode(entry: Entry) -> tuple[str, dict[str, Any]]:
    """(kind, row) of an entry, or EntryError saying why it is not an event."""
    kind = entry.kind
    converters = _CONVERTERS.get(kind)
    if converters is None:
        raise EntryError(f"unknown event kind {kind[:40]!r}; known: {sorted(EVENT_SCHEMAS)}")
    try:
        obj = json.loads(entry.event)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EntryError(f"event is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise EntryError("event is not a JSON object")
    get = obj.get
    return kind, {name: convert(get(name)) for name, convert in converters}


@dataclass
class StreamBatch:
    """What the sink did with one batch; its `line` is the batch's ledger line."""

    report: IngestReport
    line: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return self.line


class LakeSink:
    """Writes a batch of entries into the lake as the batch path would (`platform.streams.Sink`)."""

    def __init__(self, lake: EventsLake, store: OutcomeStore | None = None,
                 online: Callable[[set[str], Mapping[str, pa.Table]], int] | None = None) -> None:
        if online is not None and store is None:
            raise ValueError("an online push reads its counts from the outcome store: give the sink one")
        self.lake, self.store, self.online = lake, store, online

    def __call__(self, entries: Sequence[Entry]) -> StreamBatch:
        report = IngestReport(source=SOURCE, items_in=len(entries))
        rows: dict[str, dict[str, tuple[Entry, dict[str, Any]]]] = {}  # kind -> event id -> (entry, row)
        for entry in entries:
            if entry.kind == REFUSED:
                self._refused(entry, report)
                continue
            try:
                kind, row = decode(entry)
            except EntryError as exc:
                self.lake.quarantine_raw(SOURCE, entry.entry_id, _raw(entry), str(exc))
                report.quarantine(str(exc))
                continue
            key, of_kind = row[KEY_COLUMN[kind]], rows.setdefault(kind, {})
            if key is not None and key in of_kind:
                report.duplicates += 1  # published twice: the producer's retry, not a new event
                continue
            of_kind[key if key is not None else f"\0{entry.entry_id}"] = (entry, row)
        recovered, valid = 0, {}
        for kind, by_key in rows.items():
            table = self._table(kind, by_key, report)
            # an entry claimed from a dead consumer whose event is already here was written by
            # that consumer, which died before counting it: it is counted now, not as a duplicate
            again = {k for k, (e, _) in by_key.items() if e.redelivered}
            written = again & self.lake.existing_keys(kind) if again else set()
            refused = again & self.lake.quarantined_keys(kind) if again else set()
            counts = self.lake.ingest(kind, table, source=SOURCE)
            if counts.valid is not None:  # every row the checks passed
                valid[kind] = counts.valid
            report.events[kind] = counts.accepted + len(written)
            report.duplicates += counts.duplicates - len(written) - len(refused)
            report.items_quarantined += counts.quarantined + len(refused)
            recovered += len(written) + len(refused)
            for reason, n in counts.reasons.items():
                report.reasons[reason] = report.reasons.get(reason, 0) + n
        report.items_accepted = sum(report.events.values())
        # the store's updates repeat harmlessly, all kinds in one transaction; every message
        # touched, new or not: a batch redelivered after a crash before its push is pushed again
        touched = self.store.update_many(valid) if self.store is not None else set()
        line = ledger_record(report) | {"duplicates": report.duplicates, "recovered": recovered}
        if self.online is not None:
            line["pushed"] = self.online(touched, valid)
        self.lake.record_batch(line)
        return StreamBatch(report, line)

    def _refused(self, entry: Entry, report: IngestReport) -> None:
        """A producer's refused input: into the raw quarantine under its own source and reason
        (once: the same input refused again is a duplicate)."""
        try:
            obj = json.loads(entry.event)
            source, name, reason = (str(obj[k])[:200] for k in ("source", "name", "reason"))
            raw = base64.b64decode(obj["raw"], validate=True)
        except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
            source, name, raw = SOURCE, entry.entry_id, _raw(entry)
            reason = f"a refused input the consumer cannot read: {type(exc).__name__}"
        if self.lake.holds_raw(raw) and not entry.redelivered:  # the same input sent again (a retry)
            report.duplicates += 1
            return
        self.lake.quarantine_raw(source, safe_name(name), raw, reason)
        report.quarantine(reason)

    def _table(self, kind: str, by_key: dict[str, tuple[Entry, dict[str, Any]]], report: IngestReport) -> pa.Table:
        """The rows as the kind's table; a row Arrow refuses (a number past 64 bits, text that is
        not valid Unicode) is quarantined alone, never the batch (a batch that cannot be written is
        never acknowledged, and would come back for ever)."""
        schema = EVENT_SCHEMAS[kind]
        try:
            return pa.Table.from_pylist([row for _, row in by_key.values()], schema=schema)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            kept = []
            for entry, row in by_key.values():
                try:
                    pa.Table.from_pylist([row], schema=schema)
                except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
                    reason = f"not a {kind} event: {type(exc).__name__}: {str(exc)[:200]}"
                    self.lake.quarantine_raw(SOURCE, entry.entry_id, _raw(entry), reason)
                    report.quarantine(reason)
                    continue
                kept.append(row)
            return pa.Table.from_pylist(kept, schema=schema)


def _raw(entry: Entry) -> bytes:
    return json.dumps({k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                       for k, v in entry.fields.items()}).encode()


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def refused(source: str, name: str, raw: bytes, reason: str) -> tuple[str, dict[str, str]]:
    """The entry for an input a producer could not read as events."""
    return REFUSED, {"source": source, "name": name, "reason": reason, "raw": base64.b64encode(raw).decode()}


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
