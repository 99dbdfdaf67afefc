"""The outcome store: one row per message, what has become of it so far (SQLite embedded,
PostgreSQL in the cluster profile; any SQLAlchemy URL of either).

Events update it by upsert, and every update is order-free and repeatable: the delivery state is
the latest outcome by (time, event id), engagement and complaints keep the time of their first
occurrence. So the same events give the same rows whether they came in a daily batch or one by one
through the stream, in any order, any number of times (a redelivery after a crash changes nothing).
Times are integer microseconds since the epoch (UTC), the same in both databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.schema import TIME_COLUMN

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


class OutcomeStore:
    """The store behind one SQLAlchemy URL; `update(kind, rows)` folds events in."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"the outcome store runs on SQLite or PostgreSQL, not {self.engine.dialect.name}")
        METADATA.create_all(self.engine)

    def _insert(self):
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(MESSAGES)

    def update(self, kind: str, table: pa.Table) -> int:
        """Fold a kind's events in (rows the lake's checks passed); messages touched."""
        if table.num_rows == 0 or kind not in TIME_COLUMN:
            return 0
        frame = table.to_pandas()
        frame["_us"] = table.column(TIME_COLUMN[kind]).cast(pa.int64()).to_numpy(zero_copy_only=False)
        frame = frame[frame["message_id"].notna()]
        rows = {"sends": _sends, "outcomes": _outcomes, "engagement": _engagement, "complaints": _complaints}[kind](frame)
        if not rows:
            return 0
        stmt = self._insert()
        excluded, current = stmt.excluded, MESSAGES.c
        with self.engine.begin() as conn:
            for columns, values, rule in rows:
                conn.execute(stmt.on_conflict_do_update(index_elements=["message_id"],
                                                        set_=rule(excluded, current, columns)), values)
        return len({v["message_id"] for _, vs, _ in rows for v in vs})

    def load(self, lake: EventsLake) -> None:
        """Every event of a lake, a kind and a day at a time (the batch path)."""
        for kind in TIME_COLUMN:
            for day in lake.partitions(kind):
                self.update(kind, lake.read(kind, days=[day]))

    def frame(self) -> pd.DataFrame:
        """Every row, by message id (two stores with the same events compare equal)."""
        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(MESSAGES).order_by(MESSAGES.c.message_id), conn)[ORDER]


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


def _records(frame: pd.DataFrame, columns: dict[str, str]) -> list[dict[str, Any]]:
    """Rows as {store column: value} (from frame column), missing values as None, numbers as Python's."""
    part = frame[list(columns)].astype(object)
    part = part.where(part.notna(), None)
    return [dict(zip(columns.values(), (v.item() if hasattr(v, "item") else v for v in row), strict=True))
            for row in part.itertuples(index=False, name=None)]


def _ordered(frame: pd.DataFrame):
    """Each message's events by (time, event id)."""
    return frame.sort_values(["message_id", "_us", "event_id"]).groupby("message_id")


def _last(frame: pd.DataFrame) -> pd.DataFrame:
    return _ordered(frame).tail(1)


def _sends(frame: pd.DataFrame) -> list:
    values = _records(_last(frame), {"message_id": "message_id", **{c: c for c in SEND_COLUMNS}, "_us": "send_us"})
    return [((*SEND_COLUMNS, "send_us"), values, _replace)]


def _outcomes(frame: pd.DataFrame) -> list:
    values = _records(_last(frame), {"message_id": "message_id", **{c: c for c in DELIVERY_COLUMNS},
                                     "_us": "outcome_us", "event_id": "outcome_event_id"})
    for v in values:
        if v["smtp_code"] is not None:
            v["smtp_code"] = int(v["smtp_code"])
    return [((*DELIVERY_COLUMNS, "outcome_us", "outcome_event_id"), values, _latest)]


def _engagement(frame: pd.DataFrame) -> list:
    out = []
    machine = frame["machine_open"].fillna(False).astype(bool)
    for (event_type, is_machine), column in FIRST_TIMES.items():
        hits = frame[(frame["event_type"] == event_type) & (machine == is_machine)]
        if len(hits):
            first = hits.groupby("message_id")["_us"].min()
            out.append(((column,), [{"message_id": m, column: int(t)} for m, t in first.items()], _earliest))
    return out


def _complaints(frame: pd.DataFrame) -> list:
    first = _ordered(frame).head(1)
    values = _records(first, {"message_id": "message_id", "_us": "complaint_us", "feedback_type": "feedback_type"})
    return [(("complaint_us", "feedback_type"), values, _earliest)]
