"""KumoMTA JSON log records -> delivery outcomes, sends and complaints.

KumoMTA writes one JSON object per line (https://docs.kumomta.com/reference/log_record/):
`type` is Reception, Delivery, Bounce, TransientFailure, Expiration, AdminBounce, OOB or
Feedback; `response` carries the SMTP `code`, the `enhanced_code` parts and the reply
`content`. Each record becomes exactly one event or one quarantined line with a reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from adaptive_delivery.delivery.events.reasons import classify, outcome_for
from adaptive_delivery.delivery.providers import provider_for_domain

OUTCOME_TYPES = {"Delivery", "Bounce", "TransientFailure", "Expiration", "AdminBounce", "OOB"}
KNOWN_TYPES = OUTCOME_TYPES | {"Reception", "Feedback", "Rejection", "Delayed", "Any"}


class BadRecord(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class KumoBatch:
    outcomes: list[dict] = field(default_factory=list)
    sends: list[dict] = field(default_factory=list)
    complaints: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)  # {"line_no", "raw", "reason"}

    @property
    def counts(self) -> dict[str, int]:
        accepted = len(self.outcomes) + len(self.sends) + len(self.complaints)
        return {"in": accepted + len(self.quarantined), "accepted": accepted, "quarantined": len(self.quarantined)}


def _ts(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRecord(f"timestamp has type {type(value).__name__}")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadRecord(f"timestamp {value[:40]!r} is not ISO 8601 or epoch seconds") from exc
        # a time without a zone is read as UTC (what KumoMTA writes), never as this host's zone
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    try:
        seconds = float(value)
    except OverflowError as exc:
        raise BadRecord("timestamp outside 2000..2100") from exc
    if not 946_684_800 <= seconds <= 4_102_444_800:
        raise BadRecord(f"timestamp {str(value)[:40]} outside 2000..2100")
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _text(value: object) -> str | None:
    """An optional text field as a string (a number becomes its digits)."""
    return None if value is None or isinstance(value, dict | list) else str(value)


def _raw(text: str) -> str:
    """The start of a refused line as storable text (a lone surrogate kept as its escape)."""
    return text[:2000].encode("utf-8", "backslashreplace").decode("utf-8")


def _storable(row: dict) -> None:
    """Every text of the row can be written as UTF-8 (JSON allows lone surrogate escapes; Parquet does not)."""
    for name, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise BadRecord(f"{name} is not valid Unicode (a lone surrogate)") from exc


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[1].lower() if "@" in address else ""


def parse_record(record: object, line_no: int = 0) -> tuple[str, dict]:
    """One log record -> (event kind, row). Raises BadRecord with a reason."""
    if not isinstance(record, dict):
        raise BadRecord(f"record is a JSON {type(record).__name__}, not an object")
    kind = record.get("type")
    if kind not in KNOWN_TYPES:
        raise BadRecord(f"unknown record type {kind!r}")
    for name in ("id", "recipient", "timestamp"):
        if name not in record or record[name] in (None, ""):
            raise BadRecord(f"missing {name}")
    msg_id = str(record["id"])
    recipient = str(record["recipient"]).strip().lower()
    if "@" not in recipient:
        raise BadRecord(f"recipient {recipient!r} is not an address")
    ts = _ts(record["timestamp"])
    attempts = record.get("num_attempts", 0)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 0 <= attempts <= 100_000:
        raise BadRecord("num_attempts is not an integer between 0 and 100,000")
    sender = str(record.get("sender") or "")
    source = record.get("egress_source") or ""
    event_id = "kumo-" + hashlib.sha256(f"{msg_id}|{kind}|{attempts}|{record['timestamp']}|{recipient}".encode()).hexdigest()[:24]
    provider = provider_for_domain(_domain(recipient))
    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise BadRecord("meta is not an object")
    if kind == "Reception":
        return "sends", {
            "event_id": event_id, "message_id": msg_id, "campaign_id": _text(meta.get("campaign_id")),
            "org_id": _text(meta.get("tenant") or record.get("queue")), "subscriber_id": recipient,
            "recipient_domain": _domain(recipient), "provider": provider, "sending_domain": _domain(sender),
            "sending_ip": str(source), "content_id": None, "campaign_type": "marketing", "send_ts": ts,
            "send_rate_per_min": None,
        }
    if kind == "Feedback":
        report = record.get("feedback_report") or {}
        if not isinstance(report, dict):
            raise BadRecord("feedback_report is not an object")
        return "complaints", {
            "event_id": event_id, "message_id": msg_id, "subscriber_id": recipient, "recipient": recipient,
            "event_ts": ts, "provider": provider, "feedback_type": str(report.get("feedback_type") or "abuse").lower(),
            "sending_domain": _domain(sender), "sending_ip": str(source), "source": "kumomta",
        }
    if kind not in OUTCOME_TYPES:
        raise BadRecord(f"record type {kind} carries no delivery outcome")
    response = record.get("response")
    if not isinstance(response, dict):
        raise BadRecord("missing response object")
    code = response.get("code")
    if not isinstance(code, int) or not 200 <= code <= 599:
        raise BadRecord(f"response.code {code!r} is not an SMTP reply code")
    enhanced = response.get("enhanced_code")
    if isinstance(enhanced, dict) and {"class", "subject", "detail"} <= enhanced.keys():
        status = f"{enhanced['class']}.{enhanced['subject']}.{enhanced['detail']}"
    else:
        status = ""
    content = str(response.get("content") or "")
    if kind == "Delivery":
        status_word, reason, bounce_class = "accepted", None, None
    elif kind == "TransientFailure":
        status_word, reason, bounce_class = "deferred", classify(content, status, str(code)), None
    elif kind == "Expiration":
        status_word, reason, bounce_class = "bounced", "expired", "soft"
    else:
        reason = classify(content, status, str(code))
        outcome = outcome_for(reason)
        status_word = "blocked" if outcome == "block" else "bounced"
        bounce_class = None if status_word == "blocked" else ("hard" if outcome == "hard_bounce" else "soft")
    return "outcomes", {
        "event_id": event_id, "message_id": msg_id, "attempt": int(attempts), "event_ts": ts, "status": status_word,
        "smtp_code": code, "enhanced_status": status, "reply_text": content, "latency_ms": None,
        "bounce_class": bounce_class, "reason": reason, "placement": None, "provider": provider,
        "recipient": recipient, "subscriber_id": recipient, "sending_domain": _domain(sender),
        "sending_ip": str(source), "source": "kumomta",
    }


def parse_log(lines: list[bytes] | list[str]) -> KumoBatch:
    """Parse a whole log; every line ends as an event or a quarantined line with a reason."""
    batch = KumoBatch()
    for no, raw in enumerate(lines, 1):
        try:
            text = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            batch.quarantined.append({"line_no": no, "raw": repr(raw)[:2000], "reason": "not UTF-8"})
            continue
        if not text.strip():
            continue
        try:
            kind, row = parse_record(json.loads(text), no)
            _storable(row)
        except json.JSONDecodeError as exc:
            batch.quarantined.append({"line_no": no, "raw": _raw(text), "reason": f"invalid JSON: {exc.msg}"})
            continue
        except BadRecord as exc:
            batch.quarantined.append({"line_no": no, "raw": _raw(text), "reason": exc.reason})
            continue
        except RecursionError:
            batch.quarantined.append({"line_no": no, "raw": _raw(text), "reason": "nested too deeply"})
            continue
        except Exception as exc:  # noqa: BLE001 - one odd line is that line's problem, not the file's
            batch.quarantined.append({"line_no": no, "raw": _raw(text),
                                      "reason": f"unreadable record: {type(exc).__name__}"})
            continue
        getattr(batch, kind).append(row)
    return batch
