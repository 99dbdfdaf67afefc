"""The outcome store: one row per message, what has become of it so far (SQLite embedded,
PostgreSQL in the cluster profile; any SQLAlchemy URL of either), and per campaign content and
mailbox provider the running counts its online features are made of (`content_provider_counts`).

Events update it by upsert, and every update is order-free and repeatable: the delivery state is
the latest outcome by (time, event id), engagement and complaints keep the time of their first
occurrence. So the same events give the same rows whether they came in a daily batch or one by one
through the stream, in any order, any number of times (a redelivery after a crash changes nothing).
Times are integer microseconds since the epoch (UTC), the same in both databases.

The counts are kept exactly once in effect: each outcome event is recorded by its id, and an event
adds to its content's counts the first time both it and its message's send are known (whichever
came last), in the same transaction as the rest of the update. Updates take the store's write
lock first, so two consumers never count one event twice or miss one between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.schema import TIME_COLUMN
from adaptive_delivery.delivery.features.definitions import provider_answer_flags

METADATA = sa.MetaData()
SEND_COLUMNS = ("subscriber_id", "campaign_id", "provider", "sending_ip", "content_id")
DELIVERY_COLUMNS = ("status", "bounce_class", "reason", "smtp_code", "placement")
# engagement event (type, machine open) -> the column keeping the time it first happened
FIRST_TIMES = {("open", False): "first_open_us", ("open", True): "first_machine_open_us",
               ("click", False): "first_click_us", ("conversion", False): "first_conversion_us",
               ("unsubscribe", False): "unsubscribed_us"}
MESSAGES = sa.Table(
    "message_outcomes", METADATA,
    sa.Column("message_id", sa.String, primary_key=True),
    *(sa.Column(c, sa.String) for c in SEND_COLUMNS),
    sa.Column("send_us", sa.BigInteger),
    *(sa.Column(c, sa.Integer if c == "smtp_code" else sa.String) for c in DELIVERY_COLUMNS),
    sa.Column("outcome_us", sa.BigInteger), sa.Column("outcome_event_id", sa.String),
    *(sa.Column(c, sa.BigInteger) for c in sorted(set(FIRST_TIMES.values()))),
    sa.Column("complaint_us", sa.BigInteger), sa.Column("feedback_type", sa.String),
)
ORDER = [c.name for c in MESSAGES.columns]
# Every outcome event by id: what the counts are made of, and what makes them repeatable.
OUTCOME_EVENTS = sa.Table(
    "outcome_events", METADATA,
    sa.Column("event_id", sa.String, primary_key=True),
    sa.Column("message_id", sa.String, index=True),
    sa.Column("provider", sa.String), sa.Column("event_us", sa.BigInteger),
    sa.Column("status", sa.String), sa.Column("placement", sa.String),
    sa.Column("smtp_code", sa.Integer), sa.Column("reason", sa.String), sa.Column("latency_ms", sa.Float),
)
EVENT_COLUMNS = [c.name for c in OUTCOME_EVENTS.columns]
# Per content and provider (the outcome's own provider, else its send's): answers of each kind so
# far and the time of the latest, as the content_provider feature table counts them.
COUNT_COLUMNS = ("answers", "accepted", "inbox", "spam", "blocked", "bounced", "deferred")
CONTENT_PROVIDER = sa.Table(
    "content_provider_counts", METADATA,
    sa.Column("content_id", sa.String, primary_key=True), sa.Column("provider", sa.String, primary_key=True),
    *(sa.Column(c, sa.BigInteger, nullable=False) for c in COUNT_COLUMNS),
    sa.Column("last_us", sa.BigInteger, nullable=False),
)
PAIR = ["content_id", "provider"]
# The days whose subscriber snapshot a consumer has taken on pushing: one of several consumers does
# it; who claimed it and when (wall clock, microseconds), and when it was all pushed.
SNAPSHOT_DAYS = sa.Table("subscriber_snapshot_days", METADATA, sa.Column("day", sa.Date, primary_key=True),
                         sa.Column("claimed_by", sa.String), sa.Column("claimed_us", sa.BigInteger),
                         sa.Column("pushed_us", sa.BigInteger))
# Per mailbox provider and 15-minute window (by its end): what the provider answered in it, as the
# provider feature table counts them (the outcome's own provider, else its send's).
WINDOW_US = 15 * 60 * 1_000_000
WINDOW_COUNTS = ("attempts", "accepted", "deferred", "blocked", "replies_4xx", "replies_5xx", "throttle_signals",
                 "latency_n")
PROVIDER_WINDOWS = sa.Table(
    "provider_window_counts", METADATA,
    sa.Column("provider", sa.String, primary_key=True), sa.Column("window_end_us", sa.BigInteger, primary_key=True),
    *(sa.Column(c, sa.BigInteger, nullable=False) for c in WINDOW_COUNTS),
    sa.Column("latency_sum", sa.Float, nullable=False),
)

# What the store reads of each kind's events (the rest stays in the lake).
READ_COLUMNS = {
    "sends": ("event_id", "message_id", *SEND_COLUMNS),
    "outcomes": ("event_id", "message_id", "provider", *DELIVERY_COLUMNS, "latency_ms"),
    "engagement": ("event_id", "message_id", "event_type", "machine_open"),
    "complaints": ("event_id", "message_id", "feedback_type"),
}
CHUNK = 500  # ids per IN (...) list
_LOCK_KEY = 0x61640001  # PostgreSQL advisory lock: one writer at a time


class OutcomeStore:
    """The store behind one SQLAlchemy URL; `update(kind, rows)` folds events in."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"the outcome store runs on SQLite or PostgreSQL, not {self.engine.dialect.name}")
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _write_ahead_log)
        METADATA.create_all(self.engine)
        self._add_missing_columns(OUTCOME_EVENTS)
        self._add_missing_columns(SNAPSHOT_DAYS)
        self._compiled: dict[tuple, tuple[str, tuple[str, ...] | None]] = {}

    def _add_missing_columns(self, table: sa.Table) -> None:
        """A store made by an earlier version gains the columns added since (empty for the events it
        already holds: its provider windows start counting from the next event)."""
        have = {c["name"] for c in sa.inspect(self.engine).get_columns(table.name)}
        with self.engine.begin() as conn:
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(dialect=self.engine.dialect)
                    conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')

    def _insert(self, table: sa.Table = MESSAGES):
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(table)

    def _write(self, conn: sa.Connection, key: str, statement: Callable[[], Any], rows: Rows) -> None:
        """Execute a write statement once per row, compiled once per store (`key` names it) and
        given plain tuples: SQLAlchemy's per-row parameter processing was a third of an update."""
        if not rows.values:
            return
        cached = self._compiled.get((key, rows.names))
        if cached is None:
            compiled = statement().compile(dialect=self.engine.dialect, column_keys=list(rows.names))
            order = tuple(compiled.positiontup) if compiled.positional else None
            if order is not None and set(order) != set(rows.names):
                raise ValueError(f"{key}: the statement binds {order}, the rows give {rows.names}")
            cached = self._compiled[(key, rows.names)] = (compiled.string, order)
        sql, order = cached
        if order is None:  # named parameters (PostgreSQL's driver)
            params: list = [dict(zip(rows.names, r, strict=True)) for r in rows.values]
        elif order == rows.names:
            params = rows.values
        else:
            at = [rows.names.index(n) for n in order]
            params = [tuple(r[i] for i in at) for r in rows.values]
        conn.exec_driver_sql(sql, params)

    def _lock(self, conn: sa.Connection) -> None:
        """Take the write lock for this transaction (SQLite: the database's; PostgreSQL: an advisory
        lock), before anything is read that decides what is counted."""
        if self.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})

    def update(self, kind: str, table: pa.Table) -> set[str]:
        """Fold a kind's events in (rows the lake's checks passed); the message ids they touch."""
        return self.update_many({kind: table})

    def update_many(self, tables: Mapping[str, pa.Table]) -> set[str]:
        """Fold several kinds' events in, in one transaction (a stream batch); the message ids
        they touch."""
        prepared = [(kind, *_prepared(kind, tables[kind])) for kind in TIME_COLUMN if kind in tables]
        prepared = [(kind, frame, rows) for kind, frame, rows in prepared if rows]
        if not prepared:
            return set()
        touched: set[str] = set()
        with self.engine.begin() as conn:
            self._lock(conn)
            for kind, frame, rows in prepared:
                touched |= self._fold(conn, kind, frame, rows)
        return touched

    def _fold(self, conn: sa.Connection, kind: str, frame: pd.DataFrame, rows: list) -> set[str]:
        touched = {m for _, batch, _ in rows for m in batch.column("message_id")}
        if kind == "sends":
            had_content, had_provider = self._sent(conn, touched)
        for columns, batch, rule in rows:
            def statement(columns=columns, rule=rule):
                stmt = self._insert()
                return stmt.on_conflict_do_update(index_elements=["message_id"],
                                                  set_=rule(stmt.excluded, MESSAGES.c, columns))
            self._write(conn, f"messages:{rule.__name__}:{','.join(columns)}", statement, batch)
        if kind == "outcomes":
            new = self._record_outcomes(conn, frame)
            self._count(conn, new[new["content_id"].notna()])
            self._count_windows(conn, new)
        elif kind == "sends":  # their outcomes that came first count now
            content = set(frame.loc[frame["content_id"].notna(), "message_id"]) - had_content
            provider = set(frame.loc[frame["provider"].notna(), "message_id"]) - had_provider
            waiting = self._outcomes_of(conn, content | provider)
            self._count(conn, waiting[waiting["message_id"].isin(content)])
            # towards a window only those whose own provider was unknown (the others counted already)
            self._count_windows(conn, waiting[waiting["message_id"].isin(provider) & waiting["provider"].isna()])
        return touched

    def _sent(self, conn: sa.Connection, ids: Iterable[str]) -> tuple[set[str], set[str]]:
        """Those of `ids` whose send is known with its content, and with its provider."""
        c = MESSAGES.c
        content: set[str] = set()
        provider: set[str] = set()
        for chunk in _chunks(sorted(ids)):
            query = sa.select(c.message_id, c.content_id, c.provider).where(c.message_id.in_(chunk))
            for message, has_content, has_provider in conn.execute(query).all():
                if has_content is not None:
                    content.add(message)
                if has_provider is not None:
                    provider.add(message)
        return content, provider

    def _record_outcomes(self, conn: sa.Connection, frame: pd.DataFrame) -> pd.DataFrame:
        """Record the outcome events not yet recorded; those new ones, with their message's content
        and send provider where its send is known (missing where not)."""
        events = pd.DataFrame({"event_id": frame["event_id"], "message_id": frame["message_id"],
                               "provider": frame["provider"], "event_us": frame["_us"],
                               "status": frame["status"], "placement": frame["placement"],
                               "smtp_code": frame["smtp_code"].astype("Int64"), "reason": frame["reason"],
                               "latency_ms": frame["latency_ms"]})
        events = events[events["event_id"].notna()].drop_duplicates("event_id")
        seen: set[str] = set()
        for chunk in _chunks(events["event_id"].tolist()):
            seen.update(conn.execute(sa.select(OUTCOME_EVENTS.c.event_id)
                                     .where(OUTCOME_EVENTS.c.event_id.in_(chunk))).scalars())
        new = events[~events["event_id"].isin(seen)]
        if new.empty:
            return new.assign(content_id=pd.Series(dtype=object), send_provider=pd.Series(dtype=object))
        self._write(conn, "outcome_events", lambda: self._insert(OUTCOME_EVENTS), _records(new, {c: c for c in new.columns}))
        c = MESSAGES.c
        sent = [pd.DataFrame(columns=["message_id", "content_id", "send_provider"])]
        for chunk in _chunks(sorted(set(new["message_id"]))):
            query = sa.select(c.message_id, c.content_id, c.provider.label("send_provider")).where(
                c.message_id.in_(chunk), c.send_us.is_not(None))
            sent.append(pd.DataFrame(conn.execute(query).all(), columns=["message_id", "content_id", "send_provider"]))
        return new.merge(pd.concat(sent[1:] or sent), on="message_id", how="left")

    def _outcomes_of(self, conn: sa.Connection, ids: set[str]) -> pd.DataFrame:
        """The recorded outcome events of these messages, with their content and send provider."""
        e, m = OUTCOME_EVENTS.c, MESSAGES.c
        columns = [*EVENT_COLUMNS[1:], "content_id", "send_provider"]
        parts = [pd.DataFrame(columns=columns)]
        for chunk in _chunks(sorted(ids)):
            query = (sa.select(*(getattr(e, c) for c in EVENT_COLUMNS[1:]), m.content_id,
                               m.provider.label("send_provider"))
                     .join(MESSAGES, m.message_id == e.message_id).where(e.message_id.in_(chunk)))
            parts.append(pd.DataFrame(conn.execute(query).all(), columns=columns))
        return pd.concat(parts[1:] or parts, ignore_index=True)

    def _count(self, conn: sa.Connection, events: pd.DataFrame) -> None:
        """Add outcome events (each counted for the first time) to their content's counts."""
        if events.empty:
            return
        provider = events["provider"].where(events["provider"].notna(), events["send_provider"])
        events = events.assign(provider=provider).dropna(subset=PAIR)
        accepted = events["status"] == "accepted"
        flags = pd.DataFrame({
            "content_id": events["content_id"], "provider": events["provider"], "answers": 1,
            "accepted": accepted, "inbox": accepted & (events["placement"] == "inbox"),
            "spam": accepted & (events["placement"] == "spam"), "blocked": events["status"] == "blocked",
            "bounced": events["status"] == "bounced", "deferred": events["status"] == "deferred",
            "last_us": events["event_us"],
        })
        sums = flags.groupby(PAIR).agg({**{c: "sum" for c in COUNT_COLUMNS}, "last_us": "max"}).reset_index()
        if sums.empty:
            return

        def statement():
            stmt = self._insert(CONTENT_PROVIDER)
            excluded, current = stmt.excluded, CONTENT_PROVIDER.c
            later = sa.case((excluded.last_us > current.last_us, excluded.last_us), else_=current.last_us)
            update = {**{c: getattr(current, c) + getattr(excluded, c) for c in COUNT_COLUMNS}, "last_us": later}
            return stmt.on_conflict_do_update(index_elements=PAIR, set_=update)
        self._write(conn, "content_provider", statement, _records(sums, {c: c for c in sums.columns}))

    def _count_windows(self, conn: sa.Connection, events: pd.DataFrame) -> None:
        """Add outcome events (each counted for the first time its provider is known) to their
        provider's 15-minute window."""
        provider = events["provider"].where(events["provider"].notna(), events["send_provider"])
        events = events.assign(provider=provider).dropna(subset=["provider"])
        if events.empty:
            return
        latency = pd.to_numeric(events["latency_ms"]).astype("float64")
        flags = pd.DataFrame({
            "provider": events["provider"], "window_end_us": events["event_us"] // WINDOW_US * WINDOW_US + WINDOW_US,
            "attempts": 1,
            **provider_answer_flags(events["status"], pd.to_numeric(events["smtp_code"]), events["reason"]),
            "latency_n": latency.notna(), "latency_sum": latency.fillna(0.0),
        })
        keys = ["provider", "window_end_us"]
        sums = flags.groupby(keys).sum().reset_index().astype({c: "int64" for c in WINDOW_COUNTS})

        def statement():
            stmt = self._insert(PROVIDER_WINDOWS)
            excluded, current = stmt.excluded, PROVIDER_WINDOWS.c
            update = {c: getattr(current, c) + getattr(excluded, c) for c in (*WINDOW_COUNTS, "latency_sum")}
            return stmt.on_conflict_do_update(index_elements=keys, set_=update)
        self._write(conn, "provider_windows", statement, _records(sums, {c: c for c in sums.columns}))

    def provider_windows(self) -> pd.DataFrame:
        """Every window's counts of every provider that answered in it, by provider and window."""
        with self.engine.connect() as conn:
            frame = pd.read_sql(sa.select(PROVIDER_WINDOWS), conn)
        frame = frame.sort_values(["provider", "window_end_us"], ignore_index=True)
        return frame.astype({**{c: "int64" for c in (*WINDOW_COUNTS, "window_end_us")}, "latency_sum": "float64"})

    def provider_window(self, end_us: int | None = None) -> pd.DataFrame:
        """Every provider ever counted with its counts in one window (by default the latest any
        provider has), zero where it answered nothing then: what the provider features of that
        window are made of."""
        k = PROVIDER_WINDOWS.c
        with self.engine.connect() as conn:
            if end_us is None:
                end_us = conn.execute(sa.select(sa.func.max(k.window_end_us))).scalar()
            if end_us is None:  # no outcome counted yet (sends only, so far)
                return pd.DataFrame(columns=[c.name for c in PROVIDER_WINDOWS.columns])
            providers = pd.DataFrame({"provider": sorted(conn.execute(sa.select(k.provider).distinct()).scalars())},
                                     dtype=object)
            counts = pd.DataFrame(conn.execute(sa.select(PROVIDER_WINDOWS).where(k.window_end_us == end_us)).all(),
                                  columns=[c.name for c in PROVIDER_WINDOWS.columns])
        out = providers.merge(counts.drop(columns="window_end_us"), on="provider", how="left")
        out = out.fillna({c: 0 for c in (*WINDOW_COUNTS, "latency_sum")})
        out["window_end_us"] = end_us
        return out.astype({**{c: "int64" for c in WINDOW_COUNTS}, "latency_sum": "float64"})

    def content_provider(self, message_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """The counts of every content and provider these messages' outcomes count towards (all
        of them by default), by content and provider."""
        e, m, k = OUTCOME_EVENTS.c, MESSAGES.c, CONTENT_PROVIDER.c
        with self.engine.connect() as conn:
            if message_ids is None:
                pairs = None
            else:
                pairs = set()
                for chunk in _chunks(sorted(set(message_ids))):
                    query = (sa.select(m.content_id, sa.func.coalesce(e.provider, m.provider))
                             .join(MESSAGES, m.message_id == e.message_id)
                             .where(e.message_id.in_(chunk), m.content_id.is_not(None)).distinct())
                    pairs.update(tuple(r) for r in conn.execute(query).all())
            parts = [pd.DataFrame(columns=[c.name for c in CONTENT_PROVIDER.columns])]
            if pairs is None:
                parts.append(pd.read_sql(sa.select(CONTENT_PROVIDER), conn))
            else:
                for chunk in _chunks(sorted(pairs)):
                    query = sa.select(CONTENT_PROVIDER).where(sa.tuple_(k.content_id, k.provider).in_(chunk))
                    parts.append(pd.DataFrame(conn.execute(query).all(), columns=parts[0].columns))
        out = pd.concat(parts, ignore_index=True).sort_values(PAIR, ignore_index=True)
        return out.astype({c: "int64" for c in (*COUNT_COLUMNS, "last_us")})

    def claim_snapshot(self, day: date, by: str | None = None) -> bool:
        """Take on pushing this day's subscriber snapshot: True for the first consumer to ask."""
        with self.engine.begin() as conn:
            stmt = (self._insert(SNAPSHOT_DAYS).values(day=day, claimed_by=by, claimed_us=_now_us())
                    .on_conflict_do_nothing())
            return conn.execute(stmt.returning(SNAPSHOT_DAYS.c.day)).first() is not None

    def take_over_snapshot(self, day: date, by: str | None, lease_s: float) -> bool:
        """Take on pushing a claimed day's snapshot that is not pushed yet, where its claim is this
        consumer's (a restart after a crash) or older than `lease_s` (a consumer that never came
        back): True for the one consumer that takes it."""
        k, now = SNAPSHOT_DAYS.c, _now_us()
        stale = sa.or_(k.claimed_us.is_(None), k.claimed_us < now - int(lease_s * 1_000_000))
        mine = sa.false() if by is None else k.claimed_by == by
        with self.engine.begin() as conn:
            stmt = (sa.update(SNAPSHOT_DAYS).where(k.day == day, k.pushed_us.is_(None), sa.or_(mine, stale))
                    .values(claimed_by=by, claimed_us=now).returning(k.day))
            return conn.execute(stmt).first() is not None

    def snapshot_pushed(self, day: date) -> None:
        """Record that everyone's row of this day is in the online store."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(SNAPSHOT_DAYS).where(SNAPSHOT_DAYS.c.day == day).values(pushed_us=_now_us()))

    def snapshot_days(self) -> pd.DataFrame:
        """Every claimed day: by whom, when, and when pushed (missing while not)."""
        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(SNAPSHOT_DAYS).order_by(SNAPSHOT_DAYS.c.day), conn)

    def last_snapshot_day(self) -> date | None:
        """The latest day whose subscriber snapshot a consumer has claimed."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(SNAPSHOT_DAYS.c.day))).scalar()

    def subscribers_of(self, message_ids: Iterable[str]) -> set[str]:
        """The subscribers these messages went to (of those whose send is known)."""
        c, found = MESSAGES.c, set()
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(message_ids))):
                query = sa.select(c.subscriber_id).where(c.message_id.in_(chunk), c.subscriber_id.is_not(None))
                found.update(conn.execute(query).scalars())
        return found

    def load(self, lake: EventsLake) -> None:
        """Every event of a lake, a kind and a day at a time (the batch path)."""
        for kind in TIME_COLUMN:
            for day in lake.partitions(kind):
                self.update(kind, lake.read(kind, days=[day]))

    def frame(self) -> pd.DataFrame:
        """Every row, by message id (two stores with the same events compare equal)."""
        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(MESSAGES).order_by(MESSAGES.c.message_id), conn)[ORDER]


