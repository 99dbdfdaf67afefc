"""The stream's push into the online store, for real: a world replayed through Redis into the lake,
the outcome store and Feast's online store ends with the same online rows as the batch path's
Spark build materialised on the same world (every view the stream pushes: per content and
provider, per provider's 15-minute window); on a Redis online store the packed vectors follow."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pandas as pd
import pytest

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.outcome_store import OutcomeStore
from adaptive_delivery.delivery.events.schema import DIMENSION_SCHEMAS, TIME_COLUMN
from adaptive_delivery.delivery.events.stream import LakeSink, replay
from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.delivery.features.online_push import PUSHED, OnlinePush
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform import packed_features as pk
from adaptive_delivery.platform.streams import StreamConsumer, connect, ledger

pytestmark = pytest.mark.integration
SETTINGS = (*st.SETTINGS, "AD_REDIS_CONNECTION")
KEYS = ["content_id", "provider"]
VIEW, PROVIDER_VIEW = (p.view for p in PUSHED)
SUBSCRIBER_VIEW = "subscriber_features"


@pytest.fixture
def clean_settings():
    """`feature_store.configure` writes AD_* settings into the environment: put back afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        for key in SETTINGS:
            mp.delenv(key, raising=False)
        yield


def _online_rows(home: Path, project: str, view: str = VIEW) -> pd.DataFrame:
    """Every row of a view in a SQLite online store: entity, feature, serialised value, time."""
    with sqlite3.connect(home / "online.db") as db:
        frame = pd.read_sql(f"SELECT entity_key, feature_name, value, event_ts FROM {project}_{view}", db)
    return frame.sort_values(["entity_key", "feature_name"], ignore_index=True)


def _value(serialised: bytes):
    """A serialised online value as a number, a list of numbers or text."""
    from feast.protos.feast.types.Value_pb2 import Value

    value = Value.FromString(serialised)
    got = getattr(value, value.WhichOneof("val"))
    if isinstance(got, str):
        return got
    return list(got.val) if hasattr(got, "val") else float(got)


def _stream_into(redis_server: str, name: str, world: Path, lake: Path, sink_for) -> list[dict]:
    client = connect(redis_server)
    client.delete(name, f"{name}:ledger")
    replay(client, EventsLake(world), name, batch=1_000)
    StreamConsumer(client, name, "lake", "only", sink_for(EventsLake(lake)), batch=500).drain()
    return ledger(client, name)


def test_a_world_streamed_leaves_the_online_store_the_batch_path_leaves(built_features, redis_server, tmp_path,
                                                                        clean_settings):
    world, features, ref = built_features
    batch_fs = st.open_store(tmp_path / "batch", features, project="batch")
    st.apply(batch_fs)
    start = ref["calendar"]["hour_ts"].min().to_pydatetime()
    st.materialize(batch_fs, start, ref["content_provider"]["event_timestamp"].max().to_pydatetime(), [VIEW])
    # the provider rows up to the window the last outcome fell in, as a build at that moment has them
    last = EventsLake(world / "lake").read("outcomes").to_pandas()["event_ts"].max()
    st.materialize(batch_fs, start, (last.floor("15min") + pd.Timedelta(minutes=15)).to_pydatetime(), [PROVIDER_VIEW])
    # the subscribers' rows at the last midnight the events reach
    clock = max(EventsLake(world / "lake").read(kind).to_pandas()[column].max() for kind, column in TIME_COLUMN.items())
    st.materialize(batch_fs, start, clock.floor("1D").to_pydatetime(), [SUBSCRIBER_VIEW])
    stream_fs = st.open_store(tmp_path / "stream", features, project="stream")
    st.apply(stream_fs)
    store = OutcomeStore(f"sqlite:///{tmp_path / 'outcomes.db'}")
    for kind in DIMENSION_SCHEMAS:  # the stream's lake holds the subscriber list, as a deployment's does
        EventsLake(tmp_path / "lake").write_dimension(kind, EventsLake(world / "lake").read(kind))
    push = OnlinePush(stream_fs, store, EventsLake(tmp_path / "lake"))
    batches = _stream_into(redis_server, "online-equal", world / "lake", tmp_path / "lake",
                           lambda lake: LakeSink(lake, store, push))
    assert push.wait() >= len(ref["subscriber"]["subscriber_id"].unique())  # every midnight's snapshot is in
    streamed, built = _online_rows(tmp_path / "stream", "stream"), _online_rows(tmp_path / "batch", "batch")
    pairs = ref["content_provider"][KEYS].drop_duplicates()
    assert len(built) == len(pairs) * 5 and len(pairs) > 20  # five features per content and provider
    pd.testing.assert_frame_equal(streamed, built)  # values and event times, byte for byte
    assert sum(b["pushed"] for b in batches) >= len(pairs)  # a pair is pushed again as its outcomes come in
    streamed, built = (_online_rows(tmp_path / h, h, PROVIDER_VIEW) for h in ("stream", "batch"))
    assert len(built) == ref["provider"]["provider"].nunique() * 8  # eight features per provider
    # the same rows, stamped at the same window's end; the mean latency equal up to summation order
    pd.testing.assert_frame_equal(streamed.drop(columns="value"), built.drop(columns="value"))
    values = [(_value(a), _value(b)) for a, b in zip(streamed["value"], built["value"], strict=True)]
    assert [a for a, _ in values] == pytest.approx([b for _, b in values], rel=1e-12)
    assert len({a for a, _ in values}) > 2 and max(a for a, _ in values) > 0  # not a store of defaults
    streamed, built = (_online_rows(tmp_path / h, h, SUBSCRIBER_VIEW) for h in ("stream", "batch"))
    subscribers = ref["subscriber"][ref["subscriber"]["event_timestamp"] == clock.floor("1D")]
    assert len(built) == len(subscribers) * len(fd.SUBSCRIBER_FEATURES) and len(subscribers) > 50  # every feature
    pd.testing.assert_frame_equal(streamed.drop(columns="value"), built.drop(columns="value"))
    for a, b, feature in zip(streamed["value"], built["value"], built["feature_name"], strict=True):
        a, b = _value(a), _value(b)
        assert a == (b if isinstance(b, str) else pytest.approx(b, rel=1e-9, abs=1e-12)), feature
    # the batch path's own outcome store holds the same counts
    batch_store = OutcomeStore(f"sqlite:///{tmp_path / 'batch.db'}")
    batch_store.load(EventsLake(world / "lake"))
    pd.testing.assert_frame_equal(store.content_provider(), batch_store.content_provider())


