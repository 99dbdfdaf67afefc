"""Feast on the local profile, for real: apply, materialise into SQLite, point-in-time retrieval,
online reads."""

import os
from datetime import timedelta

import pandas as pd
import pytest

from adaptive_delivery.platform import feature_store as st


@pytest.fixture(scope="module")
def local_store(built_features, tmp_path_factory):
    _, out, ref = built_features
    fs = st.open_store(tmp_path_factory.mktemp("feast"), out, project="test_local")
    st.apply(fs)
    start = ref["calendar"]["hour_ts"].min()
    end = ref["subscriber"]["event_timestamp"].max()
    st.materialize(fs, start.to_pydatetime(), end.to_pydatetime())
    return fs, ref


def _asof(table: pd.DataFrame, key: str, entity: str, t: pd.Timestamp, ttl: timedelta) -> pd.Series | None:
    rows = table[(table[key] == entity) & (table["event_timestamp"] <= t) & (table["event_timestamp"] >= t - ttl)]
    return rows.sort_values("event_timestamp").iloc[-1] if len(rows) else None


def test_point_in_time_join_never_uses_a_value_from_after_the_event(local_store):
    fs, ref = local_store
    sub = ref["subscriber"]
    # subscribers whose score changed from one snapshot to the next: the boundary is where leaks show
    changed = sub.sort_values("event_timestamp").groupby("subscriber_id")["engagement_score"].nunique()
    people = list(changed[changed > 2].index[:20])
    snaps = sorted(sub["event_timestamp"].unique())[1:-1]
    rows = []
    for i, person in enumerate(people):
        T = pd.Timestamp(snaps[i % len(snaps)])
        for t in (T - pd.Timedelta(microseconds=1), T, T + pd.Timedelta(hours=7)):
            rows.append({"subscriber_id": person, "event_timestamp": t})
    entity_df = pd.DataFrame(rows)
    got = st.historical(fs, entity_df, ["subscriber_features:engagement_score", "subscriber_features:opens_30d"])
    assert len(got) == len(entity_df)
    for r in got.itertuples():
        expected = _asof(sub, "subscriber_id", r.subscriber_id, r.event_timestamp, timedelta(hours=24))
        assert expected is not None
        assert r.subscriber_features__engagement_score == pytest.approx(expected["engagement_score"])
        assert r.subscriber_features__opens_30d == expected["opens_30d"]
    just_before = got[got["event_timestamp"].dt.microsecond == 999999]
    for r in just_before.itertuples():  # one microsecond before a snapshot must not see that snapshot
        nxt = sub[(sub["subscriber_id"] == r.subscriber_id) & (sub["event_timestamp"] > r.event_timestamp)].iloc[0]
        prev = _asof(sub, "subscriber_id", r.subscriber_id, r.event_timestamp, timedelta(hours=24))
        assert r.subscriber_features__engagement_score == pytest.approx(prev["engagement_score"])
        assert nxt["event_timestamp"] > r.event_timestamp


