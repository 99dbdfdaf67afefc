"""Online feature read latency through Feast for 1 and for 1,000 entities, p50 and p99, on the
SQLite online store (local profile) and on Redis (the cluster's online store) when one is running.
Spec §4.1 asks for under 5 ms for one entity.

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

from adaptive_delivery.delivery.features.spark_jobs import build_features, spark_session
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

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
        finally:
            fr.teardown()
    write_results("online_read.json", report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
