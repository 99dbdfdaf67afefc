"""Packed online features answer as Feast's own online read does, value for value, on a tiny world
materialised into a throwaway Redis server: known and unknown entities, entities known to some views
only, nulls inside a row, strings, a value changed by a later materialisation, and Redis key expiry."""

import uuid

import numpy as np
import pandas as pd
import pytest

from adaptive_delivery.delivery.decisions.entities import ENTITY_KEYS, OnlineFeatures
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform import packed_features as pk

pytestmark = pytest.mark.integration


SETTINGS = (*st.SETTINGS, "AD_REDIS_CONNECTION")


@pytest.fixture(scope="module")
def redis_store(built_features, tmp_path_factory, redis_server):
    """The tiny world materialised once into Redis (the tests only add to it, and every claim is
    an equality of two reads of the same store). `feature_store.configure` writes AD_* settings
    into the environment: they are put back afterwards."""
    _, out, ref = built_features
    with pytest.MonkeyPatch.context() as mp:
        for key in SETTINGS:
            mp.delenv(key, raising=False)
        fs = st.open_store(tmp_path_factory.mktemp("packed") / "feast", out, profile="redis-local",
                           project=f"t_{uuid.uuid4().hex[:10]}", AD_REDIS_CONNECTION=redis_server)
        st.apply(fs)
        st.materialize(fs, ref["calendar"]["hour_ts"].min().to_pydatetime(),
                       ref["subscriber"]["event_timestamp"].max().to_pydatetime())
        try:
            yield fs, ref
        finally:
            st.teardown(fs)


def _messages(ref: dict[str, pd.DataFrame], n: int, seed: int) -> pd.DataFrame:
    """Messages naming known entities, and some that no view knows or only some views know."""
    rng = np.random.default_rng(seed)

    def pick(table: str, column: str, unknown: str) -> np.ndarray:
        known = ref[table][column].drop_duplicates().to_numpy(dtype=object)
        values = rng.choice(known, n).astype(object)
        values[rng.random(n) < 0.1] = unknown
        return values

    return pd.DataFrame({
        "subscriber_id": pick("subscriber", "subscriber_id", "nobody@example.org"),
        "sending_domain": pick("sender_domain", "sending_domain", "new.example"),
        "sending_ip": pick("sender_ip", "sending_ip", "203.0.113.250"),
        "provider": pick("provider", "provider", "newmail"),
        "content_id": pick("content", "content_id", "c-unseen"),
    })


def _assert_same(packed: pd.DataFrame, feast: pd.DataFrame) -> None:
    columns = [c for c in feast.columns if "__" in c]
    assert set(packed.columns) == set(columns)
    for column in columns:
        theirs = feast[column]
        if theirs.dtype == object and theirs.map(lambda v: isinstance(v, str)).any():
            assert packed[column].tolist() == theirs.where(theirs.notna(), None).tolist(), column
        else:
            np.testing.assert_array_equal(packed[column].to_numpy(float), theirs.to_numpy(float), err_msg=column)


def test_packed_rows_equal_feasts_online_read_for_every_view_of_mdl_001(redis_store):
    fs, ref = redis_store
    name = st.service(fs, "MDL-001").name
    packed, feast = OnlineFeatures(fs, name), OnlineFeatures(fs, name, packed=False)
    assert packed.packed is not None and feast.packed is None
    messages = _messages(ref, 1_500, seed=5)
    by_packed, by_feast = packed.stored_rows(messages), feast.stored_rows(messages)
    _assert_same(by_packed, by_feast)
    assert by_feast.isna().any().any() and by_feast.notna().any().any()  # both kinds of value are compared
    # the `defaults` output (which entities were unknown) agrees too
    messages["send_ts"] = pd.Timestamp("2026-03-02T10:00:00Z")
    messages["send_rate_per_min"], messages["is_transactional"] = 100.0, 0.0
    assert packed.rows(messages)[1] == feast.rows(messages)[1]
    assert any(d for d in feast.rows(messages)[1]) and any(not d for d in feast.rows(messages)[1])


def test_a_later_materialisation_is_read_and_keys_expire_with_feasts(redis_store):
    fs, ref = redis_store
    provider = ref["provider"]["provider"].iloc[0]
    later = pd.Timestamp.now(tz="UTC").floor("s")
    fs.write_to_online_store("provider_features", pd.DataFrame({
        "provider": [provider], "event_timestamp": [later], "created": [later],
        **{f.name: [_a_value(f)] for f in fs.get_feature_view("provider_features").features}}))
    pk.refresh(fs, ["provider_features"])
    name = st.service(fs, "MDL-003").name
    messages = pd.DataFrame({k: ["x"] for k in ENTITY_KEYS}).assign(provider=[provider])
    packed = OnlineFeatures(fs, name).stored_rows(messages)
    _assert_same(packed, OnlineFeatures(fs, name, packed=False).stored_rows(messages))
    assert packed["provider_features__accept_rate_15m"].tolist() == [0.25]  # the new value, not the old
    client = pk.redis_client(fs.config.online_store.connection_string)
    packed_ttl = client.pttl(pk.row_key(fs.project, "provider_features", provider))
    assert 0 < packed_ttl <= fs.config.online_store.key_ttl_seconds * 1000


def _a_value(feature):
    from feast.types import Bool, Int64, String

    return {Int64: 7, String: "x", Bool: True}.get(feature.dtype, 0.25)


def test_a_reader_falls_back_to_feast_where_nothing_is_packed(built_features, tmp_path, redis_server, monkeypatch):
    for key in SETTINGS:
        monkeypatch.delenv(key, raising=False)
    _, out, _ = built_features
    fs = st.open_store(tmp_path / "feast", out, profile="redis-local", project=f"t_{uuid.uuid4().hex[:10]}",
                       AD_REDIS_CONNECTION=redis_server)
    st.apply(fs)
    try:
        assert OnlineFeatures(fs, st.service(fs, "MDL-001").name).packed is None
    finally:
        st.teardown(fs)


def test_a_reader_follows_a_refresh_that_changed_a_views_features(redis_store):
    fs, ref = redis_store
    name = st.service(fs, "MDL-001").name
    reader = OnlineFeatures(fs, name)
    client = pk.redis_client(fs.config.online_store.connection_string)
    key = pk.schema_key(fs.project, "provider_features")
    schema = pk.ViewSchema.from_json(client.get(key))
    wider = pk.ViewSchema(schema.view, schema.join_keys, (*schema.features, "added_later"), schema.strings)
    provider = ref["provider"]["provider"].iloc[0]
    row = pk.row_key(fs.project, "provider_features", provider)
    old = client.get(row)
    try:  # as a refresh after a new feature would leave it: a new schema, wider vectors
        client.set(key, wider.to_json())
        client.set(row, old + np.float64(1.5).tobytes())
        messages = pd.DataFrame({k: ["x"] for k in ENTITY_KEYS}).assign(provider=[provider])
        got = reader.stored_rows(messages)
        _assert_same(got, OnlineFeatures(fs, name, packed=False).stored_rows(messages))
        assert reader.packed.schemas["provider_features"] == wider
    finally:
        client.set(key, schema.to_json())
        client.set(row, old)
