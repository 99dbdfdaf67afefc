"""Engagement webhooks read as the lake's events: each type to its kind, machine opens flagged,
repeats recognisable by id, and everything else refused with a reason, never dropped."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_delivery.delivery.events.schema import EVENT_SCHEMAS
from adaptive_delivery.delivery.events.stream import REFUSED, decode
from adaptive_delivery.delivery.events.webhooks import (
    WebhookError,
    parse,
    stream_entries,
    user_agent,
)
from adaptive_delivery.platform.streams import Entry

IPHONE_MAIL = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


def _event(kind: str, n: int = 1, **extra) -> dict:
    return {"email": "ann@example.org", "timestamp": 1_767_000_000 + n, "event": kind, "sg_event_id": f"ev-{kind}-{n}",
            "sg_message_id": f"sg{n}.filter", "message_id": f"m-{n}", "subscriber_id": "s-1", "campaign_id": "c-1",
            **extra}


def _body(*events: dict) -> bytes:
    return json.dumps(list(events)).encode()


def test_each_engagement_type_becomes_its_event_and_machine_opens_are_flagged():
    got = parse(_body(_event("open", 1, sg_machine_open=True, useragent="Mozilla/5.0"),
                      _event("open", 2, sg_machine_open=False, useragent=IPHONE_MAIL),
                      _event("click", 3, url="https://example.org/x", useragent=IPHONE_MAIL),
                      _event("unsubscribe", 4), _event("group_unsubscribe", 5), _event("spamreport", 6)))
    assert got.refused == []
    kinds = [(k, r.get("event_type"), r.get("machine_open")) for k, r in got.events]
    assert kinds == [("engagement", "open", True), ("engagement", "open", False), ("engagement", "click", False),
                     ("engagement", "unsubscribe", False), ("engagement", "unsubscribe", False),
                     ("complaints", None, None)]
    machine, human = got.events[0][1], got.events[1][1]
    assert machine["device"] == "unknown"  # a prefetch says nothing about the reader's device
    assert (human["client"], human["device"]) == ("apple_mail", "mobile")
    assert human["message_id"] == "m-2" and human["event_id"] == "ev-open-2" and human["subscriber_id"] == "s-1"
    assert got.events[5][1]["feedback_type"] == "abuse" and got.events[5][1]["source"] == "webhook"


def test_every_event_taken_decodes_as_the_stream_consumer_reads_it():
    got = parse(_body(_event("open", 1, sg_machine_open=True), _event("click", 2), _event("spamreport", 3)))
    for kind, row in got.events:
        decoded_kind, decoded = decode(Entry("1-0", {b"kind": kind.encode(), b"event": json.dumps(row).encode()}))
        assert decoded_kind == kind and set(decoded) == set(EVENT_SCHEMAS[kind].names)
        assert decoded["event_ts"].year == 2025


@pytest.mark.parametrize(("event", "reason"), [
    (_event("delivered"), "delivery outcome"),
    (_event("bounce"), "delivery outcome"),
    (_event("mystery"), "unknown webhook event type"),
    ({k: v for k, v in _event("open").items() if k != "message_id"}, "no message_id"),
    ({k: v for k, v in _event("open").items() if k != "sg_event_id"}, "no sg_event_id"),
    (_event("open", timestamp="yesterday"), "Unix seconds"),
    (_event("open", timestamp=10**20), "no time"),
    (_event("click", message_id={"nested": 1}), "expected text"),
    ("just text", "JSON object"),
])
def test_what_is_not_an_engagement_event_is_refused_with_why(event, reason):
    got = parse(json.dumps([event, _event("open", 9)]).encode())
    assert len(got.events) == 1 and len(got.refused) == 1
    raw, why = got.refused[0]
    assert reason in why and json.loads(raw) == event  # kept as it came


def test_a_body_that_is_no_post_is_an_error():
    for body in (b"{not json", b'"text"', b"42", json.dumps([{}] * 10_001).encode()):
        with pytest.raises(WebhookError):
            parse(body)
    assert len(parse(json.dumps(_event("open")).encode()).events) == 1  # one object is one event


def test_refused_events_travel_as_refused_entries_with_their_reason():
    entries = list(stream_entries(_body(_event("open", 1), _event("delivered", 2)), "post-1"))
    assert [k for k, _ in entries] == ["engagement", REFUSED]
    assert "delivery outcome" in entries[1][1]["reason"] and entries[1][1]["source"] == "webhook"


@pytest.mark.parametrize(("agent", "expected"), [
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", ("gmail_web", "unknown")),
    ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", ("yahoo_app", "unknown")),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.5)", ("outlook", "desktop")),
    ("Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", ("apple_mail", "tablet")),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36", ("other", "mobile")),
    (None, ("other", "unknown")),
])
def test_the_user_agent_names_client_and_device_as_the_lake_does(agent, expected):
    assert user_agent(agent) == expected


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
EVENTISH = st.fixed_dictionaries({}, optional={
    "event": st.sampled_from(["open", "click", "unsubscribe", "spamreport", "delivered", "x"]) | JSON,
    "sg_event_id": st.text(max_size=6) | JSON, "message_id": st.text(max_size=6) | JSON,
    "timestamp": st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | JSON,
    "sg_machine_open": st.booleans() | JSON, "useragent": st.text(max_size=30) | JSON})


@given(st.lists(EVENTISH | JSON, max_size=12))
def test_no_event_of_a_post_is_lost(items):
    """Whatever a post holds, each of its events is taken or refused with a reason, nothing raised."""
    got = parse(json.dumps(items).encode())
    assert len(got.events) + len(got.refused) == len(items)
    assert all(why for _, why in got.refused)
