"""The events lake: Parquet files partitioned by day, one folder per event kind, for any product.

A product describes its events in a `Catalogue` (schemas, key and time columns, how a table is
conformed and validated); the lake keeps them. Layout under the lake root::

    <kind>/date=2026-03-02/part-<name>.parquet     events, microsecond UTC timestamps
    dim/<kind>.parquet                             dimension snapshots
    _quarantine/<kind>/part-<name>.parquet         rows refused by validation, with a reason
    _quarantine/raw/part-<name>.parquet            inputs that could not be parsed at all
    _ingest_ledger.jsonl                           a line per batch: in = accepted + quarantined + duplicates

Writes go to a temporary file and are renamed into place, so a reader never sees half a file.
Part names are derived from content (or given by a deterministic producer), which makes a
re-ingest of the same input a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


class SchemaError(ValueError):
    """A table cannot be read as the kind it claims to be (wrong or missing columns/types)."""


@dataclass
class ValidationResult:
    valid: pa.Table
    quarantined: pa.Table  # same columns as the input plus `quarantine_reason`
    kind: str

    @property
    def counts(self) -> dict[str, int]:
        return {"in": self.valid.num_rows + self.quarantined.num_rows,
                "accepted": self.valid.num_rows, "quarantined": self.quarantined.num_rows}


def split_by_reason(table: pa.Table, reasons: np.ndarray, kind: str) -> ValidationResult:
    """Rows without a reason are valid; the others are quarantined with theirs (an object array
    holding a reason or None per row)."""
    bad = np.array([r is not None for r in reasons], dtype=bool)
    valid = table.filter(pa.array(~bad))
    quarantined = table.filter(pa.array(bad)).append_column(
        "quarantine_reason", pa.array([r for r in reasons if r is not None], type=pa.string()))
    return ValidationResult(valid=valid, quarantined=quarantined, kind=kind)


def conform_to(schemas: Mapping[str, pa.Schema], kind: str, table: pa.Table,
               optional: tuple[str, ...] = ()) -> pa.Table:
    """Select and cast the columns of `kind`, failing with a message naming what is wrong (an
    `optional` column the table lacks is read as null)."""
    if kind not in schemas:
        raise SchemaError(f"unknown event kind {kind!r}; known: {sorted(schemas)}")
    schema = schemas[kind]
    missing = [f.name for f in schema if f.name not in table.column_names and f.name not in optional]
    if missing:
        raise SchemaError(f"{kind}: missing columns {missing}")
    columns = []
    for f in schema:
        if f.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(f"{kind}.{f.name}: cannot cast {col.type} to {f.type}: {exc}") from exc
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)


@dataclass(frozen=True)
class Catalogue:
    """What a product's lake holds: its event kinds (partitioned by day on `time_column`, told
    apart by `key_column`) and dimension snapshots, and how a table of a kind is conformed to its
    schema and split into valid and quarantined rows."""

    events: Mapping[str, pa.Schema]
    dimensions: Mapping[str, pa.Schema]
    time_column: Mapping[str, str]
    key_column: Mapping[str, str]
    conform: Callable[[str, pa.Table], pa.Table]
    validate: Callable[[str, pa.Table], ValidationResult]

    def schema(self, kind: str) -> pa.Schema:
        return self.events[kind] if kind in self.events else self.dimensions[kind]


QUARANTINE = "_quarantine"
PARQUET_OPTIONS = dict(compression="zstd", use_dictionary=True, coerce_timestamps="us", write_statistics=True)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file so that it appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, **PARQUET_OPTIONS)
    os.replace(tmp, path)


def day_of(ts_us: np.ndarray) -> np.ndarray:
    """UTC calendar day (numpy datetime64[D]) of microsecond timestamps."""
    return ts_us.astype("datetime64[us]").astype("datetime64[D]")


@dataclass
class IngestCounts:
    kind: str
    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine reason -> rows
    # the rows that passed the checks, before the drop of those already in the lake (what a store
    # fed beside the lake folds in); not part of the counts
    valid: pa.Table | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, int | str | dict[str, int]]:
        return {k: v for k, v in self.__dict__.items() if k != "valid"}


class EventsLake:
    """A directory of day-partitioned Parquet event tables and dimension snapshots, of one
    product's catalogue."""

    def __init__(self, root: str | Path, catalogue: Catalogue) -> None:
        self.root = Path(root)
        self.catalogue = catalogue
        # per kind, the event ids of the part files read so far (by modification time): a writer
        # that ingests batch after batch (the stream's consumer) reads each new part once, not
        # the whole lake every batch
        self._keys: dict[str, tuple[dict[Path, int], set[str]]] = {}

    # ---- paths -------------------------------------------------------------------------
    def partition_dir(self, kind: str, day: date) -> Path:
        return self.root / kind / f"date={day.isoformat()}"

    def partitions(self, kind: str) -> list[date]:
        base = self.root / kind
        if not base.exists():
            return []
        return sorted(date.fromisoformat(p.name.split("=", 1)[1]) for p in base.glob("date=*") if p.is_dir())

    def files(self, kind: str, days: Iterable[date] | None = None) -> list[Path]:
        chosen = self.partitions(kind) if days is None else list(days)
        out: list[Path] = []
        for d in chosen:
            out.extend(sorted(self.partition_dir(kind, d).glob("part-*.parquet")))
        return out

    # ---- writing -----------------------------------------------------------------------
    def write_partition(self, kind: str, day: date, table: pa.Table, part: str = "0") -> Path:
        """Write one producer's part of one day (overwrites the same part: idempotent)."""
        if kind not in self.catalogue.events:
            raise ValueError(f"{kind!r} is not an event kind; dimensions use write_dimension")
        path = self.partition_dir(kind, day) / f"part-{part}.parquet"
        write_parquet_atomic(self.catalogue.conform(kind, table), path)
        return path

    def write_dimension(self, kind: str, table: pa.Table) -> Path:
        if kind not in self.catalogue.dimensions:
            raise ValueError(f"{kind!r} is not a dimension kind")
        path = self.root / "dim" / f"{kind}.parquet"
        write_parquet_atomic(self.catalogue.conform(kind, table), path)
        return path

    def ingest(self, kind: str, table: pa.Table, source: str) -> IngestCounts:
        """Validate, quarantine what fails, drop events already in the lake, write the rest.

        `received == accepted + quarantined + duplicates` always holds; nothing is lost silently.
        """
        counts = IngestCounts(kind=kind, received=table.num_rows)
        if table.num_rows == 0:
            return counts
        with self.writer_lock():  # two ingests of the same files: the second sees the first's rows
            return self._ingest_locked(kind, table, source, counts)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time per lake (an exclusive file lock; readers never wait)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".ingest.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def record_batch(self, record: dict) -> None:
        """An input-level line in the ledger (files or log lines in, accepted, quarantined)."""
        with self.writer_lock():
            self._ledger({"kind": "batch", **record})

    def _ingest_locked(self, kind: str, table: pa.Table, source: str, counts: IngestCounts) -> IngestCounts:
        result = self.catalogue.validate(kind, table)
        key = self.catalogue.key_column[kind]
        quarantined = result.quarantined
        held = self.quarantined_keys(kind) if quarantined.num_rows else set()
        if held:  # quarantined before (a re-ingest, a redelivery): kept once
            again = pc.fill_null(pc.is_in(quarantined.column(key), value_set=pa.array(sorted(held))), False)
            counts.duplicates += int(pc.sum(again.cast(pa.int64())).as_py() or 0)
            quarantined = quarantined.filter(pc.invert(again))
        counts.quarantined = quarantined.num_rows
        if quarantined.num_rows:
            self._write_quarantine(kind, quarantined, source)
            reasons = quarantined.column("quarantine_reason").to_pylist()
            counts.reasons = {r: reasons.count(r) for r in sorted(set(reasons))}
        valid = counts.valid = result.valid
        existing = self.existing_keys(kind)
        if existing:  # the batch's ids looked up in the lake's (not the lake's sorted every batch)
            fresh_mask = pa.array([k not in existing for k in valid.column(key).to_pylist()], type=pa.bool_())
            counts.duplicates += valid.num_rows - int(pc.sum(fresh_mask.cast(pa.int64())).as_py() or 0)
            valid = valid.filter(fresh_mask)
        counts.accepted = valid.num_rows
        if valid.num_rows:
            days = day_of(valid.column(self.catalogue.time_column[kind]).cast(pa.int64()).to_numpy())
            for d in np.unique(days):
                part = valid.filter(pa.array(days == d))
                digest = hashlib.sha256("\n".join(sorted(part.column(key).to_pylist())).encode()).hexdigest()[:16]
                self.write_partition(kind, d.astype(date), part, part=f"{source}-{digest}")
        self._ledger({"kind": kind, "source": source, **counts.as_dict()})
        return counts

    def _raw_path(self, digest: str) -> Path:
        return self.root / QUARANTINE / "raw" / f"part-{digest[:24]}.parquet"

    def holds_raw(self, content: bytes) -> bool:
        """Whether this very input is already in the raw quarantine (kept once, by its digest)."""
        return self._raw_path(hashlib.sha256(content).hexdigest()).exists()

    def quarantine_raw(self, source: str, name: str, content: bytes, reason: str) -> Path:
        """Keep an input that could not be parsed, with why, so nothing is dropped silently."""
        digest = hashlib.sha256(content).hexdigest()
        table = pa.table(
            {
                "source": [source],
                "name": [name],
                "sha256": [digest],
                "size_bytes": [len(content)],
                "reason": [reason],
                "content": [content],
                "quarantined_ts": pa.array([datetime.now(timezone.utc)], type=pa.timestamp("us", tz="UTC")),
            }
        )
        path = self._raw_path(digest)
        if not path.exists():
            write_parquet_atomic(table, path)
        return path

    def _write_quarantine(self, kind: str, table: pa.Table, source: str) -> None:
        digest = hashlib.sha256(
            "\n".join(map(str, table.column(self.catalogue.key_column[kind]).to_pylist())).encode()
            + "\n".join(table.column("quarantine_reason").to_pylist()).encode()
        ).hexdigest()[:16]
        path = self.root / QUARANTINE / kind / f"part-{source}-{digest}.parquet"
        write_parquet_atomic(table, path)

    def _ledger(self, record: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "_ingest_ledger.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")

    # ---- reading -----------------------------------------------------------------------
    def quarantined_keys(self, kind: str) -> set[str]:
        """Event ids already in a kind's quarantine (a row without one cannot be recognised again)."""
        base = self.root / QUARANTINE / kind
        key = self.catalogue.key_column[kind]
        keys: set[str] = set()
        for f in sorted(base.glob("part-*.parquet")) if base.exists() else []:
            keys.update(k for k in pq.read_table(f, columns=[key]).column(key).to_pylist() if k is not None)
        return keys

    def existing_keys(self, kind: str) -> set[str]:
        """Every event id in the lake for a kind (the lake's own set: read it, never change it)."""
        key = self.catalogue.key_column[kind]
        stamps = {f: f.stat().st_mtime_ns for f in self.files(kind)}
        seen, keys = self._keys.get(kind, ({}, set()))
        if any(stamps.get(f) != stamp for f, stamp in seen.items()):  # a part rewritten or removed
            seen, keys = {}, set()
        for f, stamp in stamps.items():
            if f not in seen:
                keys.update(pq.read_table(f, columns=[key]).column(key).to_pylist())
                seen[f] = stamp
        self._keys[kind] = (seen, keys)
        return keys

    def read(self, kind: str, days: Iterable[date] | None = None, columns: list[str] | None = None) -> pa.Table:
        """Read an event kind (all days or some) or a dimension snapshot as one table."""
        if kind in self.catalogue.dimensions:
            path = self.root / "dim" / f"{kind}.parquet"
            if not path.exists():
                return self.catalogue.schema(kind).empty_table()
            return pq.read_table(path, columns=columns)
        files = self.files(kind, days)
        schema = self.catalogue.schema(kind)
        if columns:
            schema = pa.schema([schema.field(c) for c in columns])
        if not files:
            return schema.empty_table()
        return pa.concat_tables([pq.read_table(f, columns=columns, schema=schema) for f in files])

    def quarantined(self, kind: str) -> pa.Table | None:
        base = self.root / QUARANTINE / kind
        files = sorted(base.glob("part-*.parquet")) if base.exists() else []
        if not files:
            return None
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")

    def summary(self) -> dict[str, dict[str, int]]:
        """Rows and days per event kind, rows per dimension: what a run produced, at a glance."""
        out: dict[str, dict[str, int]] = {}
        for kind in self.catalogue.events:
            files = self.files(kind)
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            out[kind] = {"days": len(self.partitions(kind)), "rows": rows}
        for kind in self.catalogue.dimensions:
            path = self.root / "dim" / f"{kind}.parquet"
            out[kind] = {"rows": pq.ParquetFile(path).metadata.num_rows if path.exists() else 0}
        return out
