"""Delivery events through a real Redis stream into the lake: the same lake as the batch path's,
nothing lost or doubled when consumers are killed, bad entries quarantined with their reason."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from adaptive_delivery.delivery.events.ingest import ingest_kumomta, ingest_mail
from adaptive_delivery.delivery.events.lake import QUARANTINE, EventsLake
from adaptive_delivery.delivery.events.outcome_store import OutcomeStore
from adaptive_delivery.delivery.events.schema import EVENT_SCHEMAS, KEY_COLUMN
from adaptive_delivery.delivery.events.stream import (
    LakeSink,
    in_time_order,
    kumomta_events,
    lake_table,
    mail_events,
    replay,
)
from adaptive_delivery.delivery.models.mdl001_deliverability.model import (
    CLASSES,
    PARTIAL_LABELS,
    labels_from_lake,
)
from adaptive_delivery.delivery.models.mdl001_deliverability.spec import SPEC as MDL001
from adaptive_delivery.platform import feedback
from adaptive_delivery.platform.streams import StreamConsumer, connect, ledger, publish
from adaptive_delivery.platform.training.evaluation import classification_report
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def small_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stream_world")
    simulate(WorldConfig(subscribers=1_500, days=3, seed=5), out, progress=False)
    return out / "lake"


def _file_ledger(lake: Path) -> list[dict]:
    return [r for r in map(json.loads, (lake / "_ingest_ledger.jsonl").read_text().splitlines())
            if r.get("kind") == "batch" and r["source"] == "stream"]


def _fresh_stream(redis_server: str, name: str):
    client = connect(redis_server)
    client.delete(name, f"{name}:ledger")
    return client


def test_a_world_replayed_through_the_stream_ends_in_the_batch_paths_lake(small_world, redis_server, tmp_path):
    client = _fresh_stream(redis_server, "replay-equal")
    sent = replay(client, EventsLake(small_world), "replay-equal", batch=500)
    assert sum(sent.values()) > 1_000 and all(sent[k] for k in ("sends", "outcomes", "engagement"))
    streamed = EventsLake(tmp_path / "lake")
    consumer = StreamConsumer(client, "replay-equal", "lake", "only", LakeSink(streamed), batch=700)
    assert consumer.drain() == sum(sent.values())
    assert consumer.pending() == 0
    for kind in EVENT_SCHEMAS:
        if sent[kind]:
            assert lake_table(streamed, kind).equals(lake_table(EventsLake(small_world), kind)), kind
    batches = ledger(client, "replay-equal")
    # no crash: the lake's own ledger says the same
    assert batches == [{k: v for k, v in b.items() if k != "kind"} for b in _file_ledger(tmp_path / "lake")]
    assert sum(b["items_in"] for b in batches) == sum(sent.values())
    assert sum(b["items_accepted"] for b in batches) == sum(sent.values())
    # the same entries again (a producer's retry of everything): nothing new, all counted
    replay(client, EventsLake(small_world), "replay-equal", batch=500)
    StreamConsumer(client, "replay-equal", "lake", "only", LakeSink(streamed), batch=700).drain()
    again = ledger(client, "replay-equal")[len(batches):]
    assert sum(b["duplicates"] for b in again) == sum(sent.values())
    assert sum(b["items_accepted"] for b in again) == 0


def test_bad_entries_are_quarantined_with_a_reason_and_counted(small_world, redis_server, tmp_path):
    client = _fresh_stream(redis_server, "bad-entries")
    good = EventsLake(small_world).read("outcomes").slice(0, 5).to_pylist()
    rows = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in good]
    bad_time = {**rows[1], "event_id": "bad-time", "event_ts": "yesterday"}
    no_status = {**rows[2], "event_id": "no-status", "status": None}
    publish(client, "bad-entries", [("outcomes", rows[0]), ("outcomes", rows[0]), ("mystery", {"a": 1}),
                                    ("outcomes", bad_time), ("outcomes", no_status)])
    client.xadd("bad-entries", {b"kind": b"outcomes", b"event": b"{not json"})
    lake = EventsLake(tmp_path / "lake")
    StreamConsumer(client, "bad-entries", "lake", "only", LakeSink(lake)).drain()
    [batch] = ledger(client, "bad-entries")
    assert batch["items_in"] == 6
    assert (batch["items_accepted"], batch["duplicates"], batch["items_quarantined"]) == (1, 1, 4)
    assert batch["items_in"] == batch["items_accepted"] + batch["duplicates"] + batch["items_quarantined"]
    raw = lake.quarantined("raw") if (tmp_path / "lake" / QUARANTINE / "raw").exists() else None
    reasons = set(raw.column("reason").to_pylist()) if raw is not None else set()
    assert any("unknown event kind 'mystery'" in r for r in reasons)
    assert any("not an ISO 8601 time" in r for r in reasons) and any("not JSON" in r for r in reasons)
    assert lake.quarantined("outcomes").column("quarantine_reason").to_pylist() == ["missing status"]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_consumers_killed_at_random_lose_nothing_and_double_nothing(redis_server, tmp_path):
    """A consumer process is SIGKILLed at a random moment after it has written something, twenty
    times, while it works through a replay; the next one claims what the dead one left. At the
    end every event is in the lake exactly once and every ledger line balances."""
    simulate(WorldConfig(subscribers=5_000, days=3, seed=6), tmp_path / "world", progress=False)
    world = EventsLake(tmp_path / "world" / "lake")
    client = _fresh_stream(redis_server, "crashes")
    sent = replay(client, world, "crashes", batch=500)
    lake = tmp_path / "lake"
    command = [sys.executable, "-m", "adaptive_delivery.cli", "stream", "consume", "--lake", str(lake),
               "--redis-address", redis_server, "--stream", "crashes", "--batch", "40", "--claim-idle-ms", "0",
               "--until-idle", "--outcome-store", f"sqlite:///{tmp_path / 'outcomes.db'}"]
    rng = random.Random(7)
    kills = 0
    while kills < 20:
        written = _lines(lake / "_ingest_ledger.jsonl")
        proc = subprocess.Popen([*command, "--name", f"c{kills}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _lines(lake / "_ingest_ledger.jsonl") == written and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.25))  # somewhere in a later batch: reading, writing, acknowledging
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read()[-2000:]
            break  # it finished before the kill: everything is in
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills == 20, f"the replay was consumed after {kills} kills: too few to mean anything"
    done = subprocess.run([*command, "--name", "last"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    streamed = EventsLake(lake)
    for kind, n in sent.items():
        if n:
            ids = lake_table(streamed, kind).column(KEY_COLUMN[kind])
            assert len(ids) == n and len(pc.unique(ids)) == n, kind
            assert lake_table(streamed, kind).equals(lake_table(world, kind)), kind
    batches = ledger(client, "crashes")
    assert all(b["items_in"] == b["items_accepted"] + b["duplicates"] + b["items_quarantined"] for b in batches)
    assert sum(b["items_accepted"] for b in batches) == sum(sent.values())
    assert sum(b["recovered"] for b in batches) > 0  # some kills fell between writing and acknowledging
    assert sum(b["items_quarantined"] for b in batches) == 0
    assert connect(redis_server).xpending("crashes", "lake")["pending"] == 0
    batch_store = OutcomeStore(f"sqlite:///{tmp_path / 'batch.db'}")
    batch_store.load(world)
    streamed_store = OutcomeStore(f"sqlite:///{tmp_path / 'outcomes.db'}")
    assert _rows(streamed_store) == _rows(batch_store)
    # every outcome counted once towards its content's and its provider's online features, kills or not
    pd.testing.assert_frame_equal(streamed_store.content_provider(), batch_store.content_provider())
    pd.testing.assert_frame_equal(streamed_store.provider_windows(), batch_store.provider_windows())


def _through_the_stream(redis_server: str, name: str, entries, lake: Path) -> list[dict]:
    client = _fresh_stream(redis_server, name)
    publish(client, name, entries)
    StreamConsumer(client, name, "lake", "only", LakeSink(EventsLake(lake))).drain()
    return ledger(client, name)


def test_kumomta_records_through_the_stream_end_as_the_batch_path_ends_them(redis_server, tmp_path):
    log = Path(__file__).resolve().parents[1] / "data" / "kumomta.jsonl"
    batch = ingest_kumomta(EventsLake(tmp_path / "batch"), log)
    lines = _through_the_stream(redis_server, "kumo", kumomta_events(log), tmp_path / "stream")
    streamed, direct = EventsLake(tmp_path / "stream"), EventsLake(tmp_path / "batch")
    for kind in ("sends", "outcomes", "complaints"):
        assert lake_table(streamed, kind).equals(lake_table(direct, kind)), kind
    assert sum(b["items_quarantined"] for b in lines) == batch.items_quarantined == 6
    reasons = streamed.quarantined("raw").column("reason").to_pylist()
    assert sorted(r.split(":")[0] for r in reasons) == sorted(
        r for r, n in batch.reasons.items() for _ in range(n))  # line by line, as the batch path counts them


def test_real_bounces_through_the_stream_end_as_the_batch_path_ends_them(bounce_corpus, redis_server, tmp_path):
    files = sorted(p for p in (bounce_corpus / "maildir").rglob("*") if p.is_file())
    files += sorted(p for p in (bounce_corpus / "not-bounce").rglob("*") if p.is_file())
    started = datetime.now(UTC)
    batch = ingest_mail(EventsLake(tmp_path / "batch"), files)
    lines = _through_the_stream(redis_server, "mail", mail_events(files), tmp_path / "stream")
    streamed, direct = EventsLake(tmp_path / "stream"), EventsLake(tmp_path / "batch")
    for kind in ("outcomes", "complaints"):
        ours, theirs = lake_table(streamed, kind), lake_table(direct, kind)
        assert ours.drop_columns(["event_ts"]).equals(theirs.drop_columns(["event_ts"])), kind
        # a report without a date is stamped when it is read: those differ by when each path read it
        read_at = [t >= started for t in theirs.column("event_ts").to_pylist()]
        assert [t for t, r in zip(ours.column("event_ts").to_pylist(), read_at, strict=True) if not r] == \
            [t for t, r in zip(theirs.column("event_ts").to_pylist(), read_at, strict=True) if not r], kind
    # refused messages, and parsed events the lake's checks refused, in the same places for the same
    # reasons; a copy of a message already read (the corpus holds some) the stream counts as a
    # duplicate where the batch path quarantines its events as repeated within the batch
    repeated = "duplicate event_id within batch"
    refused_rows = {kind: sorted(r for r in zip(*(t.column(c).to_pylist() for c in ("event_id", "quarantine_reason")),
                                                strict=True) if r[1] != repeated)
                    for kind, t in (("outcomes", direct.quarantined("outcomes")),
                                    ("complaints", direct.quarantined("complaints"))) if t is not None}
    copies = sum(t.column("quarantine_reason").to_pylist().count(repeated)
                 for t in (direct.quarantined("outcomes"), direct.quarantined("complaints")) if t is not None)
    assert copies and sum(b["duplicates"] for b in lines) == copies
    for kind, rows in refused_rows.items():
        mine = streamed.quarantined(kind)
        assert sorted(zip(mine.column("event_id").to_pylist(), mine.column("quarantine_reason").to_pylist(),
                          strict=True)) == rows, kind
    assert sorted(streamed.quarantined("raw").column("reason").to_pylist()) == \
        sorted(direct.quarantined("raw").column("reason").to_pylist())
    assert sum(b["items_quarantined"] for b in lines) == batch.items_quarantined + sum(map(len, refused_rows.values()))


def test_a_paced_replay_keeps_the_worlds_clock_accelerated(small_world, redis_server):
    """At speed S a replay takes at least the world's span over S, in the same order as unpaced."""
    client = _fresh_stream(redis_server, "paced")
    times = [t for t, _, _ in in_time_order(EventsLake(small_world))]
    span_s = (times[-1] - times[0]) / 1e6
    speed = span_s / 1.5  # the world's days in a second and a half
    started = time.monotonic()
    sent = replay(client, EventsLake(small_world), "paced", speed=speed)
    took = time.monotonic() - started
    assert took >= 0.95 * span_s / speed
    assert sum(sent.values()) == len(times) == client.xlen("paced")
    got = [json.loads(f[b"event"]) for _, f in client.xrange("paced")]
    stamps = [datetime.fromisoformat(e.get("send_ts") or e["event_ts"]) for e in got]
    assert stamps == sorted(stamps)


