"""MDL-001 serving latency, side by side, for batches of 1 and 1,000 messages (p50 / p99 over
≥1,000 requests each):

1. bare in-process prediction of the registered model (the floor);
2. end to end over HTTP by entity keys: the request names each message's subscriber, sending
   domain, IP, provider, content, send time and rate; our MLServer runtime reads their features
   from the Feast online store (subscriber, sender, IP, sender x provider, content, provider views;
   temporal features from the send time) and answers the decision (probabilities, action, reason,
   risk, confidence, version, defaulted entities);
3. our MLServer runtime alone, features given explicitly;
4. MLServer's stock XGBoost runtime on the same booster (probabilities only, no decision).

Needs the outputs of `make run` (a world with a materialised online store and a champion in
`runs/mlflow`). Run: `.venv/bin/python benchmarks/serving_latency.py [--world runs/latest]`
(writes benchmarks/results/serving_latency.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from provenance import write_results

from adaptive_delivery.delivery.models.mdl001_deliverability import model as mdl
from adaptive_delivery.delivery.models.mdl001_deliverability.spec import SPEC
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.training.registry import CHAMPION
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from serving import local
from serving.client import entity_request, online_feature_rows, v2_request

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


def _time(fn, n: int) -> dict[str, float]:
    fn()  # warm
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return _percentiles(out)


def _messages(world: Path, n: int) -> pd.DataFrame:
    """The last day's sends: the entity keys and request fields of real messages."""
    from adaptive_delivery.delivery.events.lake import EventsLake

    sends = EventsLake(world / "lake").read("sends").to_pandas()
    last = sends[sends["send_ts"] >= sends["send_ts"].max().floor("D")]
    return last.sample(n, replace=len(last) < n, random_state=0).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", type=Path, default=REPO / "runs" / "latest")
    parser.add_argument("--mlflow-home", type=Path, default=REPO / "runs" / "mlflow")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--batches", default="1,1000")
    args = parser.parse_args()
    args.world, args.mlflow_home = args.world.resolve(), args.mlflow_home.resolve()  # MLServer resolves from its settings
    if not (args.world / "feast" / "online.db").exists() or not (args.mlflow_home / "mlflow.db").exists():
        sys.exit(f"needs a materialised world and a champion: run `make run` first ({args.world}, {args.mlflow_home})")
    client = Tracking(default_tracking_uri(args.mlflow_home)).client()
    work = args.world.parent / "bench-serving"
    version, folder = local.resolve_alias(client, SPEC.registered_name, CHAMPION, work / "models")
    bundle = TrainedModel.load(TrainedModel.locate(folder))
    fs = st.open_store(args.world / "feast", args.world / "features")
    service = fs.get_feature_service(SPEC.feature_service)
    msgs = _messages(args.world, 1000)
    online = online_feature_rows(fs, service, msgs)
    # the stock XGBoost runtime serves the ensemble's booster on the encoded matrix
    booster_dir = work / "xgb"
    booster_dir.mkdir(parents=True, exist_ok=True)
    bundle.model.xgb.save_model(str(booster_dir / "model.json"))  # the sklearn wrapper records "classifier"
    http, grpc = local.free_port(), local.free_port()
    store = local.feature_store_settings(args.world, SPEC.feature_service)
    settings = local.write_settings(work / "mlserver", {"mdl-001": (version, folder)}, http, grpc, feature_store=store)
    (settings / "xgb").mkdir(exist_ok=True)
    (settings / "xgb" / "model-settings.json").write_text(json.dumps({
        "name": "xgb", "implementation": "mlserver_xgboost.XGBoostModel",
        "parameters": {"uri": str(booster_dir / "model.json"), "version": version}}))
    server = local.start(settings, http, grpc, "mdl-001")
    session = requests.Session()
    path = RESULTS / "serving_latency.json"
    results: dict = json.loads(path.read_text()) if path.exists() else {}  # batches measured earlier are kept
    results.pop("command", None)  # recorded in the provenance block now
    results.update({"model_version": version, "features": len(bundle.features)})
    try:
        for batch in [int(b) for b in args.batches.split(",")]:
            part = online.head(batch)
            # the booster's own input: the encoded features plus the derived rates it was fitted on
            derived = mdl.with_derived(bundle.encode(part))[bundle.model.columns]
            encoded = derived.to_numpy(dtype=np.float32)
            body = v2_request(part, bundle.features, bundle.categorical)
            xgb_body = {"inputs": [{"name": "input-0", "shape": list(encoded.shape), "datatype": "FP32",
                                    "data": np.nan_to_num(encoded).ravel().tolist()}],
                        "outputs": [{"name": "predict_proba"}]}
            by_keys = entity_request(msgs.head(batch))

            def end_to_end(by_keys=by_keys):
                r = session.post(f"{server.url}/v2/models/mdl-001/infer", json=by_keys)
                if r.status_code != 200:
                    raise RuntimeError(f"entity-key request: {r.status_code} {r.text[:300]}")

            def ours(body=body):
                r = session.post(f"{server.url}/v2/models/mdl-001/infer", json=body)
                if r.status_code != 200:
                    raise RuntimeError(f"our runtime: {r.status_code} {r.text[:300]}")

            def stock(xgb_body=xgb_body):
                r = session.post(f"{server.url}/v2/models/xgb/infer", json=xgb_body)
                if r.status_code != 200:
                    raise RuntimeError(f"stock runtime: {r.status_code} {r.text[:300]}")

            n = args.requests
            results[f"batch_{batch}"] = {
                "in_process_predict": _time(lambda part=part: bundle.predict_proba(part), n),
                "end_to_end_entity_keys_online_store": _time(end_to_end, n),
                "mlserver_ours_explicit_features": _time(ours, n),
                "mlserver_stock_xgboost_same_booster": _time(stock, n),
            }
            print(json.dumps({f"batch_{batch}": results[f"batch_{batch}"]}, indent=2))
    finally:
        server.stop()
    write_results(path.name, results)


if __name__ == "__main__":
    main()
