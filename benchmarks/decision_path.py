"""MDL-001 decisions by entity keys, side by side in one run (issue: decisions at sending speed):

- `ours`: raw gRPC by entity keys; the runtime reads the packed vectors beside a Redis online
  store (`platform.packed_features`) and predicts with the compiled model (`TrainedModel.for_serving`);
- `today`: REST JSON by entity keys; the same runtime reading through Feast's own online read
  (`packed: false`), as before packing;
- `stock`: MLServer's XGBoost runtime on the same fate booster, features given (raw gRPC FP32);
- `bare`: in process, no server: the registered model's predict_proba on feature rows, and its
  compiled form on the same rows.

p50 / p99 for batches of 1 and 1,000, then `ours` stage by stage for a batch of 1,000 in one
process (`benchmarks/decision_stages.py`: where the time goes), then a load of concurrent clients
for a fixed time on `ours` and on `stock` (decisions per second, errors). Clients run in the serving environment
(`benchmarks/decision_clients.py`); every cell runs with the serving process's native settings
(`serving.local.SERVING_ENV`). Needs `make run` first (a world and a champion) and
`redis-server` on PATH. Run: `.venv/bin/python benchmarks/decision_path.py` (writes
benchmarks/results/decision_path.json; exits 1 on any error).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
from provenance import write_results
from serving_latency import _messages, _time

from adaptive_delivery.delivery.models.mdl001_deliverability import model as mdl
from adaptive_delivery.delivery.models.mdl001_deliverability.spec import SPEC
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.training.registry import CHAMPION
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from serving import local
from serving.client import online_feature_rows

REPO = Path(__file__).resolve().parents[1]


def _client(args, work: Path, ports: tuple[int, int], **cell) -> dict:
    cmd = [str(local.SERVING_PYTHON), str(REPO / "benchmarks" / "decision_clients.py"), "--http", str(ports[0]),
           "--grpc", str(ports[1]), "--messages", str(work / "messages.parquet"), "--matrix", str(work / "matrix.npy"),
           *[a for k, v in cell.items() for a in (f"--{k}", str(v))]]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=REPO, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"client {cell}: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps({**cell, **result}), flush=True)
    return result


def _stages(work: Path, folder: Path, feature_store: dict) -> dict:
    """`ours` stage by stage for a batch of 1,000, in one serving-environment process
    (`benchmarks/decision_stages.py`), while the server idles."""
    cmd = [str(local.SERVING_PYTHON), str(REPO / "benchmarks" / "decision_stages.py"), "--model", str(folder),
           "--feature-store", json.dumps(feature_store), "--messages", str(work / "messages.parquet")]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=REPO, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"stages: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    if any(os.environ.get(k) != v for k, v in local.SERVING_ENV.items()):  # the bare model as the server runs it
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **local.SERVING_ENV})
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", type=Path, default=REPO / "runs" / "latest")
    parser.add_argument("--mlflow-home", type=Path, default=REPO / "runs" / "mlflow")
    parser.add_argument("--requests", type=int, default=1000, help="per cell")
    parser.add_argument("--today-thousand-requests", type=int, default=1000,
                        help="today's path takes ~0.7 s per 1,000 messages: fewer for a quick look")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    args.world, args.mlflow_home = args.world.resolve(), args.mlflow_home.resolve()
    if not (args.world / "features").exists() or not (args.mlflow_home / "mlflow.db").exists():
        sys.exit(f"needs a world and a champion: run `make run` first ({args.world}, {args.mlflow_home})")
    work = args.world.parent / "bench-decision-path"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    client = Tracking(default_tracking_uri(args.mlflow_home)).client()
    version, folder = local.resolve_alias(client, SPEC.registered_name, CHAMPION, work / "models")
    bundle = TrainedModel.load(TrainedModel.locate(folder))
    compiled = bundle.for_serving()
    redis_proc, redis_port = local.start_redis(work)
    project = f"bench_{uuid.uuid4().hex[:8]}"
    connection = f"127.0.0.1:{redis_port}"
    store = st.open_store(work / "feast", args.world / "features", profile="redis-local", project=project,
                          AD_REDIS_CONNECTION=connection)
    server = None
    try:
        st.apply(store)
        end = pc.max(ds.dataset(args.world / "features" / "calendar").to_table(
            columns=["event_timestamp"]).column(0)).as_py() + timedelta(hours=1)
        st.materialize(store, end - timedelta(days=1), end)
        msgs = _messages(args.world, 1000)
        msgs.to_parquet(work / "messages.parquet")
        rows = online_feature_rows(store, store.get_feature_service(SPEC.feature_service), msgs)
        encoded = mdl.with_derived(bundle.encode(rows))[bundle.model.columns].to_numpy(dtype=np.float32)
        np.save(work / "matrix.npy", encoded)
        booster = work / "xgb"
        booster.mkdir()
        bundle.model.xgb.save_model(str(booster / "model.json"))
        feature_store = {"home": str((work / "feast").resolve()), "data": str((args.world / "features").resolve()),
                         "profile": "redis-local", "project": project, "service": SPEC.feature_service}
        http, grpc = local.free_port(), local.free_port()
        settings = local.write_settings(work / "mlserver", {"mdl-001": (version, folder), "mdl-001-feast": (version, folder)},
                                        http, grpc, feature_store=feature_store)
        feast_settings = settings / "mdl-001-feast" / "model-settings.json"
        today = json.loads(feast_settings.read_text())
        today["parameters"]["extra"]["feature_store"]["packed"] = False  # Feast's own read, as before packing
        feast_settings.write_text(json.dumps(today, indent=2))
        (settings / "xgb").mkdir()
        (settings / "xgb" / "model-settings.json").write_text(json.dumps({
            "name": "xgb", "implementation": "mlserver_xgboost.XGBoostModel",
            "parameters": {"uri": str(booster / "model.json"), "version": version}}))
        os.environ["AD_REDIS_CONNECTION"] = connection  # the runtime's profile reads it
        server = local.start(settings, http, grpc, "mdl-001")
        ports = (http, grpc)
        results: dict = {"model_version": version, "features": len(bundle.features), "cpu_count": os.cpu_count(),
                         "compiled_max_abs_gap": float(np.max(np.abs(compiled.predict_proba(rows) - bundle.predict_proba(rows))))}
        for batch in (1, 1000):
            part = rows.head(batch)
            cells = {
                "ours_grpc_raw_entity_keys_packed": _client(args, work, ports, path="ours", batch=batch,
                                                            requests=args.requests),
                "today_rest_json_entity_keys_feast": _client(
                    args, work, ports, path="today", model="mdl-001-feast", batch=batch,
                    requests=args.requests if batch == 1 else args.today_thousand_requests),
                "stock_xgboost_grpc_raw_features_given": _client(args, work, ports, path="stock", batch=batch,
                                                                 requests=args.requests),
                "bare_registered_model_in_process": _time(lambda part=part: bundle.predict_proba(part), args.requests),
                "bare_compiled_model_in_process": _time(lambda part=part: compiled.predict_proba(part), args.requests),
            }
            results[f"batch_{batch}"] = cells
        results["stages_batch_1000"] = _stages(work, folder, feature_store)
        results["load"] = {
            name: _client(args, work, ports, path=path, batch=1000, clients=args.clients, seconds=args.seconds)
            for name, path in (("ours_grpc_raw_entity_keys_packed", "ours"), ("stock_xgboost_grpc_raw_features_given", "stock"))}
        thousand = results["batch_1000"]
        results["targets"] = {
            "batch_1000_p99_under_10_ms": thousand["ours_grpc_raw_entity_keys_packed"]["p99_ms"] < 10,
            "batch_1000_p99_within_2x_registered_model": thousand["ours_grpc_raw_entity_keys_packed"]["p99_ms"]
            < 2 * thousand["bare_registered_model_in_process"]["p99_ms"],
            "batch_1000_p99_within_2x_compiled_model": thousand["ours_grpc_raw_entity_keys_packed"]["p99_ms"]
            < 2 * thousand["bare_compiled_model_in_process"]["p99_ms"],
            "batch_1_p99_under_5_ms": results["batch_1"]["ours_grpc_raw_entity_keys_packed"]["p99_ms"] < 5,
            "load_zero_errors": all(v["errors"] == 0 for v in results["load"].values()),
        }
    finally:
        if server is not None:
            server.stop()
        st.teardown(store)
        redis_proc.terminate()
    write_results("decision_path.json", results)
    print(json.dumps(results["targets"], indent=2))
    errors = sum(c.get("errors", 0) for b in ("batch_1", "batch_1000") for c in results[b].values())
    sys.exit(1 if errors or not results["targets"]["load_zero_errors"] else 0)


if __name__ == "__main__":
    main()