def _logged_decisions(labels, path: Path, rng: np.random.Generator) -> pd.DataFrame:
    """A served model's decisions as its runtime logs them: a probability per class that leans to
    the message's true class, for every message."""
    code = labels["label"].to_numpy()
    logits = rng.normal(size=(len(code), len(CLASSES)))
    logits[np.arange(len(code)), np.where(code < len(CLASSES), code, 0)] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame({"message_id": labels["message_id"], "model_version": "7",
                          **{f"p_{c}": proba[:, i] for i, c in enumerate(CLASSES)}})
    with path.open("w") as fh:
        for row in frame.to_dict("records"):
            fh.write(json.dumps({"ts": 0.0, "model": "mdl-001", **row, "action": "send_now"}) + "\n")
        fh.write('{"ts": 1.0, "model": "mdl-001", "message_id": "cut sh')  # a line a crash cut short
    return frame


def test_feedback_from_streamed_outcomes_equals_the_offline_evaluation(small_world, redis_server, tmp_path):
    """Decisions attributed to the outcomes that came through the stream score as the offline
    evaluation scores the same decisions on the batch path's labels; outcomes arriving late are
    counted when they come."""
    offline_labels = labels_from_lake(small_world)[["message_id", "label"]]
    log = tmp_path / "predictions.jsonl"
    decisions = _logged_decisions(offline_labels, log, np.random.default_rng(3))
    joined = decisions.merge(offline_labels, on="message_id")
    offline = classification_report(joined["label"].to_numpy(), joined[[f"p_{c}" for c in CLASSES]].to_numpy(),
                                    CLASSES, PARTIAL_LABELS)

    client = _fresh_stream(redis_server, "feedback")
    events = list(in_time_order(EventsLake(small_world)))
    lake = tmp_path / "lake"
    consumer = StreamConsumer(client, "feedback", "lake", "only", LakeSink(EventsLake(lake)))
    half = len(events) // 2
    publish(client, "feedback", [(k, r) for _, k, r in events[:half]])
    consumer.drain()
    early = feedback.report(MDL001, log, lake)
    publish(client, "feedback", [(k, r) for _, k, r in events[half:]])
    consumer.drain()
    late = feedback.report(MDL001, log, lake)

    assert early["unreadable_log_lines"] == late["unreadable_log_lines"] == 1
    first, final = early["versions"]["7"], late["versions"]["7"]
    assert first["decisions"] == final["decisions"] == len(decisions)
    assert 0 < first["attributed"] < final["attributed"] == len(decisions)  # the late outcomes came
    assert final["macro_roc_auc"] > 0.6  # the decisions lean to the truth: a figure that can fail
    for metric in ("macro_roc_auc", "roc_auc_inbox", "roc_auc_spam", "roc_auc_block", "ece", "log_loss", "rows"):
        assert final[metric] == pytest.approx(offline[metric], rel=1e-12, nan_ok=True), metric
    assert set(final["macro_roc_auc_by_provider"]) == set(labels_from_lake(small_world)["provider"])


