"""The stream's lake sink on entries of any shape: nothing it is given raises, every entry is
accounted for (in = accepted + quarantined + duplicates), and whatever is accepted is in the lake."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.stream import EntryError, LakeSink, decode
from adaptive_delivery.platform.streams import EVENT_FIELD, KIND_FIELD, Entry

COMPLAINT = {"event_id": "c-1", "message_id": "m-1", "subscriber_id": "s-1", "recipient": "a@yahoo.com",
             "event_ts": "2026-03-02T12:00:00.123456+00:00", "provider": "yahoo", "feedback_type": "abuse",
             "sending_domain": "d.example", "sending_ip": "192.0.2.1", "source": "t"}

json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3), max_leaves=6)
mutated = st.builds(lambda field, value: {**COMPLAINT, field: value}, st.sampled_from(sorted(COMPLAINT)), json_values)
entries = st.lists(st.one_of(
    st.builds(lambda row: (b"complaints", json.dumps(row).encode()), mutated),
    st.builds(lambda kind, raw: (kind, raw), st.sampled_from([b"complaints", b"outcomes", b"nope", b""]),
              st.binary(max_size=40)),
), min_size=1, max_size=12)


def _entry(i: int, kind: bytes, event: bytes, redelivered: bool = False) -> Entry:
    return Entry(f"{i}-0", {KIND_FIELD: kind, EVENT_FIELD: event}, redelivered)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries)
def test_any_batch_is_accounted_for_and_never_raises(batch):
    with tempfile.TemporaryDirectory() as tmp:
        lake = EventsLake(Path(tmp))
        done = LakeSink(lake)([_entry(i, k, e) for i, (k, e) in enumerate(batch)]).line
        assert done["items_in"] == len(batch) == done["items_accepted"] + done["items_quarantined"] + done["duplicates"]
        written = lake.read("complaints").num_rows if lake.partitions("complaints") else 0
        assert written == done["items_accepted"]


def test_a_good_event_is_read_with_its_time_and_a_bad_one_is_named():
    kind, row = decode(_entry(1, b"complaints", json.dumps(COMPLAINT).encode()))
    assert kind == "complaints" and row["event_ts"] == datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)
    micro = decode(_entry(2, b"complaints", json.dumps({**COMPLAINT, "event_ts": 1_772_452_800_000_000}).encode()))[1]
    assert micro["event_ts"] == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    for event, says in (({**COMPLAINT, "event_ts": "soon"}, "ISO 8601"), ({**COMPLAINT, "provider": 3}, "expected text"),
                        ([1, 2], "not a JSON object")):
        try:
            decode(_entry(3, b"complaints", json.dumps(event).encode()))
        except EntryError as exc:
            assert says in str(exc)
        else:
            raise AssertionError(f"{event} was read")


def test_a_redelivered_event_already_written_is_counted_once_as_accepted(tmp_path):
    """A consumer died after writing and before acknowledging: the redelivery counts what it wrote."""
    lake = EventsLake(tmp_path)
    raw = json.dumps(COMPLAINT).encode()
    LakeSink(lake)([_entry(1, b"complaints", raw)])  # written; its ledger line never reached the stream
    again = LakeSink(lake)([_entry(1, b"complaints", raw, redelivered=True)]).line
    fresh_copy = LakeSink(lake)([_entry(2, b"complaints", raw)]).line  # a producer's retry
    assert (again["items_accepted"], again["duplicates"], again["recovered"]) == (1, 0, 1)
    assert (fresh_copy["items_accepted"], fresh_copy["duplicates"]) == (0, 1)
    assert lake.read("complaints").num_rows == 1
