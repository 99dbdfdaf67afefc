"""The local serving stack: resolve a registered model by alias (what the rollout controller does
for Seldon on a cluster), write MLServer's settings, start MLServer on 127.0.0.1 from the serving
environment, and wait until the model is ready. Runs in the platform environment (it needs the
MLflow client); MLServer itself runs in `.venv-serving`."""

import json
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from serving.guard import TOKEN_ENV, GuardSettings, auth_headers

REPO = Path(__file__).resolve().parents[1]
SERVING_PYTHON = REPO / ".venv-serving" / "bin" / "python"
# what a model without its own runtime gets
RUNTIME = "adaptive_delivery.delivery.models.mdl001_deliverability.runtime.DeliverabilityRuntime"
# The serving process's native settings (Seldon's server pods get the same, serving.seldon):
# - glibc hands a freed block over 128 KiB back to the kernel and page-faults a fresh one on the
#   next request; a batch's matrices are that size, so keep them in the heap (3 ms of 8 at 1,000
#   messages on 2 cores);
# - the network's matrix products are small: BLAS threads would only spin against XGBoost's;
# - XGBoost's OpenMP workers sleep between batches instead of spinning: on 2 cores shared with
#   Redis, the event loop and the caller, a spinning worker holds a core the next step needs
#   (the runtime's whole answer, timed in process with either policy in turn, had a tail several
#   times longer with spinning workers, at batches of 1 and of 1,000).
SERVING_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "67108864",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(folder: Path) -> tuple[subprocess.Popen, int]:
    """A throwaway redis-server on a free loopback port, keeping nothing on disk (benchmarks' own
    online store or stream); (process, port). SystemExit when none is installed or it won't start."""
    import shutil
    import sys

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("needs redis-server on PATH")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            redis.Redis(host="127.0.0.1", port=port).ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("redis-server did not start")


def resolve_alias(client, registered_name: str, alias: str, dest: Path) -> tuple[str, Path]:
    """The version behind an alias and a local copy of its model files."""
    import mlflow.artifacts

    mv = client.get_model_version_by_alias(registered_name, alias)
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{registered_name}/{mv.version}",
                                                dst_path=str(dest / f"{registered_name}-v{mv.version}"))
    return str(mv.version), Path(local)


def feature_store_settings(world: Path, service: str, project: str = "adaptive_delivery") -> dict[str, str]:
    """`write_settings`' feature_store for a world's local-profile store (WORLD/feast over WORLD/features)."""
    return {"home": str((world / "feast").resolve()), "data": str((world / "features").resolve()), "profile": "local",
            "project": project, "service": service}


def write_settings(root: Path, models: dict[str, tuple[str, Path]], http_port: int, grpc_port: int,
                   prediction_log: Path | None = None, host: str = "127.0.0.1",
                   runtimes: dict[str, str] | None = None, metrics_port: int | None = None,
                   feature_store: dict[str, str] | None = None, settings: dict[str, str] | None = None,
                   guard: GuardSettings = GuardSettings()) -> Path:
    """settings.json and one model-settings.json per model name -> (version, model folder);
    `runtimes` names a model's MLServer implementation where it is not MDL-001's; `metrics_port`
    turns on MLServer's Prometheus endpoint (/metrics on that port); `feature_store` ({home, data,
    profile, project, service}) lets the runtime answer entity-key requests from that online store;
    `settings` adds what a runtime reads from its parameters' extra (MDL-009: `approvals`, the approval ledger's path);
    `guard` (guard.json) sets the serving guard's limits and whether the repository API answers."""
    root.mkdir(parents=True, exist_ok=True)
    # parallel_workers 0: MLServer 1.7 crash-loops with inference workers on uvloop>=0.22, and one
    # process keeps the latency path short
    (root / "settings.json").write_text(json.dumps({
        "host": host, "http_port": http_port, "grpc_port": grpc_port, "parallel_workers": 0,
        "grpc_max_message_length": guard.max_body_bytes,  # checked after decompression by gRPC
        **({"metrics_endpoint": "/metrics", "metrics_port": metrics_port} if metrics_port else {"metrics_endpoint": None}),
        "debug": False}, indent=2))
    guard.to_file(root)
    for name, (version, folder) in models.items():
        d = root / name
        d.mkdir(exist_ok=True)
        extra = {"version": version, **({"prediction_log": str(prediction_log)} if prediction_log else {}),
                 **({"feature_store": feature_store} if feature_store else {}), **(settings or {})}
        (d / "model-settings.json").write_text(json.dumps({
            "name": name, "implementation": (runtimes or {}).get(name, RUNTIME),
            "parameters": {"uri": str(folder), "version": version, "extra": extra}}, indent=2))
    return root


@dataclass
class LocalServer:
    process: subprocess.Popen
    http_port: int
    grpc_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Does something already accept connections on the port?"""
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def start(settings_dir: Path, http_port: int, grpc_port: int, model: str, timeout_s: float = 120,
          token: str | None = None) -> LocalServer:
    """Start MLServer (with the serving guard: `serving.mlserver_main`) from the serving environment;
    returns once `model` is ready. Refuses
    ports another server holds (it would answer in place of the one started here). `token` (default:
    the environment's ADAPTIVE_DELIVERY_TOKEN) is what every request but the health probes must carry."""
    busy = [p for p in (http_port, grpc_port) if port_in_use(p)]
    if busy:
        raise RuntimeError(f"127.0.0.1 port(s) {busy} already answer: another server (an MLServer left running?) "
                           "holds them; stop it, or choose other ports")
    if not SERVING_PYTHON.exists():
        raise FileNotFoundError(f"the serving environment is missing ({SERVING_PYTHON}); run `make serving-env`")
    log = settings_dir / "mlserver.log"
    env = {**SERVING_ENV, **os.environ, **({TOKEN_ENV: token} if token else {})}
    proc = subprocess.Popen([str(SERVING_PYTHON), "-m", "serving.mlserver_main", "start", str(settings_dir)], cwd=REPO,
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    server = LocalServer(proc, http_port, grpc_port, log)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"MLServer exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                ready = urllib.request.Request(f"{server.url}/v2/models/{model}/ready",
                                               headers=auth_headers(env.get(TOKEN_ENV)))
                with urllib.request.urlopen(ready, timeout=2) as r:
                    if r.status == 200:
                        return server
            except OSError:
                pass
            time.sleep(0.5)
    except BaseException:  # interrupted while waiting (Ctrl-C): no MLServer is left behind
        server.stop()
        raise
    server.stop()
    raise TimeoutError(f"MLServer did not report {model} ready within {timeout_s:.0f}s: {log.read_text()[-2000:]}")


def serve_alias(client, registered_name: str, alias: str, root: Path, name: str,
                runtime: str | None = None) -> tuple[LocalServer, Path]:
    """The registered version behind `alias`, copied under ROOT/models and served as `name` by
    MLServer on two free ports of 127.0.0.1 (settings under ROOT/mlserver, `runtime` its MLServer
    implementation); returns the server (stop it) and the model folder it serves."""
    version, folder = resolve_alias(client, registered_name, alias, root / "models")
    http, grpc = free_port(), free_port()
    settings = write_settings(root / "mlserver", {name: (version, folder)}, http, grpc,
                              runtimes={name: runtime} if runtime else None)
    return start(settings, http, grpc, name), folder