def test_decisions_streamed_to_the_feedback_score_as_the_log_file_does(small_world, redis_server, tmp_path):
    """The prediction log through the stream, a consumer dying after writing a batch and before
    acknowledging it, and two entries that are no decisions: the feedback reads the same decisions
    as from the file, each once, and the bad entries are quarantined with why."""
    log = tmp_path / "predictions.jsonl"
    decisions = _logged_decisions(labels_from_lake(small_world)[["message_id", "label"]], log,
                                  np.random.default_rng(5))
    client = _fresh_stream(redis_server, "predictions")
    sent = publish(client, "predictions", feedback.prediction_entries(log))
    assert sent == len(decisions)  # the line a crash cut short waits for its newline
    publish(client, "predictions", [(feedback.PREDICTION_KIND, {"number": sent, "line": "not json"}),
                                    ("mail", {"line": json.dumps({"message_id": "m", "model_version": "7"})})])
    folder = tmp_path / "streamed"
    sink = feedback.PredictionSink(folder)
    dead = StreamConsumer(client, "predictions", "feedback", "dead", sink, batch=300, claim_idle_ms=0)
    sink(dead._new(None))  # written, never acknowledged: the consumer died here
    live = StreamConsumer(client, "predictions", "feedback", "live", sink, batch=500, claim_idle_ms=0)
    assert live.drain() == sent + 2
    streamed, from_file = feedback.report(MDL001, folder, small_world), feedback.report(MDL001, log, small_world)
    assert streamed["versions"] == from_file["versions"]
    assert streamed["versions"]["7"]["decisions"] == len(decisions)
    reasons = [json.loads(line)["reason"] for line in (folder / feedback.QUARANTINE).read_text().splitlines()]
    assert sorted(reasons) == ["the logged line is not JSON", "unexpected kind 'mail'"]
    assert streamed["unreadable_log_lines"] == 2 and from_file["unreadable_log_lines"] == 1
    assert sum(line["in"] for line in ledger(client, "predictions")) == sent + 2


