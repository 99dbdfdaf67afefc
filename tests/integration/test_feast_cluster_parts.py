"""The cluster profile's parts, for real where they run here: Redis as the online store, and
PostgreSQL as the SQL registry, each a throwaway server the tests start themselves (conftest). The
cluster profile itself is validated as configuration."""

import os
import uuid
from pathlib import Path

import pandas as pd
import pytest

from adaptive_delivery.platform import feature_store as st

SETTINGS = ("AD_FEAST_HOME", "AD_FEATURE_DATA", "AD_FEAST_PROFILE", "AD_FEAST_PROJECT", "AD_FEAST_REGISTRY_URL",
            "AD_REDIS_CONNECTION", "AD_SPARK_MASTER")


@pytest.fixture(autouse=True)
def _settings_restored():
    """`feature_store.configure` writes its AD_* settings into the environment: each test starts
    without them and the environment is put back as it was after it, so a later test on this worker
    (an Airflow DAG run) never inherits this file's cluster profile or throwaway servers.
    (monkeypatch.delenv of an unset variable records nothing to undo.)"""
    saved = {key: os.environ.pop(key, None) for key in SETTINGS}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_redis_online_store_serves_what_was_materialised(built_features, tmp_path, redis_server):
    import redis

    _, out, ref = built_features
    project = f"test_{uuid.uuid4().hex[:10]}"
    fs = st.open_store(tmp_path / "feast", out, profile="redis-local", project=project,
                       AD_REDIS_CONNECTION=redis_server)
    st.apply(fs)
    prov = ref["provider"]
    start, end = prov["event_timestamp"].min().to_pydatetime(), prov["event_timestamp"].max().to_pydatetime()
    host, port = redis_server.split(":")
    client = redis.Redis(host=host, port=int(port))
    try:
        st.materialize(fs, start, end, views=["provider_features", "sender_ip_features"])
        latest = prov.sort_values("event_timestamp").groupby("provider").last()
        got = st.online(fs, ["provider_features:accept_rate_15m", "provider_features:attempts_15m"],
                        [{"provider": p} for p in latest.index])
        assert got["provider_features__attempts_15m"] == list(latest["attempts_15m"])
        assert got["provider_features__accept_rate_15m"] == pytest.approx(list(latest["accept_rate_15m"]))
        ips = ref["sender_ip"].sort_values("event_timestamp").groupby("sending_ip").last()
        got = st.online(fs, ["sender_ip_features:volume_today"], [{"sending_ip": i} for i in ips.index])
        assert got["sender_ip_features__volume_today"] == list(ips["volume_today"])
        assert any(project.encode() in k for k in client.scan_iter(count=1000))
    finally:
        st.teardown(fs)
    assert not any(project.encode() in k for k in client.scan_iter(count=1000)), "teardown left keys behind"


def test_sql_registry_on_postgresql_holds_the_definitions(built_features, tmp_path, postgres_server):
    import sqlalchemy

    _, out, _ = built_features
    schema = f"feast_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(postgres_server)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    url = f"{postgres_server}?options=-csearch_path%3D{schema}"
    yaml = tmp_path / "sql-registry.yaml"
    yaml.write_text(Path(st.profile_yaml("local")).read_text().replace(
        "registry:\n  registry_type: file\n  path: ${AD_FEAST_HOME}/registry.db",
        "registry:\n  registry_type: sql\n  path: ${AD_FEAST_REGISTRY_URL}"))
    from feast import FeatureStore

    try:
        st.configure(tmp_path / "home", out, project="test_sql", AD_FEAST_REGISTRY_URL=url)
        fs = FeatureStore(repo_path=str(st.feature_repo_path()), fs_yaml_file=yaml)
        applied = st.apply(fs)
        again = FeatureStore(repo_path=str(st.feature_repo_path()), fs_yaml_file=yaml)
        names = {v.name for v in again.list_feature_views()}
        assert {"subscriber_features", "sender_ip_features", "provider_features"} <= names
        services = {a.split(":", 1)[1] for a in applied if a.startswith("FeatureService:")}
        assert {s.name for s in again.list_feature_services()} == services and "mdl_001_deliverability" in services
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))


def test_cluster_profile_is_complete_and_valid(tmp_path, monkeypatch):
    from feast.repo_config import load_repo_config

    st.configure(tmp_path, "s3://features-bucket/features", profile="cluster",
                 AD_FEAST_REGISTRY_URL="postgresql+psycopg://feast@postgres:5432/feast",
                 AD_REDIS_CONNECTION="redis-master:6379,ssl=true", AD_SPARK_MASTER="k8s://https://kubernetes.default.svc")
    cfg = load_repo_config(st.feature_repo_path(), st.profile_yaml("cluster"))
    assert cfg.offline_store.type == "spark" and cfg.online_store.type == "redis"
    assert cfg.registry.registry_type == "sql" and cfg.registry.path.startswith("postgresql+psycopg://")
    assert cfg.offline_store.spark_conf["spark.sql.session.timeZone"] == "UTC"
    defs = st.definitions()
    sources = {k: v for k, v in defs.items() if k.endswith("_source")}
    assert sources and all(type(v).__name__ == "SparkSource" for v in sources.values())
    assert all(v.path.startswith("s3://features-bucket/features/") for v in sources.values())
    monkeypatch.setenv("AD_FEAST_PROFILE", "local")
    st.configure(tmp_path, tmp_path / "features")
    assert all(type(v).__name__ == "FileSource" for k, v in st.definitions().items() if k.endswith("_source"))


def test_ttls_follow_the_spec():
    from adaptive_delivery.delivery.features import definitions as fd

    defs = st.definitions()
    ttl = {k.split(":")[1]: v.ttl for k, v in defs.items() if k.startswith("FeatureView:")}
    assert ttl["subscriber_features"] == fd.SUBSCRIBER_TTL == pd.Timedelta(hours=24)
    assert ttl["sender_domain_features"] == ttl["sender_ip_features"] == pd.Timedelta(hours=1)
    assert ttl["provider_features"] == pd.Timedelta(minutes=15)
