"""Events of any product's catalogue from a stream (`platform.streams`) into its lake.

An entry is one event: its kind and one row of that kind's schema as a JSON object (timestamps
as ISO 8601 text, or integer microseconds since the epoch). The consumer's sink (`LakeSink`) gives
them the batch path's treatment: the catalogue's schemas and checks, the lake's quarantine with a
reason, the drop of events already in the lake by key, and a line in the lake's ledger per batch
(entries in = accepted + quarantined + duplicates). An entry the lake cannot even read (an unknown
kind, text that is not a JSON object, a value of the wrong type) is kept whole in the raw
quarantine with why; an input a producer could not read travels as a `_refused` entry and lands
there too.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa

from adaptive_delivery.platform.lake import Catalogue, EventsLake
from adaptive_delivery.platform.streams import Entry

SOURCE = "stream"
# An input a producer could not read as events (a bounce that is not one, a log line that is not
# a record): it travels as itself, and the consumer keeps it whole in the lake's raw quarantine.
REFUSED = "_refused"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Store(Protocol):
    """What a sink feeds beside the lake (delivery's outcome store): it folds in each kind's rows
    that passed the checks and returns the keys it touched; repeats are harmless."""

    def update_many(self, valid: Mapping[str, pa.Table]) -> set[str]: ...


@dataclass
class IngestReport:
    source: str
    items_in: int = 0
    items_accepted: int = 0
    items_quarantined: int = 0
    events: dict[str, int] = field(default_factory=dict)  # kind -> new rows written
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine reason -> count

    def quarantine(self, reason: str) -> None:
        self.items_quarantined += 1
        key = reason.split(":")[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def safe_name(name: str) -> str:
    """A file name as text that can be stored (a name that is not UTF-8 keeps its bytes escaped)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def ledger_record(report: IngestReport) -> dict:
    """The batch's input-level counts for the lake's ledger: in == accepted + quarantined."""
    return {"source": report.source, "items_in": report.items_in, "items_accepted": report.items_accepted,
            "items_quarantined": report.items_quarantined, "reasons": report.reasons}


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


@functools.cache
def _converters(schema: pa.Schema) -> tuple[tuple[str, Converter], ...]:
    """A kind's field converters, chosen once per schema."""
    return tuple((f.name, _converter(f)) for f in schema)


def decode(entry: Entry, catalogue: Catalogue) -> tuple[str, dict[str, Any]]:
    """(kind, row) of an entry, or EntryError saying why it is not one of the catalogue's events."""
    kind = entry.kind
    if kind not in catalogue.events:
        raise EntryError(f"unknown event kind {kind[:40]!r}; known: {sorted(catalogue.events)}")
    converters = _converters(catalogue.events[kind])
    try:
        get = entry.json_object().get
    except ValueError as exc:
        raise EntryError(str(exc)) from exc
    return kind, {name: convert(get(name)) for name, convert in converters}


@dataclass
class StreamBatch:
    """What the sink did with one batch; its `line` is the batch's ledger line."""

    report: IngestReport
    line: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return self.line


class LakeSink:
    """Writes a batch of entries into the lake as the batch path would (`platform.streams.Sink`);
    a store beside the lake folds in the rows the checks passed, and `online` pushes what they changed."""

    def __init__(self, lake: EventsLake, store: Store | None = None,
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
                kind, row = decode(entry, self.lake.catalogue)
            except EntryError as exc:
                self.lake.quarantine_raw(SOURCE, entry.entry_id, _raw(entry), str(exc))
                report.quarantine(str(exc))
                continue
            key, of_kind = row[self.lake.catalogue.key_column[kind]], rows.setdefault(kind, {})
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
        schema = self.lake.catalogue.events[kind]
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


def refused(source: str, name: str, raw: bytes, reason: str) -> tuple[str, dict[str, str]]:
    """The entry for an input a producer could not read as events."""
    return REFUSED, {"source": source, "name": name, "reason": reason, "raw": base64.b64encode(raw).decode()}


