"""Bring real feedback into the lake: bounce/complaint mail and MTA logs.

Every input item ends in exactly one place: as events in the lake, or in the quarantine with
a reason. Counts are returned and appended to the lake's ledger, so `in == accepted +
quarantined` can be checked after every run. Event ids are derived from content, so ingesting
the same input twice adds nothing the second time.
"""

from __future__ import annotations

import email
import email.utils
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from adaptive_delivery.delivery.events.dsn import MalformedMessage, Parsed, parse_message
from adaptive_delivery.delivery.events.kumomta import parse_log
from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.schema import SCHEMAS
from adaptive_delivery.delivery.providers import provider_for_domain


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


def _event_time(parsed: Parsed) -> datetime:
    try:
        dt = email.utils.parsedate_to_datetime(parsed.date) if parsed.date else None
    except (TypeError, ValueError, IndexError):
        dt = None
    if dt is None:
        return datetime.now(timezone.utc)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _original_message_id(raw: bytes) -> str | None:
    msg = email.message_from_bytes(raw)
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, email.message.Message) and inner.get("Message-ID"):
                return str(inner.get("Message-ID")).strip().strip("<>")
            if isinstance(payload, str):
                for line in payload.splitlines():
                    if line.lower().startswith("message-id:"):
                        return line.split(":", 1)[1].strip().strip("<>")
    return None


def rows_from_message(raw: bytes, name: str) -> tuple[str, list[dict]]:
    """Parse one message into (event kind, rows). Raises MalformedMessage; returns kind
    'not_bounce'/'auto_reply' with no rows for mail that is not a failure report."""
    parsed = parse_message(raw)
    if parsed.kind in ("not_bounce", "auto_reply"):
        return parsed.kind, []
    digest = hashlib.sha256(raw).hexdigest()[:20]
    ts = _event_time(parsed)
    original = _original_message_id(raw) or f"unknown-{digest}"
    rows = []
    for i, v in enumerate(parsed.verdicts):
        domain = v.recipient.rsplit("@", 1)[1] if "@" in v.recipient else ""
        if parsed.kind == "arf":
            rows.append({
                "event_id": f"arf-{digest}-{i}", "message_id": original, "subscriber_id": None,
                "recipient": v.recipient or None, "event_ts": ts, "provider": provider_for_domain(domain) if domain else None,
                "feedback_type": v.feedback_type or "abuse", "sending_domain": None, "sending_ip": v.source_ip or None,
                "source": "arf",
            })
            continue
        if v.outcome == "delivered":
            status, bounce_class = "accepted", None
        elif v.action.startswith("delayed") or v.status.startswith("4."):
            status, bounce_class = "deferred", None
        elif v.outcome == "block":
            status, bounce_class = "blocked", None
        else:
            status, bounce_class = "bounced", "hard" if v.hard_bounce else "soft"
        rows.append({
            "event_id": f"dsn-{digest}-{i}", "message_id": original, "attempt": None, "event_ts": ts, "status": status,
            "smtp_code": int(v.reply_code) if v.reply_code else None, "enhanced_status": v.status or None,
            "reply_text": v.diagnostic[:4000] or None, "latency_ms": None, "bounce_class": bounce_class,
            "reason": v.reason, "placement": None, "provider": provider_for_domain(domain) if domain else None,
            "recipient": v.recipient or None, "subscriber_id": None, "sending_domain": None, "sending_ip": None,
            "source": "dsn",
        })
    return ("complaints" if parsed.kind == "arf" else "outcomes"), rows


def _table(kind: str, rows: list[dict]) -> pa.Table:
    schema = SCHEMAS[kind]
    return pa.Table.from_pylist(rows, schema=schema)


def ingest_mail(lake: EventsLake, paths: list[Path], source: str = "dsn") -> IngestReport:
    """Ingest bounce and complaint messages (one file per message)."""
    report = IngestReport(source=source)
    buckets: dict[str, list[dict]] = {"outcomes": [], "complaints": []}
    for path in paths:
        report.items_in += 1
        raw = path.read_bytes()
        try:
            kind, rows = rows_from_message(raw, path.name)
        except MalformedMessage as exc:
            lake.quarantine_raw(source, path.name, raw, f"malformed: {exc.reason}")
            report.quarantine(f"malformed: {exc.reason}")
            continue
        if not rows:
            reason = "not a bounce or complaint" if kind == "not_bounce" else "automatic reply, not a failure"
            lake.quarantine_raw(source, path.name, raw, reason)
            report.quarantine(reason)
            continue
        report.items_accepted += 1
        buckets[kind].extend(rows)
    for kind, rows in buckets.items():
        if rows:
            counts = lake.ingest(kind, _table(kind, rows), source=source)
            report.events[kind] = counts.accepted
            report.duplicates += counts.duplicates
    return report


def ingest_kumomta(lake: EventsLake, path: Path) -> IngestReport:
    """Ingest a KumoMTA JSON log (one record per line)."""
    report = IngestReport(source="kumomta")
    batch = parse_log(path.read_bytes().splitlines())
    report.items_in = batch.counts["in"]
    report.items_accepted = batch.counts["accepted"]
    for q in batch.quarantined:
        report.quarantine(q["reason"])
    if batch.quarantined:
        lake.quarantine_raw("kumomta", path.name,
                            "\n".join(f"{q['line_no']}\t{q['reason']}\t{q['raw']}" for q in batch.quarantined).encode(),
                            f"{len(batch.quarantined)} log lines refused")
    for kind in ("outcomes", "sends", "complaints"):
        rows = getattr(batch, kind)
        if rows:
            counts = lake.ingest(kind, _table(kind, rows), source="kumomta")
            report.events[kind] = counts.accepted
            report.duplicates += counts.duplicates
            if counts.quarantined:
                report.items_accepted -= counts.quarantined
                report.items_quarantined += counts.quarantined
    return report
