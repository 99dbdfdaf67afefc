"""Bring real feedback into the lake: bounce/complaint mail and MTA logs.

Every input item ends in exactly one place: as events in the lake, or in the quarantine with
a reason. Counts are returned and appended to the lake's ledger, so `in == accepted +
quarantined` can be checked after every run. Event ids are derived from content, so ingesting
the same input twice adds nothing the second time.

One bad input never costs the others: each message is parsed on its own, within limits (size,
line length, recipients, nesting, time), and whatever it raises sends it to the quarantine with
the reason, while the rest of the batch is written.
"""

from __future__ import annotations

import contextlib
import email
import email.utils
import hashlib
import signal
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from adaptive_delivery.delivery.events.dsn import MalformedMessage, Parsed, Verdict, parse_message
from adaptive_delivery.delivery.events.kumomta import parse_log
from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.schema import SCHEMAS
from adaptive_delivery.delivery.providers import provider_for_domain
from adaptive_delivery.platform.lake_stream import IngestReport, ledger_record, safe_name  # noqa: F401 - re-exported

# Limits on one message: far above any real bounce (RFC 5322 lines are at most 998 characters;
# a DSN names a handful of recipients), low enough that no input can hold the batch for long.
MAX_MESSAGE_BYTES = 10 * 2**20
MAX_LINE_CHARS = 100_000
MAX_RECIPIENTS = 5_000
MAX_PARSE_SECONDS = 10.0


class InputLimit(Exception):
    """An input over one of the limits above."""


def _check_limits(raw: bytes) -> None:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InputLimit(f"larger than {MAX_MESSAGE_BYTES // 2**20} MiB")
    if max((len(line) for line in raw.split(b"\n")), default=0) > MAX_LINE_CHARS:
        raise InputLimit(f"a line longer than {MAX_LINE_CHARS:,} characters")


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise InputLimit if the block runs longer than `seconds` (a timer signal: only in the main
    thread, where the command line and the DAG tasks parse; elsewhere the other limits bound it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(*_):
        raise InputLimit(f"parsing took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _event_time(parsed: Parsed) -> datetime:
    try:
        dt = email.utils.parsedate_to_datetime(parsed.date) if parsed.date else None
    except (TypeError, ValueError, IndexError, OverflowError):
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


def lake_status(v: Verdict) -> tuple[str, str | None]:
    """A DSN verdict's delivery status in the lake, and its bounce class where it bounced: a
    delay warning (action `delayed`, or a 4.x.x status) is a deferral, not a bounce."""
    if v.outcome == "delivered":
        return "accepted", None
    if v.action.startswith("delayed") or v.status.startswith("4."):
        return "deferred", None
    if v.outcome == "block":
        return "blocked", None
    return "bounced", "hard" if v.hard_bounce else "soft"


def rows_from_message(raw: bytes, name: str) -> tuple[str, list[dict]]:
    """Parse one message into (event kind, rows). Raises MalformedMessage or InputLimit; returns
    kind 'not_bounce'/'auto_reply' with no rows for mail that is not a failure report."""
    _check_limits(raw)
    parsed = parse_message(raw)
    if parsed.kind in ("not_bounce", "auto_reply"):
        return parsed.kind, []
    if len(parsed.verdicts) > MAX_RECIPIENTS:
        raise InputLimit(f"more than {MAX_RECIPIENTS:,} recipients")
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
        status, bounce_class = lake_status(v)
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


def read_message(path: Path, name: str) -> tuple[bytes, str, list[dict], str | None]:
    """(content, event kind, rows, why it is quarantined, None when it is not): whatever reading
    or parsing one input raises is that input's, never the batch's."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return b"", "", [], f"unreadable: {exc.strerror or exc}"
    try:
        with time_limit(MAX_PARSE_SECONDS):
            kind, rows = rows_from_message(raw, name)
    except MalformedMessage as exc:
        return raw, "", [], f"malformed: {exc.reason}"
    except InputLimit as exc:
        return raw, "", [], f"over a limit: {exc}"
    except Exception as exc:  # noqa: BLE001 - one input's failure, whatever it is
        return raw, "", [], f"unparseable: {type(exc).__name__}: {str(exc)[:200]}"
    if not rows:
        return raw, kind, [], "not a bounce or complaint" if kind == "not_bounce" else "automatic reply, not a failure"
    return raw, kind, rows, None


def ingest_mail(lake: EventsLake, paths: list[Path], source: str = "dsn") -> IngestReport:
    """Ingest bounce and complaint messages (one file per message)."""
    report = IngestReport(source=source)
    buckets: dict[str, list[dict]] = {"outcomes": [], "complaints": []}
    for path in paths:
        report.items_in += 1
        name = safe_name(path.name)
        raw, kind, rows, reason = read_message(path, name)
        if reason is not None:
            lake.quarantine_raw(source, name, raw, reason)
            report.quarantine(reason)
            continue
        report.items_accepted += 1
        buckets[kind].extend(rows)
    for kind, rows in buckets.items():
        if rows:
            counts = lake.ingest(kind, _table(kind, rows), source=source)
            report.events[kind] = counts.accepted
            report.duplicates += counts.duplicates
    lake.record_batch(ledger_record(report))
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
        lake.quarantine_raw("kumomta", safe_name(path.name),
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
    lake.record_batch(ledger_record(report))
    return report
