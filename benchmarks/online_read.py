"""Online feature read latency through Feast for 1 and for 1,000 entities, p50 and p99, on the
SQLite online store (local profile) and on Redis (the cluster's online store) when one is running.
Spec §4.1 asks for under 5 ms for one entity. On Redis it also times MDL-001's whole feature service
(seven views) for 1 and 1,000 messages by entity keys, through Feast's read and through the packed
vectors beside it (`platform.packed_features`), after checking that both answer alike.

Run: `.venv/bin/python benchmarks/online_read.py` (writes benchmarks/results/online_read.json).
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
from provenance import write_results

from adaptive_delivery.delivery.decisions.entities import ENTITY_KEYS, OnlineFeatures
from adaptive_delivery.delivery.features.spark_jobs import build_features, spark_session
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

FEAST_THOUSANDS = 200  # Feast's read of 1,000 messages takes ~0.5 s: 200 requests of it
FEATURES = [f"subscriber_features:{f}" for f in (
    "engagement_score", "days_since_last_open", "days_since_last_click", "opens_30d", "clicks_30d",
    "emails_received_30d", "open_hour_heatmap", "typical_response_hours", "bounce_history", "complaint_history",
    "tenure_days", "email_domain", "domain_category")]


def _time(fs, rows: list[dict], n: int) -> dict:
    lat = []
    for _ in range(n):
        batch = rows
        t0 = time.perf_counter()
        fs.get_online_features(features=FEATURES, entity_rows=batch).to_dict()
        lat.append((time.perf_counter() - t0) * 1000)
    a = np.array(lat)
    return {"requests": n, "p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3)}


def measure(fs, people: list[str]) -> dict:
    singles = [{"subscriber_id": p} for p in people]
    fs.get_online_features(features=FEATURES, entity_rows=singles[:10]).to_dict()  # warm caches
    lat = []
    for i in range(2000):  # one entity per request, a different one each time
        t0 = time.perf_counter()
        fs.get_online_features(features=FEATURES, entity_rows=[singles[i % len(singles)]]).to_dict()
        lat.append((time.perf_counter() - t0) * 1000)
    a = np.array(lat)
    one = {"requests": 2000, "p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3)}
    thousand = _time(fs, singles[:1000], 1000)
    return {"one_entity": one, "thousand_entities": thousand}


def _percentiles(lat: list[float]) -> dict:
    a = np.array(lat)
    return {"requests": len(lat), "p50_ms": round(float(np.percentile(a, 50)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3)}


def _messages(features: Path, n: int, seed: int):
    """n messages naming entities the world knows (keys drawn from each entity's feature table)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    tables = {"subscriber_id": "subscriber", "sending_domain": "sender_domain", "sending_ip": "sender_ip",
              "provider": "provider", "content_id": "content"}
    out = {}
    for key, table in tables.items():
        known = sorted(set(ds.dataset(features / table).to_table(columns=[key]).column(0).to_pylist()))
        out[key] = rng.choice(np.array(known, dtype=object), n)
    return pd.DataFrame(out)[list(ENTITY_KEYS)]


def measure_service(fs, features: Path, feast_requests: int) -> dict:
    """MDL-001's stored features for 1 and 1,000 messages: Feast's read against the packed one."""
    name = st.service(fs, "MDL-001").name
    readers = {"feast": OnlineFeatures(fs, name, packed=False), "packed": OnlineFeatures(fs, name)}
    check = _messages(features, 1_000, seed=99)
    a, b = (readers[k].stored_rows(check) for k in ("feast", "packed"))
    numeric = [c for c in b.columns if b[c].dtype != object]
    same = bool(np.array_equal(a[numeric].to_numpy(float), b[numeric].to_numpy(float), equal_nan=True)
                and all(a[c].where(a[c].notna(), None).tolist() == b[c].tolist() for c in b.columns if c not in numeric))
    out: dict = {"features": len(b.columns), "equal_on_1000_messages": same}
    for reader_name, reader in readers.items():
        cells = {}
        for label, size, n in (("one_message", 1, 2_000), ("thousand_messages", 1_000,
                                                          feast_requests if reader_name == "feast" else 1_000)):
            batches = [_messages(features, size, seed=i) for i in range(min(n, 50))]
            reader.stored_rows(batches[0])  # warm
            lat = []
            for i in range(n):
                t0 = time.perf_counter()
                reader.stored_rows(batches[i % len(batches)])
                lat.append((time.perf_counter() - t0) * 1000)
            cells[label] = _percentiles(lat)
        out[reader_name] = cells
        print(reader_name, cells, flush=True)
    return out


def main() -> None:
    root = Path(tempfile.mkdtemp())
    simulate(WorldConfig(subscribers=5_000, days=3, seed=4), root, progress=False)
    spark = spark_session(master="local[2]")
    build_features(root / "lake", root / "features", spark)
    spark.stop()
    end = pc.max(ds.dataset(root / "features" / "calendar").to_table(columns=["event_timestamp"]).column(0)).as_py()
    end += timedelta(hours=1)
    people = sorted(set(ds.dataset(root / "features" / "subscriber").to_table(columns=["subscriber_id"]).column(0).to_pylist()))
    report = {"features_per_entity": len(FEATURES), "entities_available": len(people)}
    fs = st.open_store(root / "feast", root / "features")
    st.apply(fs)
    st.materialize(fs, end - timedelta(hours=24), end, views=["subscriber_features"])
    report["sqlite"] = measure(fs, people)
    print(report, flush=True)
    with socket.socket() as s:
        redis_up = s.connect_ex(("127.0.0.1", 6379)) == 0
    if redis_up:
        project = f"bench_{uuid.uuid4().hex[:8]}"
        fr = st.open_store(root / "feast-redis", root / "features", profile="redis-local", project=project,
                           AD_REDIS_CONNECTION="127.0.0.1:6379")
        st.apply(fr)
        try:
            st.materialize(fr, end - timedelta(hours=24), end, views=["subscriber_features"])
            report["redis"] = measure(fr, people)
            st.materialize(fr, end - timedelta(days=3), end)
            report["mdl_001_service_on_redis"] = measure_service(fr, root / "features", FEAST_THOUSANDS)
        finally:
            st.teardown(fr)
    write_results("online_read.json", report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