def test_a_redelivered_batch_pushes_again_and_counts_nothing_twice(built_features, redis_server, tmp_path,
                                                                    clean_settings):
    """The consumer that died after writing the lake and the store but before its push: the batch
    comes back, its events are already counted, and its rows are pushed all the same."""
    world, features, _ = built_features
    fs = st.open_store(tmp_path / "feast", features, project="again")
    st.apply(fs)
    store = OutcomeStore(f"sqlite:///{tmp_path / 'outcomes.db'}")
    pushes: list[int] = []

    def failing_push(ids: set[str], events) -> int:
        pushes.append(len(ids))
        raise ConnectionError("the online store went away")

    client = connect(redis_server)
    client.delete("again", "again:ledger")
    replay(client, EventsLake(world / "lake"), "again", batch=1_000)
    dead = StreamConsumer(client, "again", "lake", "dead", LakeSink(EventsLake(tmp_path / "lake"), store,
                                                                      failing_push), batch=2_000)
    with pytest.raises(ConnectionError):
        dead.step(block_ms=1)
    counted = store.content_provider()
    assert pushes and counted["answers"].sum() > 0 and dead.pending() == 2_000
    StreamConsumer(client, "again", "lake", "next", LakeSink(EventsLake(tmp_path / "lake"), store,
                                                              OnlinePush(fs, store)), batch=2_000,
                   claim_idle_ms=0).drain()
    batch_store = OutcomeStore(f"sqlite:///{tmp_path / 'batch.db'}")
    batch_store.load(EventsLake(world / "lake"))
    pd.testing.assert_frame_equal(store.content_provider(), batch_store.content_provider())
    online = _online_rows(tmp_path / "feast", "again")
    assert len(online) == len(batch_store.content_provider()) * 5  # the first batch's rows were pushed too


