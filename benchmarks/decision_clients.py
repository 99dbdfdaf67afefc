"""The client side of `benchmarks/decision_path.py`, in the serving environment (MLServer's gRPC
stubs): times one path for one batch size, or loads it with concurrent clients, and prints JSON.

Paths: `ours` (raw gRPC by entity keys), `today` (REST JSON by entity keys), `stock` (raw gRPC,
features given, MLServer's XGBoost runtime). Every answer is checked: status OK and one value per
message; a failure counts as an error, never as a latency.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import requests
from mlserver.grpc import dataplane_pb2_grpc

from serving import raw_tensors
from serving.client import entity_columns


def _callers(args, messages: pd.DataFrame, matrix: np.ndarray):
    """A function sending batch k, for the chosen path (each thread makes its own)."""
    batch = args.batch
    starts = range(0, len(messages) - batch + 1, batch) if batch < len(messages) else [0]
    if args.path == "stock":
        bodies = [raw_tensors.infer_request("xgb", {}) for _ in starts]
        for body, s in zip(bodies, starts, strict=True):
            body.inputs.add(name="input-0", datatype="FP32", shape=[batch, matrix.shape[1]])
            body.raw_input_contents.append(np.ascontiguousarray(matrix[s:s + batch], dtype="<f4").tobytes())
            body.outputs.add(name="predict_proba")
    else:
        columns = [entity_columns(messages.iloc[s:s + batch]) for s in starts]

    def make():
        if args.path == "today":
            session = requests.Session()
            payloads = [json.dumps({"inputs": [
                {"name": n, "shape": [batch], "datatype": raw_tensors.datatype_of(v), "data": v.tolist()}
                for n, v in c.items()]}) for c in columns]

            def call(k: int) -> int:
                r = session.post(f"http://127.0.0.1:{args.http}/v2/models/{args.model}/infer", data=payloads[k],
                                 headers={"Content-Type": "application/json"}, timeout=60)
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
                return len(r.json()["outputs"][0]["data"])
            return call, len(payloads)
        stub = dataplane_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{args.grpc}"))
        if args.path == "stock":
            def call(k: int) -> int:
                reply = stub.ModelInfer(bodies[k], timeout=60)
                raw_tensors.response_columns(reply)  # decoded, as a caller would
                return int(reply.outputs[0].shape[0])

            return call, len(bodies)

        def call(k: int) -> int:  # the request is built from arrays each time, as a caller would
            reply = stub.ModelInfer(raw_tensors.infer_request(args.model, columns[k]), timeout=60)
            return len(raw_tensors.response_columns(reply)["action"])
        return call, len(columns)
    return make


def _summary(latencies: list[float], errors: list[str]) -> dict:
    ms = np.asarray(latencies) * 1000 if latencies else np.array([np.nan])
    return {"requests": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def latency(args, make) -> dict:
    call, n = make()
    for k in range(min(n, 5)):  # warm
        call(k)
    latencies, errors = [], []
    for i in range(args.requests):
        t = time.perf_counter()
        try:
            got = call(i % n)
            if got != args.batch:
                raise RuntimeError(f"{got} answers for {args.batch} messages")
            latencies.append(time.perf_counter() - t)
        except Exception as exc:  # counted, reported, and the benchmark fails
            errors.append(repr(exc)[:200])
    return _summary(latencies, errors)


def load(args, make) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    decisions = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def worker(k: int) -> None:
        call, n = make()
        i = k
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                got = call(i % n)
                ok = got == args.batch
                detail = "" if ok else f"{got} answers for {args.batch} messages"
            except Exception as exc:
                ok, detail = False, repr(exc)[:200]
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - t)
                    decisions[0] += got
                else:
                    errors.append(detail)
            i += args.clients

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {**_summary(latencies, errors), "clients": args.clients, "seconds": round(elapsed, 1),
            "decisions_per_s": round(decisions[0] / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("ours", "today", "stock"), required=True)
    parser.add_argument("--model", default="mdl-001")
    parser.add_argument("--http", type=int, required=True)
    parser.add_argument("--grpc", type=int, required=True)
    parser.add_argument("--messages", type=Path, required=True, help="parquet: entity keys and request fields")
    parser.add_argument("--matrix", type=Path, required=True, help="npy: the booster's inputs of the same messages")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=0, help="load: this many concurrent clients")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    make = _callers(args, pd.read_parquet(args.messages), np.load(args.matrix))
    print(json.dumps(load(args, make) if args.clients else latency(args, make)))


if __name__ == "__main__":
    main()