def test_monitoring_reads_the_champions_served_decisions_on_real_outcomes(small_world, tmp_path):
    """What `ad_monitor` reports of the champion on real traffic: its served decisions scored on the
    outcomes that came, as the feedback scores them; nothing where the version served nothing."""
    from adaptive_delivery.delivery.jobs.monitoring import served_quality
    from adaptive_delivery.platform.monitoring.metrics import monitor_metrics

    log = tmp_path / "predictions.jsonl"
    _logged_decisions(labels_from_lake(small_world)[["message_id", "label"]], log, np.random.default_rng(9))
    served = served_quality(MDL001, log, small_world, "7")
    assert served == feedback.report(MDL001, log, small_world)["versions"]["7"]
    assert served["attributed"] > 0 and served["macro_roc_auc"] > 0.6
    assert served_quality(MDL001, log, small_world, "8") is None
    assert served_quality(MDL001, tmp_path / "none.jsonl", small_world, "7") is None
    metrics = monitor_metrics({"model_id": "MDL-001", "version": "7", "metric": "macro_roc_auc", "served": served})
    sample = metrics.registry.get_sample_value("model_auc_served", {"model": "MDL-001", "version": "7"})
    assert sample == pytest.approx(served["macro_roc_auc"])


def _rows(store: OutcomeStore) -> list[tuple]:
    """A store's rows as plain values (SQLite and PostgreSQL hand back different dtypes)."""
    frame = store.frame()
    return [tuple(None if pd.isna(v) else (int(v) if isinstance(v, float) and v.is_integer() else v) for v in row)
            for row in frame.itertuples(index=False)]


