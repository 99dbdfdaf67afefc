from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.schema import COMPLAINTS


def _complaints(ids, day=2):
    return pa.Table.from_pylist(
        [{"event_id": i, "message_id": f"m-{i}", "subscriber_id": "s1", "recipient": "a@yahoo.com",
          "event_ts": datetime(2026, 3, day, 12, 0, 0, 123456, tzinfo=timezone.utc), "provider": "yahoo",
          "feedback_type": "abuse", "sending_domain": "d.example", "sending_ip": "192.0.2.1", "source": "t"} for i in ids],
        schema=COMPLAINTS,
    )


def test_ingest_partitions_by_day_with_microsecond_timestamps(tmp_path):
    lake = EventsLake(tmp_path)
    counts = lake.ingest("complaints", pa.concat_tables([_complaints(["a", "b"]), _complaints(["c"], day=3)]), source="t")
    assert counts.accepted == 3
    assert lake.partitions("complaints") == [date(2026, 3, 2), date(2026, 3, 3)]
    f = lake.files("complaints")[0]
    assert pq.read_schema(f).field("event_ts").type == pa.timestamp("us", tz="UTC")
    assert lake.read("complaints").column("event_ts")[0].as_py().microsecond == 123456


def test_reingest_is_idempotent_and_counts_add_up(tmp_path):
    lake = EventsLake(tmp_path)
    first = lake.ingest("complaints", _complaints(["a", "b"]), source="t")
    again = lake.ingest("complaints", _complaints(["a", "b", "c"]), source="t")
    assert (first.accepted, again.accepted, again.duplicates) == (2, 1, 2)
    assert again.received == again.accepted + again.quarantined + again.duplicates
    assert sorted(lake.read("complaints").column("event_id").to_pylist()) == ["a", "b", "c"]


def test_invalid_rows_land_in_quarantine_not_in_the_lake(tmp_path):
    lake = EventsLake(tmp_path)
    bad = _complaints(["x"]).set_column(6, "feedback_type", pa.array([None], pa.string()))
    counts = lake.ingest("complaints", pa.concat_tables([bad, _complaints(["y"])]), source="t")
    assert (counts.received, counts.accepted, counts.quarantined) == (2, 1, 1)
    q = lake.quarantined("complaints")
    assert q.column("quarantine_reason").to_pylist() == ["missing feedback_type"]
    assert lake.read("complaints").column("event_id").to_pylist() == ["y"]


def test_a_quarantined_row_ingested_again_is_quarantined_once_and_counted_as_a_duplicate(tmp_path):
    """A redelivered batch, even cut differently, keeps one copy of each refused row."""
    lake = EventsLake(tmp_path)
    bad = _complaints(["x", "z"]).set_column(6, "feedback_type", pa.array([None, None], pa.string()))
    first = lake.ingest("complaints", pa.concat_tables([bad, _complaints(["y"])]), source="t")
    again = lake.ingest("complaints", pa.concat_tables([bad.slice(0, 1), _complaints(["w"])]), source="t")
    assert (first.quarantined, first.reasons) == (2, {"missing feedback_type": 2})
    assert (again.received, again.accepted, again.quarantined, again.duplicates) == (2, 1, 0, 1)
    assert sorted(lake.quarantined("complaints").column("event_id").to_pylist()) == ["x", "z"]


def test_keys_read_once_per_part_still_see_every_writer(tmp_path):
    """The key cache of one lake object sees parts another writer added since."""
    mine, other = EventsLake(tmp_path), EventsLake(tmp_path)
    mine.ingest("complaints", _complaints(["a"]), source="t")
    assert mine.existing_keys("complaints") == {"a"}
    other.ingest("complaints", _complaints(["b"]), source="t")
    assert mine.ingest("complaints", _complaints(["a", "b", "c"]), source="t").duplicates == 2
    assert mine.existing_keys("complaints") == {"a", "b", "c"}