def _prepared(kind: str, table: pa.Table) -> tuple[pd.DataFrame, list]:
    """A kind's events as a frame (times as integer microseconds in `_us`) and the upserts they make."""
    if table.num_rows == 0:
        return pd.DataFrame(), []
    frame = table.select([c for c in READ_COLUMNS[kind] if c in table.column_names]).to_pandas()
    frame["_us"] = table.column(TIME_COLUMN[kind]).cast(pa.int64()).to_numpy(zero_copy_only=False)
    frame = frame[frame["message_id"].notna()]
    rows = {"sends": _sends, "outcomes": _outcomes, "engagement": _engagement, "complaints": _complaints}[kind](frame)
    return frame, rows


def _now_us() -> int:
    return time.time_ns() // 1_000


def _write_ahead_log(dbapi_connection, _record) -> None:
    """SQLite in write-ahead-log mode: readers (feedback, reports) never wait for the consumer, and
    a commit is one append and one sync instead of a rollback journal's several."""
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _chunks(items: list) -> Iterable[list]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _replace(excluded, current, columns: Iterable[str]) -> Mapping[str, Any]:
    return {c: getattr(excluded, c) for c in columns}


def _latest(excluded, current, columns: Iterable[str]) -> Mapping[str, Any]:
    """The incoming outcome wins if it is later by (time, event id), or if none is stored."""
    newer = sa.or_(current.outcome_us.is_(None), excluded.outcome_us > current.outcome_us,
                   sa.and_(excluded.outcome_us == current.outcome_us,
                           excluded.outcome_event_id > current.outcome_event_id))
    return {c: sa.case((newer, getattr(excluded, c)), else_=getattr(current, c)) for c in columns}


