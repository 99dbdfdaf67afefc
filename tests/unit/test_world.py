"""The simulator: determinism, the schema, truth kept apart, and the events it emits."""

import hashlib
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.schema import EVENT_SCHEMAS, validate
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*.parquet")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_byte_identical_output(tmp_path):
    cfg = WorldConfig(subscribers=800, days=3, seed=5)
    simulate(cfg, tmp_path / "a", progress=False)
    simulate(cfg, tmp_path / "b", progress=False)
    simulate(cfg.with_(seed=6), tmp_path / "c", progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_every_event_table_validates_without_quarantine(tiny_world):
    lake = EventsLake(tiny_world / "lake")
    for kind in EVENT_SCHEMAS:
        table = lake.read(kind)
        assert table.num_rows > 0, kind
        result = validate(kind, table)
        assert result.quarantined.num_rows == 0, (kind, result.quarantined.column("quarantine_reason").to_pylist()[:3])


def test_lake_timestamps_are_microseconds_and_partitions_hold_their_day(tiny_world):
    lake = EventsLake(tiny_world / "lake")
    for kind, col in (("sends", "send_ts"), ("outcomes", "event_ts"), ("engagement", "event_ts")):
        for day in lake.partitions(kind):
            for f in lake.files(kind, [day]):
                t = pq.read_table(f, columns=[col])
                assert str(t.schema.field(col).type) == "timestamp[us, tz=UTC]"
                days = {v.date() for v in t.column(col).to_pylist()}
                assert days == {day}, (kind, f)


def test_truth_is_kept_out_of_the_lake(tiny_world):
    truth_cols = {"p_inbox", "p_spam", "true_class", "spam_trap", "open_prob_by_utc_hour", "hourly_limit",
                  "standing_blind_p_inbox", "subscriber_engagement", "content_spamminess"}
    for f in (tiny_world / "lake").rglob("*.parquet"):
        assert not truth_cols & set(pq.read_schema(f).names), f
    assert (tiny_world / "truth" / "subscribers.parquet").exists()
    assert (tiny_world / "truth" / "providers.parquet").exists()


def test_truth_probabilities_are_distributions_and_match_realised_classes(tiny_world):
    import pyarrow.dataset as ds

    t = ds.dataset(tiny_world / "truth" / "messages", partitioning="hive").to_table()
    total = pc.add(pc.add(pc.add(pc.add(t["p_inbox"], t["p_spam"]), t["p_soft_bounce"]), t["p_hard_bounce"]), t["p_block"])
    assert pc.max(pc.abs(pc.subtract(total, 1.0))).as_py() < 1e-4
    n = t.num_rows
    for cls in ("inbox", "spam", "block", "hard_bounce"):
        realised = pc.sum(pc.equal(t["true_class"], cls).cast("int64")).as_py() / n
        expected = pc.mean(t[f"p_{cls}"]).as_py()
        assert abs(realised - expected) < 4 * (expected * (1 - expected) / n) ** 0.5 + 1e-3, cls


def test_outcomes_carry_real_provider_replies(tiny_world):
    o = EventsLake(tiny_world / "lake").read("outcomes")
    gmail_defer = o.filter(pc.and_(pc.equal(o["provider"], "gmail"), pc.equal(o["status"], "bounced")))
    texts = " ".join(gmail_defer["reply_text"].to_pylist())
    assert "gsmtp" in texts or gmail_defer.num_rows == 0
    codes = set(o["smtp_code"].to_pylist())
    assert 250 in codes and any(c >= 500 for c in codes)
    assert set(o["status"].to_pylist()) <= {"accepted", "deferred", "bounced", "blocked"}


def test_machine_opens_come_from_apple_mail_readers(tiny_world):
    e = EventsLake(tiny_world / "lake").read("engagement")
    machine = e.filter(e["machine_open"])
    assert machine.num_rows > 0
    assert set(machine["client"].to_pylist()) == {"apple_mail"}
    assert set(machine["event_type"].to_pylist()) == {"open"}


def test_suppression_setting_decides_whether_dead_addresses_are_mailed_again(tmp_path):
    from adaptive_delivery.twin.config import SenderConfig

    def repeat_hard_bounces(after: int) -> int:
        sender = SenderConfig("solo", "mail.solo.example", 1.0, n_ips=1, suppress_after_hard_bounces=after,
                              initial_invalid_share=0.1, audience_share=0.9)
        out = tmp_path / f"after{after}"
        simulate(WorldConfig(subscribers=2_000, days=4, seed=3, senders=(sender,)), out, progress=False)
        o = EventsLake(out / "lake").read("outcomes").to_pandas()
        hard = o[o["bounce_class"] == "hard"]
        return int((hard.groupby("subscriber_id").size() > 1).sum())

    assert repeat_hard_bounces(1) == 0  # suppressed after the first hard bounce
    assert repeat_hard_bounces(0) > 0  # 0: never suppressed, dead addresses keep bouncing


def test_a_send_filter_decides_which_planned_messages_go_out():
    from adaptive_delivery.twin.simulator import World

    cfg = WorldConfig(subscribers=1_500, days=2, seed=9)
    planned = []

    def every_other(day: int, sends) -> list[bool]:
        planned.append(sends.column("message_id").to_pylist())
        return [i % 2 == 0 for i in range(sends.num_rows)]

    free, filtered = World(cfg), World(cfg)
    all_sent = free.step_day().events["sends"].column("message_id").to_pylist()
    some_sent = filtered.step_day(every_other).events["sends"].column("message_id").to_pylist()
    assert planned[0] == all_sent  # the filter sees exactly what would have gone out
    assert some_sent == all_sent[::2]
    outcomes = filtered.step_day(lambda d, s: [False] * s.num_rows)
    assert outcomes.events == {}  # nothing sent, nothing happens


def test_send_hours_move_campaign_mail_to_the_hours_given_and_leave_transactional_mail():
    import numpy as np
    import pytest

    from adaptive_delivery.twin.simulator import World

    cfg = WorldConfig(subscribers=3_000, days=3, seed=9)
    free, scheduled = World(cfg), World(cfg)
    for _ in range(2):  # a few days in, so that transactional mail is among the planned sends
        free.step_day()
        scheduled.step_day()

    def by_subscriber(day: int, sends) -> np.ndarray:
        ids = sends.column("subscriber_id").to_pylist()
        return np.array([float(int(s[1:]) % 24) for s in ids])  # each person's own hour, a pattern no sender uses

    planned = free.step_day().events["sends"].to_pandas()
    moved = scheduled.step_day(send_hours=by_subscriber).events["sends"].to_pandas()
    assert sorted(planned["message_id"]) == sorted(moved["message_id"])  # the same mail, at other times
    marketing = moved[moved["campaign_type"] == "marketing"]
    assert (marketing["send_ts"].dt.hour == marketing["subscriber_id"].str[1:].astype(int) % 24).all()
    assert moved["send_ts"].is_monotonic_increasing
    keep = planned.set_index("message_id")["send_ts"]
    transactional = moved[moved["campaign_type"] == "transactional"]
    assert len(transactional) and (transactional.set_index("message_id")["send_ts"] == keep[transactional["message_id"]]).all()
    with pytest.raises(ValueError, match="UTC hours of the day"):
        World(cfg).step_day(send_hours=lambda d, s: np.full(s.num_rows, 24.0))
