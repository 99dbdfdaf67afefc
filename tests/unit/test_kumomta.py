from pathlib import Path

from adaptive_delivery.delivery.events.ingest import ingest_kumomta
from adaptive_delivery.delivery.events.kumomta import parse_log
from adaptive_delivery.delivery.events.lake import EventsLake

LOG = Path(__file__).resolve().parents[1] / "data" / "kumomta.jsonl"


def test_records_become_events_or_quarantined_lines_with_reasons():
    batch = parse_log(LOG.read_bytes().splitlines())
    assert batch.counts == {"in": 13, "accepted": 7, "quarantined": 6}
    by_id = {r["message_id"]: r for r in batch.outcomes}
    assert by_id["a1"]["status"] == "accepted"
    assert by_id["a2"]["status"] == "deferred" and by_id["a2"]["reason"] in {"speeding", "badreputation"}
    assert (by_id["a3"]["status"], by_id["a3"]["bounce_class"], by_id["a3"]["reason"]) == ("bounced", "hard", "userunknown")
    assert (by_id["a4"]["status"], by_id["a4"]["reason"]) == ("blocked", "blocked")
    assert (by_id["a5"]["reason"], by_id["a5"]["bounce_class"]) == ("expired", "soft")
    assert batch.sends[0]["provider"] == "gmail" and batch.complaints[0]["feedback_type"] == "abuse"
    reasons = sorted(q["reason"] for q in batch.quarantined)
    assert reasons == sorted([
        "missing response object", "invalid JSON: Expecting value", "unknown record type 'Teleport'",
        "recipient 'nobody' is not an address", "response.code '550' is not an SMTP reply code", "record is a JSON list, not an object",
    ])


def test_ingesting_a_log_twice_adds_nothing(tmp_path):
    lake = EventsLake(tmp_path)
    first = ingest_kumomta(lake, LOG)
    second = ingest_kumomta(lake, LOG)
    assert first.items_in == first.items_accepted + first.items_quarantined == 13
    assert sum(first.events.values()) == 7 and sum(second.events.values()) == 0 and second.duplicates == 7
    assert lake.read("outcomes").num_rows == 5
