"""Engagement webhooks as delivery events (SendGrid's Event Webhook format, which most sending
platforms' webhooks resemble: a JSON array of event objects).

A sending platform posts what subscribers did with a message: opens, with whether a machine opened
it (Apple Mail Privacy Protection and similar services fetch every image: `sg_machine_open`), clicks,
unsubscribes and spam reports. Each becomes one event of the lake's schemas: an engagement event,
or a complaint for a spam report. The message id is the sender's own, sent with the message as a
custom argument (`message_id`, with `subscriber_id` and `campaign_id` beside it), which the webhook
echoes on every event; the event id is the platform's (`sg_event_id`), so a webhook posted twice
(platforms retry until they get a 2xx) gives duplicates, not new events. Delivery outcomes
(delivered, bounce, deferred, dropped) come from the MTA's log and the replies, not from here: such
an event is refused with that reason, as is one that cannot be read. Refused events travel on as
themselves, with the reason, into the lake's raw quarantine (`stream.refused`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SOURCE = "webhook"
ENGAGEMENT_TYPES = {"open": "open", "click": "click", "unsubscribe": "unsubscribe",
                    "group_unsubscribe": "unsubscribe"}
COMPLAINT_TYPES = frozenset({"spamreport"})
DELIVERY_TYPES = frozenset({"processed", "delivered", "deferred", "bounce", "dropped", "blocked"})
MAX_EVENTS = 10_000  # per post (SendGrid batches at most a few thousand)


class WebhookError(ValueError):
    """A post that is not a webhook body at all (answered with a 400 and the reason)."""


@dataclass
class WebhookEvents:
    """What one post holds: events as (kind, row as JSON wants it), and refused events as
    (the event's JSON, why)."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refused: list[tuple[bytes, str]] = field(default_factory=list)


def parse(body: bytes) -> WebhookEvents:
    """A post's body as events; WebhookError when it is not a JSON array (of at most MAX_EVENTS)."""
    try:
        items = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookError(f"the body is not JSON: {exc}") from exc
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise WebhookError("the body is not a JSON array of events")
    if len(items) > MAX_EVENTS:
        raise WebhookError(f"{len(items):,} events in one post; at most {MAX_EVENTS:,}")
    out = WebhookEvents()
    for item in items:
        try:
            out.events.append(event(item))
        except ValueError as exc:
            out.refused.append((json.dumps(item, default=str).encode(), str(exc)))
    return out


def event(item: Any) -> tuple[str, dict[str, Any]]:
    """(kind, row) of one webhook event, or ValueError saying why it is not one we take."""
    if not isinstance(item, dict):
        raise ValueError("a webhook event is a JSON object")
    kind = item.get("event")
    if not isinstance(kind, str):
        raise ValueError("no event type (the 'event' field is missing or not text)")
    if kind in DELIVERY_TYPES:
        raise ValueError(f"a {kind!r} event is a delivery outcome: outcomes come from the MTA's log and replies")
    if kind not in ENGAGEMENT_TYPES and kind not in COMPLAINT_TYPES:
        raise ValueError(f"unknown webhook event type {str(kind)[:40]!r}")
    ids = {name: _text(item, name) for name in ("sg_event_id", "message_id", "subscriber_id", "campaign_id")}
    if ids["sg_event_id"] is None:
        raise ValueError("no sg_event_id: the event cannot be told from a repeat")
    if ids["message_id"] is None:
        raise ValueError("no message_id custom argument: the event cannot be tied to its message")
    when = _time(item.get("timestamp"))
    if kind in COMPLAINT_TYPES:
        return "complaints", {
            "event_id": ids["sg_event_id"], "message_id": ids["message_id"], "subscriber_id": ids["subscriber_id"],
            "recipient": _text(item, "email"), "event_ts": when, "provider": None, "feedback_type": "abuse",
            "sending_domain": None, "sending_ip": None, "source": SOURCE}
    machine = kind == "open" and item.get("sg_machine_open") is True
    client, device = user_agent(_text(item, "useragent"))
    return "engagement", {
        "event_id": ids["sg_event_id"], "message_id": ids["message_id"], "campaign_id": ids["campaign_id"],
        "subscriber_id": ids["subscriber_id"], "event_ts": when, "event_type": ENGAGEMENT_TYPES[kind],
        "machine_open": machine, "client": client, "device": "unknown" if machine else device}


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{name}: expected text")
    return str(value)


def _time(value: Any) -> str:
    """A webhook's Unix time (seconds) as ISO 8601 text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("timestamp: expected Unix seconds")
    try:
        return datetime.fromtimestamp(value, UTC).isoformat()
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"timestamp: {value} is no time") from exc


def user_agent(agent: str | None) -> tuple[str, str]:
    """(mail client, device) as the lake names them, from the user agent that fetched the pixel
    (image proxies hide the device)."""
    if not agent:
        return "other", "unknown"
    if "GoogleImageProxy" in agent:
        return "gmail_web", "unknown"
    if "YahooMailProxy" in agent:
        return "yahoo_app", "unknown"
    if "Outlook" in agent or "Microsoft Office" in agent or "ms-office" in agent:
        client = "outlook"
    elif "AppleWebKit" in agent and "Safari" not in agent and any(a in agent for a in ("iPhone", "iPad", "Macintosh")):
        client = "apple_mail"  # Apple Mail's web view sends WebKit without Safari's token
    else:
        client = "other"
    if "iPad" in agent or "Tablet" in agent:
        return client, "tablet"
    if "iPhone" in agent or "Mobile" in agent or "Android" in agent:
        return client, "mobile"
    if any(a in agent for a in ("Windows NT", "Macintosh", "X11")):
        return client, "desktop"
    return client, "unknown"


def stream_entries(body: bytes, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """A post as stream entries: its events, and each refused event as itself with why (`name`
    names the post in the quarantine)."""
    from adaptive_delivery.delivery.events.stream import refused

    parsed = parse(body)
    yield from parsed.events
    for i, (raw, reason) in enumerate(parsed.refused):
        yield refused(SOURCE, f"{name}-{i}", raw, reason)
