"""Times V2 inference over gRPC with raw tensor contents, one request per row, as a sending system
calls it; run in the serving environment (it needs MLServer's protocol stubs) by a benchmark that
started the server.

    .venv-serving/bin/python benchmarks/grpc_timing.py --port P --model NAME rows.json

`rows.json` is a list of rows ({input name: text}); every row is sent twice, after `--warmup` rows
sent once: the first pass times each row's first answer, the second a repeat of it. Prints
{"first": [seconds...], "again": [seconds...]}.
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

        for row in rows[: args.warmup]:
            call(row)
        timed = rows[args.warmup:]
        first = [call(row) for row in timed]
        again = [call(row) for row in timed]
    print(json.dumps({"first": first, "again": again}))


if __name__ == "__main__":
    main()
