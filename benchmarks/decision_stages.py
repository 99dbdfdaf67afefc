"""Where a decision by entity keys spends its time: each stage of `ours` (the raw gRPC path of
`benchmarks/decision_path.py`) timed on its own, in one process of the serving environment, for a
batch of real messages. Called by `decision_path.py` with the feature store and model it serves;
prints one JSON object (p50 / p99 per stage, milliseconds).

Stages, in the order a request meets them: the caller builds the request from arrays; the server
decodes its raw contents into checked columns (`serving.fast_infer.request_columns`), checks the
message fields (`decisions.entities.message_columns`), reads the stored views' features (the packed
reader's factorising of entity keys, then its one pipelined Redis round trip and decode) and adds
the request's own fields, encodes them for the model, runs the compiled model, decides, and packs
the response (`reply_of`); the caller decodes it. The transport (gRPC, MLServer's dispatch) is what
the end-to-end figure holds beyond their sum.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.decisions import entities
from adaptive_delivery.delivery.decisions.service import decision_columns
from adaptive_delivery.platform import packed_features as pk
from adaptive_delivery.platform.bundle import TrainedModel
from serving import raw_tensors
from serving.client import entity_columns
from serving.fast_infer import reply_of, request_columns


def timed(fn: Callable[[], object], calls: int) -> dict:
    """p50 / p99 of `calls` calls after a few to warm up (milliseconds)."""
    for _ in range(5):
        fn()
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def stages(bundle: TrainedModel, online: entities.OnlineFeatures, messages: pd.DataFrame, calls: int) -> dict:
    """Each stage of one decision by entity keys, timed on its own."""
    model = SimpleNamespace(name="mdl-001", model_version="stages")
    arrays = entity_columns(messages)  # what a caller holds: one array per input
    request = raw_tensors.infer_request(model.name, arrays)
    columns = request_columns(request)
    fields = entities.message_columns(columns)
    reader = online.packed
    if reader is None:
        raise SystemExit("no packed vectors in this store: the stages time the packed read")
    keys = {view: [fields[k] for k in reader.schemas[view].join_keys] for view in online.views}
    factorised = {view: pk.factorize_entities(key_arrays, {}) for view, key_arrays in keys.items()}
    rows, defaults = online.rows(fields)
    encoded = bundle.encode(rows).to_numpy()
    out = decision_columns(bundle, rows, fields[entities.MESSAGE_ID], model.model_version, defaults=defaults)
    reply = reply_of(model, out, request, "stages")
    raw = {"caller builds the request": lambda: raw_tensors.infer_request(model.name, arrays),
           "server decodes the request": lambda: request_columns(request),
           "message fields checked": lambda: entities.message_columns(columns),
           "features read (all)": lambda: online.rows(fields),
           "… entity keys factorised": lambda: {v: pk.factorize_entities(a, {}) for v, a in keys.items()},
           "… packed read (Redis round trip, decode)": lambda: reader._read(factorised),
           "encoded for the model": lambda: bundle.encode(rows),
           "compiled model": lambda: bundle.model.predict_proba(encoded),
           "decided (encode, model, actions)": lambda: decision_columns(
               bundle, rows, fields[entities.MESSAGE_ID], model.model_version, defaults=defaults),
           "server packs the response": lambda: reply_of(model, out, request, "stages"),
           "caller decodes the response": lambda: raw_tensors.response_columns(reply)}
    timings = {name: timed(fn, calls) for name, fn in raw.items()}

    def whole() -> None:
        got = request_columns(request)
        message = entities.message_columns(got)
        found, unknown = online.rows(message)
        reply_of(model, decision_columns(bundle, found, message[entities.MESSAGE_ID], model.model_version,
                                         defaults=unknown), request, "stages")

    timings["server, request decoded to response packed"] = timed(whole, calls)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True, help="the registered model's folder")
    parser.add_argument("--feature-store", required=True, help="JSON: home, data, profile, project, service")
    parser.add_argument("--messages", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    store = json.loads(args.feature_store)
    bundle = TrainedModel.load(TrainedModel.locate(args.model)).for_serving()
    online = entities.open_online(store["home"], store["data"], store["profile"], store["project"], store["service"])
    messages = pd.read_parquet(args.messages).head(args.batch)
    print(json.dumps({"batch": len(messages), "calls": args.calls, "stages": stages(bundle, online, messages, args.calls)}))


if __name__ == "__main__":
    main()