@pytest.fixture
def postgres_database(postgres_server, request) -> str:
    """A database of this test's own on the session's PostgreSQL."""
    import sqlalchemy

    name = "outcomes_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    admin = sqlalchemy.create_engine(postgres_server.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


def test_the_outcome_store_fed_by_the_stream_equals_the_batch_paths(small_world, redis_server, postgres_database,
                                                                     tmp_path):
    """PostgreSQL fed event by event through the stream, twice over (a redelivery of everything),
    holds what SQLite loaded from the batch path's lake holds: one row per message."""
    batch = OutcomeStore(f"sqlite:///{tmp_path / 'batch.db'}")
    batch.load(EventsLake(small_world))
    streamed = OutcomeStore(postgres_database)
    client = _fresh_stream(redis_server, "store")
    for _ in range(2):
        replay(client, EventsLake(small_world), "store", batch=500)
        StreamConsumer(client, "store", "lake", "only", LakeSink(EventsLake(tmp_path / "lake"), streamed),
                       batch=300).drain()
    rows = _rows(batch)
    assert rows == _rows(streamed)
    pd.testing.assert_frame_equal(streamed.content_provider(), batch.content_provider())
    sends = EventsLake(small_world).read("sends").column("message_id")
    assert len(rows) == len(pc.unique(sends))
    frame = batch.frame()
    assert frame["status"].notna().mean() > 0.9 and frame["first_open_us"].notna().any()
    assert (frame["first_machine_open_us"].notna() & frame["first_open_us"].isna()).any()  # machine opens apart
    day = EventsLake(small_world).partitions("sends")[0]
    assert streamed.claim_snapshot(day, "a") and not streamed.claim_snapshot(day, "b")  # one takes a midnight
    assert not streamed.take_over_snapshot(day, "b", lease_s=900)  # another's claim, within its lease
    assert streamed.take_over_snapshot(day, "a", lease_s=900)  # its own, restarted
    assert streamed.take_over_snapshot(day, "b", lease_s=0)  # the lease out
    streamed.snapshot_pushed(day)
    assert not streamed.take_over_snapshot(day, "a", lease_s=0)  # pushed: nobody pushes it again
    assert streamed.snapshot_days()["pushed_us"].notna().all()


