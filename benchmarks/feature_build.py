"""Feature-build throughput: the Spark jobs beside the single-node pandas reference computing the same
definitions on the same lake, at two lake sizes, so the growth of cost with data is visible.

Run: `.venv/bin/python benchmarks/feature_build.py` (writes benchmarks/results/feature_build.json).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from provenance import write_results

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.features.reference import build_all
from adaptive_delivery.delivery.features.spark_jobs import build_features, spark_session
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

SIZES = [(5_000, 7), (20_000, 14)]


def main() -> None:
    spark = spark_session(master="local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    warm = Path(tempfile.mkdtemp())
    simulate(WorldConfig(subscribers=500, days=2, seed=2), warm, progress=False)
    t0 = time.perf_counter()
    build_features(warm / "lake", warm / "features", spark)  # JVM and code warm-up, reported separately
    warmup_s = time.perf_counter() - t0
    rows = []
    for subscribers, days in SIZES:
        root = Path(tempfile.mkdtemp())
        simulate(WorldConfig(subscribers=subscribers, days=days, seed=5), root, progress=False)
        lake = EventsLake(root / "lake")
        events = sum(v["rows"] for k, v in lake.summary().items() if "days" in v)
        t0 = time.perf_counter()
        spark_rows = build_features(root / "lake", root / "features", spark)
        spark_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        tables = build_all(root / "lake")
        for name, df in tables.items():
            (root / "ref" / name).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), root / "ref" / name / "part-0.parquet")
        pandas_s = time.perf_counter() - t0
        rows.append({
            "subscribers": subscribers, "days": days, "events": events, "feature_rows": sum(spark_rows.values()),
            "spark_seconds": round(spark_s, 1), "pandas_seconds": round(pandas_s, 1),
            "spark_events_per_s": round(events / spark_s), "pandas_events_per_s": round(events / pandas_s),
            "pandas_over_spark_time": round(pandas_s / spark_s, 2),
        })
        print(rows[-1], flush=True)
        shutil.rmtree(root)
    spark.stop()
    report = {"machine": "2 cores, Spark local[2]", "spark_warmup_seconds": round(warmup_s, 1), "sizes": rows,
              "cost_growth": {
                  "events_ratio": round(rows[1]["events"] / rows[0]["events"], 2),
                  "spark_time_ratio": round(rows[1]["spark_seconds"] / rows[0]["spark_seconds"], 2),
                  "pandas_time_ratio": round(rows[1]["pandas_seconds"] / rows[0]["pandas_seconds"], 2)}}
    write_results("feature_build.json", report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
