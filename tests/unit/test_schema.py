from datetime import datetime, timezone

import pyarrow as pa
import pytest

from adaptive_delivery.delivery.events.schema import OUTCOMES, SchemaError, conform, validate


def _outcome(**over):
    row = {
        "event_id": "e1", "message_id": "m1", "attempt": 1, "event_ts": datetime(2026, 3, 2, tzinfo=timezone.utc),
        "status": "accepted", "smtp_code": 250, "enhanced_status": "2.0.0", "reply_text": "OK", "latency_ms": 12.0,
        "bounce_class": None, "reason": None, "placement": "inbox", "provider": "gmail", "recipient": "a@gmail.com",
        "subscriber_id": "s1", "sending_domain": "d.example", "sending_ip": "192.0.2.1", "source": "test",
    }
    row.update(over)
    return row


def test_valid_rows_pass_and_bad_rows_are_quarantined_with_reasons():
    rows = [
        _outcome(),
        _outcome(event_id="e2", status="exploded"),
        _outcome(event_id="e3", smtp_code=999),
        _outcome(event_id="e4", message_id=None),
        _outcome(event_id="e5", event_ts=datetime(1970, 1, 2, tzinfo=timezone.utc)),
        _outcome(event_id="e6", latency_ms=-3.0),
        _outcome(event_id="e1"),  # duplicate key within the batch
    ]
    result = validate("outcomes", pa.Table.from_pylist(rows, schema=OUTCOMES))
    assert result.valid.column("event_id").to_pylist() == ["e1"]
    reasons = dict(zip(result.quarantined.column("event_id").to_pylist(), result.quarantined.column("quarantine_reason").to_pylist(), strict=False))
    assert reasons["e2"].startswith("status not in")
    assert reasons["e3"] == "smtp_code outside 200..599"
    assert reasons["e4"] == "missing message_id"
    assert reasons["e5"] == "timestamp out of range"
    assert reasons["e6"] == "negative latency"
    assert reasons["e1"] == "duplicate event_id within batch"
    assert result.counts == {"in": 7, "accepted": 1, "quarantined": 6}


def test_conform_names_the_missing_column():
    with pytest.raises(SchemaError, match=r"missing columns \['message_id'"):
        conform("outcomes", pa.table({"event_id": ["x"]}))


def test_conform_refuses_uncastable_types():
    table = pa.Table.from_pylist([_outcome()], schema=OUTCOMES)
    bad = table.set_column(table.schema.get_field_index("smtp_code"), "smtp_code", pa.array(["two-fifty"]))
    with pytest.raises(SchemaError, match="smtp_code"):
        conform("outcomes", bad)


def test_unknown_kind_is_an_error():
    with pytest.raises(SchemaError, match="unknown event kind"):
        conform("letters", pa.table({"a": [1]}))


def _content(**over):
    row = {"content_id": "c1", "org_id": "o", "subject": "Hi", "preheader": "", "body_text": "Hello",
           "link_count": 1, "image_count": 0, "has_unsubscribe_link": True, "has_list_unsubscribe_header": True,
           "personalization_level": "basic"}
    row.update(over)
    return row


def test_a_content_check_score_is_optional_and_must_be_a_probability():
    plain = conform("contents", pa.Table.from_pylist([_content()]))  # a sender that runs no content check
    assert plain.column("spam_risk").to_pylist() == [None]
    scored = pa.Table.from_pylist([_content(spam_risk=0.3), _content(content_id="c2", spam_risk=1.5),
                                   _content(content_id="c3", spam_risk=float("nan")), _content(content_id="c4", spam_risk=None)])
    result = validate("contents", scored)
    assert result.valid.column("content_id").to_pylist() == ["c1", "c4"]
    assert set(result.quarantined.column("quarantine_reason").to_pylist()) == {"spam_risk outside 0..1"}