def test_content_and_provider_counts_do_not_depend_on_the_order_events_come_in(small_world, tmp_path):
    """Outcomes before their sends, everything twice: each outcome counts once towards its
    content and its provider's window, and the features from the counts are the reference build's
    (each content's latest row; every provider's row of every window)."""
    from adaptive_delivery.delivery.features.online_push import content_rows
    from adaptive_delivery.delivery.features.reference import (
        content_provider_features,
        load_inputs,
        provider_features,
        provider_rows,
    )

    lake = EventsLake(small_world)
    in_order = OutcomeStore(f"sqlite:///{tmp_path / 'in_order.db'}")
    in_order.update("sends", lake.read("sends", days=lake.partitions("sends")[:1]))
    assert in_order.provider_window().empty  # sends alone: no window yet
    in_order.load(lake)
    reversed_store = OutcomeStore(f"sqlite:///{tmp_path / 'reversed.db'}")
    for _ in range(2):
        for kind in ("engagement", "complaints", "outcomes", "sends"):
            for day in reversed(lake.partitions(kind)):
                reversed_store.update(kind, lake.read(kind, days=[day]))
    counts = in_order.content_provider()
    assert counts["answers"].sum() > 0
    pd.testing.assert_frame_equal(reversed_store.content_provider(), counts)
    latest = (content_provider_features(load_inputs(small_world)).sort_values("event_timestamp")
              .groupby(["content_id", "provider"]).tail(1).sort_values(["content_id", "provider"], ignore_index=True))
    pd.testing.assert_frame_equal(content_rows(in_order, None), latest, check_dtype=False)
    windows = in_order.provider_windows()
    assert windows["attempts"].sum() == len(lake.read("outcomes"))  # every outcome's provider is known
    pd.testing.assert_frame_equal(reversed_store.provider_windows(), windows)
    stamped = windows.assign(event_timestamp=pd.to_datetime(windows["window_end_us"], unit="us", utc=True))
    built = provider_features(load_inputs(small_world)).merge(stamped[["provider", "event_timestamp"]])
    pd.testing.assert_frame_equal(provider_rows(stamped), built.sort_values(["provider", "event_timestamp"],
                                  ignore_index=True), check_dtype=False)


