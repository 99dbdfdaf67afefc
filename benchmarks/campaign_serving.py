"""MKT-001 serving latency: the campaign network trained as the pipeline trains it (quick profile,
split 0), then timed for batches of 1 and 1,000 customers (p50 / p99 over 1,000 requests each):
its answer in process, and served by its MLServer runtime on 127.0.0.1 over V2 REST (JSON) and
over gRPC with raw tensor contents (the client in the serving environment, on the same cores).

Run: `.venv/bin/python benchmarks/campaign_serving.py` (writes benchmarks/results/campaign_serving.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom, training
from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet
from adaptive_delivery.marketing.models.mkt001_campaign.service import answer_rows
from adaptive_delivery.platform.spec import get

HERE = Path(__file__).resolve().parent
NAME = "mkt-001"
BATCHES = (1, 1_000)
WARMUP = 20


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "requests": len(ms)}


def customer_rows(frame, count: int, seed: int = 0) -> list[dict]:
    """Test-split customers as a caller sends them (raw fields; the e-mail left to the model)."""
    rows = frame.iloc[hillstrom.split(frame, 0).test].sample(count, replace=True, random_state=seed)
    out = []
    for r in rows.to_dict("records"):
        out.append({**{k: float(r[k]) for k in hillstrom.NUMERIC}, **{k: r[k] for k in hillstrom.CATEGORICAL}})
    return out


def row_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Request rows as one array per input (text as object arrays)."""
    return {k: np.asarray([r[k] for r in rows], dtype=object if isinstance(rows[0][k], str) else np.float64)
            for k in rows[0]}


def in_process(answer: Callable[[dict[str, np.ndarray]], object], rows: list[dict], batch: int,
               requests: int) -> dict[str, float]:
    """The runtime's answer timed in process, batch after batch."""
    batches = [row_columns(rows[i:i + batch]) for i in range(0, len(rows) - batch + 1, batch)]
    times = []
    for k in range(WARMUP + requests):
        started = time.perf_counter()
        answer(batches[k % len(batches)])
        if k >= WARMUP:
            times.append(time.perf_counter() - started)
    return percentiles(times)


def rest(server, rows: list[dict], batch: int, requests: int, name: str = NAME) -> dict[str, float]:
    import requests as http

    session = http.Session()
    url = f"{server.url}/v2/models/{name}/infer"
    bodies = []
    for i in range(0, len(rows) - batch + 1, batch):
        columns = row_columns(rows[i:i + batch])
        bodies.append({"inputs": [{"name": k, "shape": [batch], "datatype": "BYTES" if v.dtype == object else "FP64",
                                   "data": v.tolist()} for k, v in columns.items()]})
    times = []
    for k in range(WARMUP + requests):
        started = time.perf_counter()
        reply = session.post(url, json=bodies[k % len(bodies)], timeout=30)
        took = time.perf_counter() - started
        reply.raise_for_status()
        if k >= WARMUP:
            times.append(took)
    return percentiles(times)


def grpc(server, rows: list[dict], batch: int, requests: int, tmp: Path, name: str = NAME) -> dict[str, float]:
    from serving import local

    path = tmp / f"rows-{batch}.json"
    path.write_text(json.dumps(rows))
    done = subprocess.run([str(local.SERVING_PYTHON), str(HERE / "grpc_timing.py"), "--port", str(server.grpc_port),
                           "--model", name, "--warmup", str(WARMUP), "--batch", str(batch), "--requests",
                           str(requests), str(path)], capture_output=True, text=True, check=False, cwd=local.REPO,
                          env={**os.environ, "PYTHONPATH": str(local.REPO)})
    if done.returncode:
        raise RuntimeError(f"grpc_timing failed: {done.stderr[-2000:]}")
    return percentiles(json.loads(done.stdout.strip().splitlines()[-1])["batch"])


def main(argv: list[str] | None = None) -> None:
    from serving import local

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    spec = get("MKT-001")
    frame = hillstrom.read()
    report: dict[str, object] = {"requests": args.requests, "cells": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        trained = training.train_and_save(spec.policy_trainer.timesteps["quick"], 0, tmp / "trained", frame=frame)
        folder = tmp / "model"
        training.export_network(trained, folder)
        net = ArrayNet.load(folder / training.NETWORK_FILE)
        rows = customer_rows(frame, 4_000)
        http_port, grpc_port = local.free_port(), local.free_port()
        settings = local.write_settings(tmp / "mlserver", {NAME: ("bench", folder)}, http_port, grpc_port,
                                        runtimes={NAME: spec.runtime})
        server = local.start(settings, http_port, grpc_port, NAME)
        try:
            for batch in BATCHES:
                cells = {"in_process": in_process(lambda c: answer_rows(net, c), rows, batch, args.requests),
                         "rest": rest(server, rows, batch, args.requests),
                         "grpc_raw": grpc(server, rows, batch, args.requests, tmp)}
                report["cells"][str(batch)] = cells
                print(batch, json.dumps(cells), flush=True)
        finally:
            server.stop()
    report["network"] = {"members": len(net.members), "design": net.design}
    print(write_results("campaign_serving.json", report, command))


if __name__ == "__main__":
    main()