def test_sender_and_provider_values_respect_their_ttls(local_store):
    fs, ref = local_store
    ips = ref["sender_ip"]
    busy = ips[ips["sent_24h"] > 0].iloc[len(ips[ips["sent_24h"] > 0]) // 2]
    t = busy["event_timestamp"] + pd.Timedelta(minutes=59)
    got = st.historical(fs, pd.DataFrame({"sending_ip": [busy["sending_ip"]], "event_timestamp": [t]}),
                        ["sender_ip_features:sent_24h", "sender_ip_features:block_rate_24h"])
    assert got["sender_ip_features__sent_24h"].iloc[0] == busy["sent_24h"]
    prov = ref["provider"].iloc[200]
    got = st.historical(fs, pd.DataFrame({"provider": [prov["provider"]], "event_timestamp": [prov["event_timestamp"] + pd.Timedelta(minutes=5)]}),
                        ["provider_features:attempts_15m"])
    assert got["provider_features__attempts_15m"].iloc[0] == prov["attempts_15m"]


def test_online_reads_return_what_was_materialised(local_store):
    fs, ref = local_store
    sub = ref["subscriber"]
    latest = sub.sort_values("event_timestamp").groupby("subscriber_id").last()
    people = list(latest.index[:50])
    got = st.online(fs, ["subscriber_features:engagement_score", "subscriber_features:open_hour_heatmap",
                         "subscriber_features:email_domain"], [{"subscriber_id": p} for p in people])
    for p, score, heat, dom in zip(people, got["subscriber_features__engagement_score"],
                                   got["subscriber_features__open_hour_heatmap"], got["subscriber_features__email_domain"], strict=True):
        assert score == pytest.approx(latest.loc[p, "engagement_score"])
        assert heat == pytest.approx(list(latest.loc[p, "open_hour_heatmap"]))
        assert dom == latest.loc[p, "email_domain"]
    prov = ref["provider"].sort_values("event_timestamp").groupby("provider").last()
    got = st.online(fs, ["provider_features:attempts_15m"], [{"provider": p} for p in prov.index])
    assert got["provider_features__attempts_15m"] == list(prov["attempts_15m"])


def test_temporal_features_come_from_the_send_time(local_store):
    fs, ref = local_store
    person = ref["subscriber"]["subscriber_id"].iloc[0]
    t = ref["subscriber"]["event_timestamp"].max() - pd.Timedelta(hours=3)
    got = st.historical(fs, pd.DataFrame({"subscriber_id": [person], "event_timestamp": [t], "send_ts": [t]}),
                        ["subscriber_features:engagement_score", "temporal_features:hour_of_day",
                         "temporal_features:day_of_week", "temporal_features:is_weekend"])
    assert got["temporal_features__hour_of_day"].iloc[0] == t.hour
    assert got["temporal_features__day_of_week"].iloc[0] == t.weekday()


def test_every_model_has_a_feature_service(local_store):
    fs, _ = local_store
    for i in range(1, 11):
        assert st.service(fs, f"MDL-{i:03d}").name.startswith(f"mdl_{i:03d}_")


def test_push_source_updates_the_online_store_between_builds(local_store):
    """The feedback loop pushes fresh provider signals; online reads see them at once."""
    fs, ref = local_store
    latest = ref["provider"]["event_timestamp"].max()
    fresh = pd.DataFrame([{
        "provider": "gmail", "event_timestamp": latest + pd.Timedelta(minutes=15), "attempts_15m": 4242,
        "accept_rate_15m": 0.5, "deferrals_per_min": 9.0, "blocks_per_min": 1.0, "rate_4xx_15m": 0.4,
        "rate_5xx_15m": 0.1, "mean_latency_ms_15m": 900.0, "throttle_signals_per_min": 8.0,
    }])
    fs.push("provider_push", fresh)
    got = st.online(fs, ["provider_features:attempts_15m", "provider_features:throttle_signals_per_min"],
                    [{"provider": "gmail"}])
    assert got["provider_features__attempts_15m"] == [4242]
    assert got["provider_features__throttle_signals_per_min"] == [8.0]


def test_rows_without_a_value_inside_the_ttl_are_kept_with_missing_features(local_store):
    """A training row earlier than any snapshot (or older than the TTL) keeps its label and gets
    missing feature values, rather than silently disappearing from the training set."""
    fs, ref = local_store
    person = ref["subscriber"]["subscriber_id"].iloc[0]
    first = ref["subscriber"]["event_timestamp"].min()
    rows = pd.DataFrame({"subscriber_id": [person, person],
                         "event_timestamp": [first - pd.Timedelta(hours=30), first + pd.Timedelta(hours=1)]})
    got = st.historical(fs, rows, ["subscriber_features:engagement_score"]).sort_values("event_timestamp")
    assert len(got) == 2
    assert pd.isna(got["subscriber_features__engagement_score"].iloc[0])
    assert not pd.isna(got["subscriber_features__engagement_score"].iloc[1])


def test_a_model_without_a_champion_publishes_its_scores_empty_and_readers_get_missing_values(tmp_path, monkeypatch):
    """`adaptive-delivery features score` publishes every declared scored table (MDL-004's
    reputation) even before the model has a champion: a reader's join and the materialisation go
    through, with no value."""
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from adaptive_delivery.cli import app
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.platform.spec import scored_tables

    for name in [k for k in os.environ if k.startswith("AD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AD_HOME", str(tmp_path))
    done = CliRunner().invoke(app, ["features", "score"])
    assert done.exit_code == 0 and "ip_reputation" in done.output and "domain_reputation" in done.output, done.output
    dep = jobs.deployment({"AD_PROFILE": "local", "AD_HOME": str(tmp_path)})
    rows = {t: len(pd.read_parquet(dep.features / t)) for t in scored_tables()}
    assert rows == dict.fromkeys(scored_tables(), 0) and {"ip_reputation", "domain_reputation"} <= set(rows)
    views = jobs.materialize(dep, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC), tables=[])
    assert sorted(views) == sorted(f"{t}_features" for t in rows)
    fs = st.open_store(dep.feast_home, dep.features, dep.feast_profile)
    entity = pd.DataFrame({"sending_ip": ["192.0.2.10"], "event_timestamp": [pd.Timestamp("2026-03-01T10:00Z")]})
    joined = st.historical(fs, entity, ["ip_reputation_features:health_score"])
    assert len(joined) == 1 and joined["ip_reputation_features__health_score"].isna().all()
    assert [e["step"] for e in jobs.timeline(dep)] == ["score_features", "materialize"]
