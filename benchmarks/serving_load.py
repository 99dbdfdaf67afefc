"""Load test of the MDL-001 decision endpoint on 127.0.0.1: concurrent clients send batches of real
messages' features for a bounded time (and at most a bounded number of requests); every answer
must be 200 with one decision per message. Reports throughput, latency and errors.

Needs `make run` first (a champion and a materialised world). Run:
`.venv/bin/python benchmarks/serving_load.py [--clients 8 --seconds 60 --batch 100]`
(writes benchmarks/results/serving_load.json; exits 1 if any request failed).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests
from provenance import write_results

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.models.mdl001_deliverability.spec import SPEC
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.training.registry import CHAMPION
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from serving import local
from serving.client import online_feature_rows, v2_request

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", type=Path, default=REPO / "runs" / "latest")
    parser.add_argument("--mlflow-home", type=Path, default=REPO / "runs" / "mlflow")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()
    if not (args.world / "feast" / "online.db").exists() or not (args.mlflow_home / "mlflow.db").exists():
        sys.exit("needs a materialised world and a champion: run `make run` first")
    client = Tracking(default_tracking_uri(args.mlflow_home)).client()
    work = args.world.parent / "bench-load"
    version, folder = local.resolve_alias(client, SPEC.registered_name, CHAMPION, work / "models")
    bundle = TrainedModel.load(TrainedModel.locate(folder))
    sends = EventsLake(args.world / "lake").read("sends").to_pandas()
    msgs = sends[sends["send_ts"] >= sends["send_ts"].max().floor("D")].head(args.batch * 20).reset_index(drop=True)
    fs = st.open_store(args.world / "feast", args.world / "features")
    rows = online_feature_rows(fs, fs.get_feature_service(SPEC.feature_service), msgs)
    bodies = [v2_request(rows.iloc[i:i + args.batch], bundle.features, bundle.categorical,
                         msgs["message_id"].iloc[i:i + args.batch].tolist())
              for i in range(0, len(rows) - args.batch + 1, args.batch)]
    http, grpc = local.free_port(), local.free_port()
    server = local.start(local.write_settings(work / "mlserver", {"mdl-001": (version, folder)}, http, grpc),
                         http, grpc, "mdl-001")
    latencies: list[float] = []
    failures: list[str] = []
    sent = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def worker(k: int) -> None:
        session = requests.Session()
        i = k
        while time.monotonic() < deadline:
            with lock:
                if sent[0] >= args.max_requests:
                    return
                sent[0] += 1
            body = bodies[i % len(bodies)]
            i += args.clients
            t = time.perf_counter()
            try:
                r = session.post(f"{server.url}/v2/models/mdl-001/infer", json=body, timeout=30)
                ok = r.status_code == 200 and len(r.json()["outputs"][0]["data"]) == args.batch
                detail = "" if ok else f"{r.status_code}: {r.text[:200]}"
            except requests.RequestException as exc:
                ok, detail = False, repr(exc)
            with lock:
                latencies.append(time.perf_counter() - t)
                if not ok:
                    failures.append(detail)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    ms = np.asarray(latencies) * 1000
    result = {"clients": args.clients, "seconds": round(elapsed, 1), "batch": args.batch, "requests": len(latencies),
              "messages": len(latencies) * args.batch, "errors": len(failures), "first_errors": failures[:5],
              "requests_per_s": len(latencies) / elapsed, "messages_per_s": len(latencies) * args.batch / elapsed,
              "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
              "command": "python benchmarks/serving_load.py"}
    write_results("serving_load.json", result)
    print(json.dumps(result, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
