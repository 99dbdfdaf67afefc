"""Redis Streams between event producers and a sink: at-least-once delivery, exactly-once in effect.

Producers append one entry per event (`publish`: the entry's `kind` and the event as JSON text).
A consumer group shares the stream among consumers (`StreamConsumer`). A consumer hands each batch
of entries to a sink and acknowledges them only after the sink returned, so an entry is
acknowledged only once it is written; the sink's report of the batch goes into the stream's
ledger (`<stream>:ledger`) in the same transaction as the acknowledgement. A consumer killed at any point loses nothing: its
unacknowledged entries stay pending in the group and the next consumer claims them (`XAUTOCLAIM`,
once they have been idle for `claim_idle_ms`); a sink that drops what it already holds (the lake
drops events by id) makes the second delivery a no-op. The sink, not this module, knows what an
event is: products plug their own in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

KIND_FIELD = b"kind"
EVENT_FIELD = b"event"
LEDGER_SUFFIX = ":ledger"  # the stream of ledger lines beside each stream


@dataclass(frozen=True)
class Entry:
    """One stream entry as the consumer read it (raw bytes: decoding is the sink's, so a malformed
    entry reaches the sink and is quarantined there, never lost in this module)."""

    entry_id: str
    fields: Mapping[bytes, bytes]
    redelivered: bool = False  # claimed from a consumer that died before acknowledging it

    @property
    def kind(self) -> str:
        return self.fields.get(KIND_FIELD, b"").decode("utf-8", "replace")

    @property
    def event(self) -> bytes:
        return self.fields.get(EVENT_FIELD, b"")

    def json_object(self) -> dict[str, Any]:
        """The event as a JSON object; ValueError says why it is not one (for the quarantine)."""
        try:
            obj = json.loads(self.event)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"event is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ValueError("event is not a JSON object")
        return obj


# A sink writes a batch of entries (every one of them: written, quarantined or a duplicate)
# before it returns; what it returns is its report.
Sink = Callable[[Sequence[Entry]], Any]


def connect(address: str) -> redis.Redis:
    """A client for 'host:port' (or a redis:// URL)."""
    if address.startswith(("redis://", "rediss://", "unix://")):
        return redis.Redis.from_url(address)
    host, _, port = address.rpartition(":")
    return redis.Redis(host=host or "127.0.0.1", port=int(port))


def publish(client: redis.Redis, stream: str, events: Iterable[tuple[str, Mapping[str, Any]]],
            batch: int = 1_000) -> int:
    """Append (kind, event) pairs in order, events as JSON objects (what JSON cannot say, such as
    a timestamp, as text), `batch` entries per round trip. Returns how many were appended."""
    sent = 0
    pipe = client.pipeline(transaction=False)
    for kind, event in events:
        pipe.xadd(stream, {KIND_FIELD: kind.encode(), EVENT_FIELD: json.dumps(event, default=str).encode()})
        sent += 1
        if sent % batch == 0:
            pipe.execute()
    pipe.execute()
    return sent


class StreamConsumer:
    """One consumer of a group: claims what a dead consumer left pending, else reads new entries;
    hands each batch to the sink; acknowledges it after the sink returned."""

    def __init__(self, client: redis.Redis, stream: str, group: str, name: str, sink: Sink,
                 batch: int = 1_000, claim_idle_ms: int = 10_000) -> None:
        self.client, self.stream, self.group, self.name = client, stream, group, name
        self.sink, self.batch, self.claim_idle_ms = sink, batch, claim_idle_ms
        self._claim_from = "0-0"
        self.ensure_group(client, stream, group)

    @staticmethod
    def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
        """The group, reading from the stream's start (the stream is created if missing)."""
        try:
            client.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _claimed(self) -> list[Entry]:
        """Entries pending longer than `claim_idle_ms` on any consumer of the group (a crashed one)."""
        reply = self.client.xautoclaim(self.stream, self.group, self.name, self.claim_idle_ms,
                                       start_id=self._claim_from, count=self.batch)
        self._claim_from = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        return [_entry(i, f, redelivered=True) for i, f in reply[1] if f is not None]

    def _new(self, block_ms: int | None) -> list[Entry]:
        reply = self.client.xreadgroup(self.group, self.name, {self.stream: ">"}, count=self.batch, block=block_ms)
        return [_entry(i, f) for _, entries in reply or [] for i, f in entries]

    def step(self, block_ms: int | None = None) -> tuple[int, Any]:
        """One batch: (entries handled, the sink's report); (0, None) when nothing came."""
        entries = self._claimed() or self._new(block_ms)
        if not entries:
            return 0, None
        report = self.sink(entries)
        # the acknowledgement and the batch's ledger line in one transaction: a batch is counted
        # exactly when it is acknowledged, so a consumer killed at any point never counts one twice
        # nor leaves one written and uncounted (its redelivery counts it)
        line = report.as_dict() if hasattr(report, "as_dict") else report
        tx = self.client.pipeline(transaction=True)
        tx.xack(self.stream, self.group, *[e.entry_id for e in entries])
        tx.xadd(f"{self.stream}{LEDGER_SUFFIX}", {b"line": json.dumps(line, default=str).encode()})
        tx.execute()
        return len(entries), report

    def drain(self, idle_ms: int = 200) -> int:
        """Handle entries until the group holds nothing new and nothing pending (what a dead
        consumer left is claimed once it has been idle `claim_idle_ms`); the entries handled."""
        handled = 0
        while True:
            n, _ = self.step(block_ms=idle_ms)
            handled += n
            if not n and self._claim_from == "0-0" and not self.pending():
                return handled
            if not n:
                time.sleep(min(self.claim_idle_ms, 1_000) / 1_000)

    def pending(self) -> int:
        """Entries delivered to the group and not yet acknowledged (by any consumer)."""
        return int(self.client.xpending(self.stream, self.group)["pending"])


def _entry(entry_id: bytes | str, fields: Mapping[bytes, bytes], redelivered: bool = False) -> Entry:
    return Entry(entry_id.decode() if isinstance(entry_id, bytes) else entry_id, dict(fields), redelivered)


def ledger(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    """The stream's ledger: one line per acknowledged batch, in order (`StreamConsumer.step`)."""
    return [json.loads(fields[b"line"]) for _, fields in client.xrange(f"{stream}{LEDGER_SUFFIX}")]