def _earliest(excluded, current, columns: Iterable[str]) -> Mapping[str, Any]:
    out = {}
    for c in columns:
        new, old = getattr(excluded, c), getattr(current, c)
        if c == "feedback_type":  # the first complaint's type
            first = sa.or_(current.complaint_us.is_(None), excluded.complaint_us < current.complaint_us)
            out[c] = sa.case((first, new), else_=old)
            continue
        out[c] = sa.case((new.is_(None), old), (old.is_(None), new), (new < old, new), else_=old)
    return out


@dataclass(frozen=True)
class Rows:
    """Rows to write: the store's column names, and a tuple of values per row (Python's, None where
    missing)."""

    names: tuple[str, ...]
    values: list[tuple]

    def column(self, name: str) -> list:
        at = self.names.index(name)
        return [row[at] for row in self.values]


def _records(frame: pd.DataFrame, columns: dict[str, str]) -> Rows:
    """A frame's rows (frame column: store column), missing values as None, numbers as Python's
    (through Arrow, which converts a column at C speed)."""
    # a column at a time: a whole frame's Arrow conversion costs milliseconds of bookkeeping per call
    values = [pa.array(frame[c], from_pandas=True).to_pylist() for c in columns]
    return Rows(tuple(columns.values()), list(zip(*values, strict=True)))


