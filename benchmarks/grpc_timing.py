"""Times V2 inference over gRPC with raw tensor contents, one request per row, as a sending system
calls it; run in the serving environment (it needs MLServer's protocol stubs) by a benchmark that
started the server.

    .venv-serving/bin/python benchmarks/grpc_timing.py --port P --model NAME rows.json

`rows.json` is a list of rows ({input name: text or number}); every row is sent twice, after
`--warmup` rows sent once: the first pass times each row's first answer, the second a repeat of it.
Prints {"first": [seconds...], "again": [seconds...]}. With `--batch N`, each request carries N
consecutive rows (a column of numbers goes as FP64, of text as BYTES), and `--requests` of them are
timed, after the warm-up requests.
"""

import argparse
import json
import time

import grpc
import numpy as np
from mlserver.grpc import dataplane_pb2_grpc

from serving import raw_tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch", type=int, default=0, help="rows per request (0: one text row per request)")
    parser.add_argument("--requests", type=int, default=1_000, help="with --batch: requests timed")
    parser.add_argument("rows")
    args = parser.parse_args()
    with open(args.rows) as fh:
        rows = json.load(fh)
    with grpc.insecure_channel(f"127.0.0.1:{args.port}") as channel:
        stub = dataplane_pb2_grpc.GRPCInferenceServiceStub(channel)

        def call(row: dict) -> float:
            started = time.perf_counter()  # the request is built inside the time, as a client must
            request = raw_tensors.infer_request(args.model, {k: np.asarray([v], dtype=object) for k, v in row.items()})
            stub.ModelInfer(request, timeout=30)
            return time.perf_counter() - started

        if args.batch:
            print(json.dumps({"batch": _batches(stub, args, rows)}))
            return
        for row in rows[: args.warmup]:
            call(row)
        timed = rows[args.warmup:]
        first = [call(row) for row in timed]
        again = [call(row) for row in timed]
    print(json.dumps({"first": first, "again": again}))


def _columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Rows -> one array per input: numbers as float64, anything else as text."""
    out = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        out[name] = np.asarray(values, dtype=np.float64 if numeric else object)
    return out


def _batches(stub, args, rows: list[dict]) -> list[float]:
    """Seconds per request of `args.batch` rows, the request built inside the time."""
    batches = [rows[i:i + args.batch] for i in range(0, len(rows) - args.batch + 1, args.batch)]

    def call(batch: list[dict]) -> float:
        started = time.perf_counter()
        stub.ModelInfer(raw_tensors.infer_request(args.model, _columns(batch)), timeout=30)
        return time.perf_counter() - started

    for k in range(args.warmup):
        call(batches[k % len(batches)])
    return [call(batches[k % len(batches)]) for k in range(args.requests)]


if __name__ == "__main__":
    main()