def test_pushed_rows_reach_the_packed_vectors_on_a_redis_online_store(built_features, redis_server, tmp_path,
                                                                       clean_settings):
    """Feast's Redis store keeps a row unless the next is strictly later: the pushes of one minute or
    window, each with newer counts, must land all the same, and the packed vectors follow."""
    world, features, ref = built_features
    project = f"t_{uuid.uuid4().hex[:10]}"
    fs = st.open_store(tmp_path / "feast", features, profile="redis-local", project=project,
                       AD_REDIS_CONNECTION=redis_server)
    st.apply(fs)
    try:
        store = OutcomeStore(f"sqlite:///{tmp_path / 'outcomes.db'}")
        for kind in DIMENSION_SCHEMAS:
            EventsLake(tmp_path / "lake").write_dimension(kind, EventsLake(world / "lake").read(kind))
        push = OnlinePush(fs, store, EventsLake(tmp_path / "lake"))
        _stream_into(redis_server, "online-packed", world / "lake", tmp_path / "lake",
                     lambda lake: LakeSink(lake, store, push))
        push.wait()
        last = EventsLake(world / "lake").read("outcomes").to_pandas()["event_ts"].max()
        window = ref["provider"][ref["provider"]["event_timestamp"] == last.floor("15min") + pd.Timedelta(minutes=15)]
        clock = max(EventsLake(world / "lake").read(k).to_pandas()[c].max() for k, c in TIME_COLUMN.items())
        latest = {VIEW: ref["content_provider"].sort_values("event_timestamp").groupby(KEYS).tail(1),
                  PROVIDER_VIEW: window,
                  SUBSCRIBER_VIEW: ref["subscriber"][ref["subscriber"]["event_timestamp"] == clock.floor("1D")]}
        for view, keys in ((VIEW, KEYS), (PROVIDER_VIEW, ["provider"]), (SUBSCRIBER_VIEW, ["subscriber_id"])):
            expected = latest[view].sort_values(keys, ignore_index=True)
            refs = [f"{view}:{f}" for f in pk.scalar_features(fs.get_feature_view(view))]
            feast = pd.DataFrame(st.online(fs, refs, expected[keys].to_dict("records")))
            reader = pk.PackedReader(connect(redis_server), project, {view: [r.split(":")[1] for r in refs]})
            packed, _ = reader.read_keys({view: [expected[k].to_numpy(dtype=object) for k in keys]})
            entity = pk.entity_strings(expected.head(1), keys)[0]  # the packed vector expires as Feast's key
            assert 0 < connect(redis_server).pttl(pk.row_key(project, view, entity)) \
                <= fs.config.online_store.key_ttl_seconds * 1000, view
            for feature in refs:
                column, name = feature.replace(":", "__"), feature.split(":")[1]
                if expected[name].dtype == object:  # text (the packed vector holds its code; the reader decodes it)
                    assert feast[column].tolist() == expected[name].tolist(), feature
                    assert packed[column].tolist() == feast[column].tolist(), feature
                    continue
                assert feast[column].tolist() == pytest.approx(expected[name].astype(float).tolist()), feature
                assert packed[column].tolist() == pytest.approx(feast[column].tolist()), feature
    finally:
        st.teardown(fs)


def test_rows_written_in_feasts_redis_format_equal_feasts_own_write(built_features, redis_server, tmp_path,
                                                                   clean_settings):
    """The push writes Feast's Redis hashes itself (Feast's write converts every value through
    several layers of Python): for every pushed view, missing values and an array feature included,
    each entity's hash holds byte for byte what Feast's own online write leaves."""
    _, features, ref = built_features
    rows = {VIEW: ref["content_provider"].sort_values("event_timestamp").groupby(KEYS).tail(1),
            PROVIDER_VIEW: ref["provider"].sort_values("event_timestamp").groupby("provider").tail(1),
            SUBSCRIBER_VIEW: ref["subscriber"].sort_values("event_timestamp").groupby("subscriber_id").tail(1)}
    stores = []
    for _ in range(2):
        fs = st.open_store(tmp_path / f"feast-{len(stores)}", features, profile="redis-local",
                           project=f"t_{uuid.uuid4().hex[:10]}", AD_REDIS_CONNECTION=redis_server)
        st.apply(fs)
        stores.append(fs)
    feasts, ours = stores
    client = connect(redis_server)
    try:
        for name, frame in rows.items():
            view = feasts.get_feature_view(name)
            frame = frame.reset_index(drop=True).copy()
            numbers = [f.name for f in view.features if frame[f.name].dtype == "float64"]
            frame.loc[::7, numbers[0]] = float("nan")  # missing values travel as Feast's empty value
            feasts._get_provider().ingest_df(view, frame)
            keys = [key for _, key in pk._redis_entities(ours, view, frame)]
            pk.write_feast_rows(ours, client, ours.get_feature_view(name), frame, keys)
            theirs = [key for _, key in pk._redis_entities(feasts, view, frame)]
            for a, b in zip(theirs, keys, strict=True):
                written = client.hgetall(b)
                assert len(written) > len(view.features) and client.hgetall(a) == written, name
                assert (client.pttl(a) > 0) == (client.pttl(b) > 0), name
        arrays = [f.name for f in feasts.get_feature_view(SUBSCRIBER_VIEW).features if "Array" in str(f.dtype)]
        assert arrays  # Feast's own conversion, for what is not encoded a column at a time, is covered
    finally:
        for fs in stores:
            st.teardown(fs)