def _ordered(frame: pd.DataFrame):
    """Each message's events by (time, event id)."""
    return frame.sort_values(["message_id", "_us", "event_id"]).groupby("message_id")


def _last(frame: pd.DataFrame) -> pd.DataFrame:
    return _ordered(frame).tail(1)


def _sends(frame: pd.DataFrame) -> list:
    values = _records(_last(frame), {"message_id": "message_id", **{c: c for c in SEND_COLUMNS}, "_us": "send_us"})
    return [((*SEND_COLUMNS, "send_us"), values, _replace)]


def _outcomes(frame: pd.DataFrame) -> list:
    last = _last(frame)
    last = last.assign(smtp_code=pd.to_numeric(last["smtp_code"]).astype("Int64"))
    values = _records(last, {"message_id": "message_id", **{c: c for c in DELIVERY_COLUMNS},
                             "_us": "outcome_us", "event_id": "outcome_event_id"})
    return [((*DELIVERY_COLUMNS, "outcome_us", "outcome_event_id"), values, _latest)]


def _engagement(frame: pd.DataFrame) -> list:
    out = []
    machine = frame["machine_open"].fillna(False).astype(bool)
    for (event_type, is_machine), column in FIRST_TIMES.items():
        hits = frame[(frame["event_type"] == event_type) & (machine == is_machine)]
        if len(hits):
            first = hits.groupby("message_id")["_us"].min()
            out.append(((column,), Rows(("message_id", column), [(m, int(t)) for m, t in first.items()]), _earliest))
    return out


def _complaints(frame: pd.DataFrame) -> list:
    first = _ordered(frame).head(1)
    values = _records(first, {"message_id": "message_id", "_us": "complaint_us", "feedback_type": "feedback_type"})
    return [(("complaint_us", "feedback_type"), values, _earliest)]
