"""The knowledge base's storage (spec §9.2): what has been learned about each mailbox provider,
with its evidence and the time it was learned, kept as versions so that every earlier belief
stays readable.

One SQL schema through SQLAlchemy: SQLite (a file beside the deployment) by default, PostgreSQL in
the cluster profile (`AD_KNOWLEDGE_URL`). A learning run is one version: its facts are written in
one transaction, so a crash leaves the previous version whole. What a provider is believed now is
each fact's newest value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

METADATA = sa.MetaData()
VERSIONS = sa.Table(
    "kb_versions", METADATA,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # what it was learned from (a lake, its window)
    sa.Column("window_start", sa.DateTime(timezone=True)),
    sa.Column("window_end", sa.DateTime(timezone=True)),
)
FACTS = sa.Table(
    "kb_facts", METADATA,
    sa.Column("version", sa.Integer, sa.ForeignKey("kb_versions.version"), primary_key=True),
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("fact", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
    sa.Column("evidence", sa.Text, nullable=False),  # JSON: what the value rests on (counts, hours, examples)
    sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
)


class KnowledgeError(ValueError):
    """A request the knowledge base cannot answer as asked; the message says why."""


@dataclass(frozen=True)
class Fact:
    """One thing learned about one provider: its value, what it rests on, and when it was learned."""

    value: Any
    evidence: Mapping[str, Any]
    learned_at: datetime | None = None
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "evidence": dict(self.evidence), "version": self.version,
                "learned_at": None if self.learned_at is None else _utc(self.learned_at).isoformat()}


def default_url(home: str | Path) -> str:
    """The embedded default: an SQLite file in the deployment's folder."""
    return f"sqlite:///{Path(home).resolve() / 'knowledge.db'}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class KnowledgeBase:
    """The store at `url` (any SQLAlchemy URL; the tables are created on first use)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        METADATA.create_all(self.engine)

    def record(self, facts: Mapping[str, Mapping[str, Fact]], source: str, window: tuple[datetime, datetime] | None = None,
               now: datetime | None = None) -> int:
        """Write one learning run's facts (provider -> fact name -> Fact) as a new version, all or
        nothing; returns the version."""
        now = _utc(now or datetime.now(UTC))
        with self.engine.begin() as conn:
            version = conn.execute(sa.insert(VERSIONS).values(
                created_at=now, source=source, window_start=None if window is None else _utc(window[0]),
                window_end=None if window is None else _utc(window[1]))).inserted_primary_key[0]
            rows = [{"version": version, "provider": provider, "fact": name,
                     "value": json.dumps(fact.value, default=_plain), "evidence": json.dumps(dict(fact.evidence), default=_plain),
                     "learned_at": _utc(fact.learned_at or now)}
                    for provider, by_name in facts.items() for name, fact in by_name.items()]
            if rows:
                conn.execute(sa.insert(FACTS), rows)
        return int(version)

    def versions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(VERSIONS).order_by(VERSIONS.c.version)).mappings().all()
        return [{k: (_utc(v).isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]

    def providers(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(FACTS.c.provider).distinct()).scalars())

    def current(self, provider: str) -> dict[str, Fact]:
        """What is believed of `provider` now: each fact's value from the newest version that holds it."""
        newest = (sa.select(FACTS.c.fact, sa.func.max(FACTS.c.version).label("version"))
                  .where(FACTS.c.provider == provider).group_by(FACTS.c.fact).subquery())
        query = (sa.select(FACTS).join(newest, (FACTS.c.fact == newest.c.fact) & (FACTS.c.version == newest.c.version))
                 .where(FACTS.c.provider == provider).order_by(FACTS.c.fact))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        if not rows:
            known = self.providers()
            raise KnowledgeError(f"nothing is known of provider {provider!r}; known: {known or 'none (run `knowledge learn`)'}")
        return {r["fact"]: _fact(r) for r in rows}

    def history(self, provider: str, fact: str) -> list[Fact]:
        """Every version's value of one fact, oldest first."""
        query = (sa.select(FACTS).where((FACTS.c.provider == provider) & (FACTS.c.fact == fact))
                 .order_by(FACTS.c.version))
        with self.engine.connect() as conn:
            return [_fact(r) for r in conn.execute(query).mappings().all()]

    def export(self, providers: Iterable[str] | None = None) -> dict[str, Any]:
        """Everything believed now, per provider, with the versions behind it (JSON-ready)."""
        names = list(providers) if providers is not None else self.providers()
        return {"exported_at": datetime.now(UTC).isoformat(timespec="seconds"), "versions": self.versions(),
                "providers": {p: {k: f.to_dict() for k, f in self.current(p).items()} for p in names}}


def _fact(row: Mapping[str, Any]) -> Fact:
    return Fact(json.loads(row["value"]), json.loads(row["evidence"]), _utc(row["learned_at"]), int(row["version"]))


def _plain(value: object) -> object:
    """JSON for numpy numbers and timestamps."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
