"""The event schema every source (real logs, DSN/ARF parsers, the simulator) produces.

Typed with pyarrow; `validate` checks a table against its schema and the value rules below and
splits it into valid rows and quarantined rows, each with a reason. Timestamps are UTC with
microsecond precision (Spark rejects nanosecond Parquet timestamps).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adaptive_delivery.platform.lake import (  # noqa: F401 - SchemaError and ValidationResult: delivery's callers find them here
    Catalogue,
    SchemaError,
    ValidationResult,
    conform_to,
    split_by_reason,
)

TS = pa.timestamp("us", tz="UTC")

DELIVERY_STATUSES = ("accepted", "deferred", "bounced", "blocked")
BOUNCE_CLASSES = ("hard", "soft")
PLACEMENTS = ("inbox", "spam")
ENGAGEMENT_TYPES = ("open", "click", "conversion", "unsubscribe")
CAMPAIGN_TYPES = ("marketing", "transactional")
DOMAIN_CATEGORIES = ("consumer", "corporate", "disposable")
PERSONALIZATION_LEVELS = ("none", "basic", "advanced")

SENDS = pa.schema(
    [
        ("event_id", pa.string()),
        ("message_id", pa.string()),
        ("campaign_id", pa.string()),
        ("org_id", pa.string()),
        ("subscriber_id", pa.string()),
        ("recipient_domain", pa.string()),
        ("provider", pa.string()),
        ("sending_domain", pa.string()),
        ("sending_ip", pa.string()),
        ("content_id", pa.string()),
        ("campaign_type", pa.string()),
        ("send_ts", TS),
        ("send_rate_per_min", pa.float64()),
    ]
)

OUTCOMES = pa.schema(
    [
        ("event_id", pa.string()),
        ("message_id", pa.string()),
        ("attempt", pa.int16()),
        ("event_ts", TS),
        ("status", pa.string()),  # accepted | deferred | bounced | blocked
        ("smtp_code", pa.int16()),
        ("enhanced_status", pa.string()),
        ("reply_text", pa.string()),
        ("latency_ms", pa.float64()),
        ("bounce_class", pa.string()),  # hard | soft | null
        ("reason", pa.string()),  # see events.reasons.REASONS
        ("placement", pa.string()),  # inbox | spam | null (unobserved)
        ("provider", pa.string()),
        ("recipient", pa.string()),
        ("subscriber_id", pa.string()),
        ("sending_domain", pa.string()),
        ("sending_ip", pa.string()),
        ("source", pa.string()),  # simulator | dsn | kumomta
    ]
)

COMPLAINTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("message_id", pa.string()),
        ("subscriber_id", pa.string()),
        ("recipient", pa.string()),
        ("event_ts", TS),
        ("provider", pa.string()),
        ("feedback_type", pa.string()),  # abuse | fraud | virus | not-spam | other
        ("sending_domain", pa.string()),
        ("sending_ip", pa.string()),
        ("source", pa.string()),  # simulator | arf
    ]
)

ENGAGEMENT = pa.schema(
    [
        ("event_id", pa.string()),
        ("message_id", pa.string()),
        ("campaign_id", pa.string()),
        ("subscriber_id", pa.string()),
        ("event_ts", TS),
        ("event_type", pa.string()),  # open | click | conversion | unsubscribe
        ("machine_open", pa.bool_()),  # Apple Mail Privacy Protection and similar prefetches
        ("client", pa.string()),
        ("device", pa.string()),
    ]
)

SUBSCRIBERS = pa.schema(
    [
        ("subscriber_id", pa.string()),
        ("org_id", pa.string()),
        ("email", pa.string()),
        ("email_domain", pa.string()),
        ("provider", pa.string()),
        ("domain_category", pa.string()),
        ("timezone_offset_hours", pa.int8()),
        ("signup_ts", TS),
        ("acquisition_source", pa.string()),
        ("client", pa.string()),
        ("device", pa.string()),
    ]
)

SENDERS = pa.schema(
    [
        ("org_id", pa.string()),
        ("sending_domain", pa.string()),
        ("domain_created_ts", TS),
        ("spf", pa.bool_()),
        ("dkim", pa.bool_()),
        ("dmarc", pa.bool_()),
        ("one_click_unsubscribe", pa.bool_()),
    ]
)

IPS = pa.schema(
    [
        ("sending_ip", pa.string()),
        ("org_id", pa.string()),
        ("sending_domain", pa.string()),
        ("first_used_ts", TS),
    ]
)

CAMPAIGNS = pa.schema(
    [
        ("campaign_id", pa.string()),
        ("org_id", pa.string()),
        ("content_id", pa.string()),
        ("campaign_type", pa.string()),
        ("scheduled_ts", TS),
        ("send_rate_per_min", pa.float64()),
        ("audience_size", pa.int64()),
    ]
)

CONTENTS = pa.schema(
    [
        ("content_id", pa.string()),
        ("org_id", pa.string()),
        ("subject", pa.string()),
        ("preheader", pa.string()),
        ("body_text", pa.string()),
        ("link_count", pa.int32()),
        ("image_count", pa.int32()),
        ("has_unsubscribe_link", pa.bool_()),
        ("has_list_unsubscribe_header", pa.bool_()),
        ("personalization_level", pa.string()),
        # MDL-007's P(spam) of the content as sent, recorded by the pre-send check (null: not scored)
        ("spam_risk", pa.float64()),
    ]
)

# Event kinds are partitioned by day in the lake; dimensions are snapshots.
EVENT_SCHEMAS: dict[str, pa.Schema] = {
    "sends": SENDS,
    "outcomes": OUTCOMES,
    "complaints": COMPLAINTS,
    "engagement": ENGAGEMENT,
}
DIMENSION_SCHEMAS: dict[str, pa.Schema] = {
    "subscribers": SUBSCRIBERS,
    "senders": SENDERS,
    "ips": IPS,
    "campaigns": CAMPAIGNS,
    "contents": CONTENTS,
}
SCHEMAS: dict[str, pa.Schema] = {**EVENT_SCHEMAS, **DIMENSION_SCHEMAS}
TIME_COLUMN: dict[str, str] = {
    "sends": "send_ts",
    "outcomes": "event_ts",
    "complaints": "event_ts",
    "engagement": "event_ts",
}
KEY_COLUMN: dict[str, str] = {
    "sends": "event_id",
    "outcomes": "event_id",
    "complaints": "event_id",
    "engagement": "event_id",
    "subscribers": "subscriber_id",
    "senders": "sending_domain",
    "ips": "sending_ip",
    "campaigns": "campaign_id",
    "contents": "content_id",
}

# Columns a source may leave out: they are read as null (a sender that runs no content check).
OPTIONAL: dict[str, tuple[str, ...]] = {"contents": ("spam_risk",)}

# Columns that must never be null, and the closed vocabularies some columns draw from.
REQUIRED: dict[str, tuple[str, ...]] = {
    "sends": ("event_id", "message_id", "subscriber_id", "provider", "sending_ip", "send_ts"),
    "outcomes": ("event_id", "message_id", "event_ts", "status"),
    "complaints": ("event_id", "event_ts", "feedback_type"),
    "engagement": ("event_id", "subscriber_id", "event_ts", "event_type", "machine_open"),
    "subscribers": ("subscriber_id", "email_domain", "provider"),
    "senders": ("org_id", "sending_domain"),
    "ips": ("sending_ip", "org_id"),
    "campaigns": ("campaign_id", "org_id", "content_id"),
    "contents": ("content_id", "subject"),
}
VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    "outcomes": {"status": DELIVERY_STATUSES, "bounce_class": BOUNCE_CLASSES, "placement": PLACEMENTS},
    "engagement": {"event_type": ENGAGEMENT_TYPES},
    "sends": {"campaign_type": CAMPAIGN_TYPES},
    "subscribers": {"domain_category": DOMAIN_CATEGORIES},
    "contents": {"personalization_level": PERSONALIZATION_LEVELS},
}


def conform(kind: str, table: pa.Table) -> pa.Table:
    """Select and cast the columns of `kind`, failing with a message naming what is wrong."""
    return conform_to(SCHEMAS, kind, table, OPTIONAL.get(kind, ()))


def validate(kind: str, table: pa.Table) -> ValidationResult:
    """Split rows into valid and quarantined (with the first rule each row breaks)."""
    table = conform(kind, table)
    n = table.num_rows
    reasons = np.full(n, None, dtype=object)

    def flag(mask: np.ndarray, reason: str) -> None:
        hit = mask & (reasons == None)  # noqa: E711 - elementwise on an object array
        reasons[hit] = reason

    for name in REQUIRED.get(kind, ()):
        flag(table.column(name).is_null().to_numpy(zero_copy_only=False), f"missing {name}")
    for name, allowed in VOCABULARY.get(kind, {}).items():
        col = table.column(name)
        bad = pc.and_(pc.invert(pc.is_in(col, value_set=pa.array(allowed))), pc.is_valid(col))
        flag(bad.to_numpy(zero_copy_only=False), f"{name} not in {list(allowed)}")
    if kind in TIME_COLUMN:
        ts = table.column(TIME_COLUMN[kind]).cast(pa.int64()).to_numpy(zero_copy_only=False)
        # 2000-01-01 .. 2100-01-01 in microseconds: anything outside is a parsing accident
        flag((ts < 946_684_800_000_000) | (ts > 4_102_444_800_000_000), "timestamp out of range")
    if kind == "outcomes":
        code = table.column("smtp_code").to_numpy(zero_copy_only=False)
        code = np.where(np.isnan(code.astype(float)), 0, code).astype(int) if code.dtype == object else code
        flag((code != 0) & ((code < 200) | (code > 599)), "smtp_code outside 200..599")
        lat = table.column("latency_ms").to_numpy(zero_copy_only=False).astype(float)
        flag(lat < 0, "negative latency")
    if kind == "contents":
        col = table.column("spam_risk")
        risk = col.to_numpy(zero_copy_only=False).astype(float)
        scored = pc.is_valid(col).to_numpy(zero_copy_only=False)
        flag(scored & ~((risk >= 0) & (risk <= 1)), "spam_risk outside 0..1")  # null: not scored
    if kind == "engagement":
        mo = table.column("machine_open").to_numpy(zero_copy_only=False)
        et = np.asarray(table.column("event_type").to_pylist(), dtype=object)
        flag((mo == True) & (et != "open"), "machine_open on a non-open event")  # noqa: E712
    if kind in KEY_COLUMN and n:
        keys = table.column(KEY_COLUMN[kind]).to_numpy(zero_copy_only=False)
        _, first = np.unique(keys.astype(str), return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        flag(dup, f"duplicate {KEY_COLUMN[kind]} within batch")
    return split_by_reason(table, reasons, kind)


CATALOGUE = Catalogue(events=EVENT_SCHEMAS, dimensions=DIMENSION_SCHEMAS, time_column=TIME_COLUMN,
                      key_column=KEY_COLUMN, conform=conform, validate=validate)