def test_subscriber_snapshots_follow_the_streams_clock_and_late_events(small_world, tmp_path):
    """Everyone's row when the clock passes midnight, nothing more that day, and again the row of a
    subscriber whose event arrives after its day's snapshot was pushed; one consumer of several
    pushes a midnight."""
    from adaptive_delivery.delivery.features.definitions import Instant
    from adaptive_delivery.delivery.features.online_push import (
        DailySnapshots,
        Snapshot,
        merged,
        snapshot_rows,
    )
    from adaptive_delivery.delivery.features.reference import load_inputs, subscriber_features

    lake = EventsLake(small_world)
    store = OutcomeStore(f"sqlite:///{tmp_path / 'outcomes.db'}")
    store.load(lake)
    outcomes = lake.read("outcomes")
    day = lake.partitions("outcomes")[1]
    midnight = pd.Timestamp(day, tz="UTC")
    times = outcomes.column("event_ts").to_pandas()
    after = {"outcomes": outcomes.filter(pa.array((times >= midnight + pd.Timedelta(hours=1)).to_numpy()))[:5]}
    before = {"outcomes": outcomes.filter(pa.array((times < midnight - pd.Timedelta(hours=1)).to_numpy()))[:1]}
    first = DailySnapshots("first")
    assert first.due(store, after) == Snapshot(day)
    everyone = snapshot_rows(lake, Snapshot(day))
    expected = subscriber_features(load_inputs(small_world, Instant(midnight.to_pydatetime().replace(tzinfo=None))))
    assert len(everyone) == len(expected) > 1_000 and (everyone["event_timestamp"] == midnight).all()
    pd.testing.assert_frame_equal(everyone, expected)
    assert first.due(store, after) is None  # the same day: nothing more
    who = store.subscribers_of(before["outcomes"].column("message_id").to_pylist())
    assert len(who) == 1 and first.due(store, before) == Snapshot(day, frozenset(who))
    mine = expected[expected["subscriber_id"].isin(who)].reset_index(drop=True)
    pd.testing.assert_frame_equal(snapshot_rows(lake, Snapshot(day, frozenset(who))), mine)
    # a second consumer of the group: its first batch, an older one redelivered, is late for the
    # midnight the first consumer pushed; its next, of the same day, makes nothing due
    other = DailySnapshots("other")
    assert other.due(store, before) == Snapshot(day, frozenset(who))
    assert other.due(store, after) is None
    # the first restarted before its push was in: it pushes the day again; once the push is
    # recorded, a restart pushes nothing, and a claim left by a consumer gone goes to another
    # once its lease is out
    assert DailySnapshots("first").due(store, after) == Snapshot(day)
    first.pushed(store, Snapshot(day))
    assert DailySnapshots("first").due(store, after) is None
    assert DailySnapshots("late", lease_s=0).due(store, after) is None
    # a third, starting at the day after: everyone's at that midnight, once
    next_day = {"outcomes": outcomes.filter(pa.array((times >= midnight + pd.Timedelta(days=1)).to_numpy()))[:5]}
    assert DailySnapshots("gone").due(store, next_day) == Snapshot(day + timedelta(days=1))
    assert other.due(store, next_day) is None  # the day is claimed: the second leaves it
    assert DailySnapshots("late", lease_s=0).due(store, next_day) == Snapshot(day + timedelta(days=1))
    # a backlog of one midnight is computed once, everyone's where any was
    a, b = Snapshot(day, frozenset({"s1"})), Snapshot(day, frozenset({"s2"}))
    assert merged([a, b]) == [Snapshot(day, frozenset({"s1", "s2"}))]
    assert merged([a, Snapshot(day), b]) == [Snapshot(day)]
    later = Snapshot(day + timedelta(days=1), frozenset({"s3"}))
    assert merged([a, later]) == [a, later]  # one per midnight, in order
