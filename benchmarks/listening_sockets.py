"""Which sockets listen, and on which address, while each local server of the project runs: the
main job (`make run`), `model serve`, the rollout router, the MLflow UI and the Airflow UI recipe
(`make airflow-ui`). Each one's whole process tree is sampled every quarter second for as long as it
runs (the main job) or for a few seconds once it answers (the servers). With
ADAPTIVE_DELIVERY_TOKEN set, it also records what `model serve` and the router answer a request
without the token.

    python benchmarks/listening_sockets.py      # writes benchmarks/results/listening_sockets.json

The tests assert the same on their own runs (tests/e2e, tests/integration/test_serving.py,
tests/integration/test_airflow_ui.py); this file is the list a reader can check.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
TOKEN = "listening-sockets-benchmark-token"


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, and IPv4 loopback as Java's IPv6 sockets show it (::ffff:127.0.0.1)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def label(cmdline: list[str]) -> str:
    """A process's first three words, each path cut to its last part: 'python3 -m pyspark.daemon'."""
    return " ".join(Path(word).name if "/" in word else word.strip() for word in cmdline[:3]).strip()


def listening(pid: int) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket of a process and its children."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return set()
    found = set()
    for proc in procs:
        try:
            name = label(proc.cmdline()) or proc.name()
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((name, conn.laddr.ip, conn.laddr.port))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


class SocketWatch:
    """Samples a process tree's listening sockets in a thread until stopped; `seen` is their union."""

    def __init__(self, pid: int, every_s: float = 0.25) -> None:
        self.pid, self.every_s = pid, every_s
        self.seen: set[tuple[str, str, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen |= listening(self.pid)
            self._stop.wait(self.every_s)

    def __enter__(self) -> SocketWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def exposed(self) -> list[tuple[str, str, int]]:
        """Sockets bound to anything but loopback."""
        return sorted(s for s in self.seen if not is_loopback(s[1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout_s: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited with {proc.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{proc.args[:4]} did not answer within {timeout_s:.0f} s")


def status_of(url: str, token: str | None = None, body: bytes | None = None) -> int:
    import urllib.error
    import urllib.request

    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process (its own handler stops its children), then the group's stragglers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def watch_server(cmd: list[str], ready: Callable[[], bool], env: dict, sample_s: float = 5.0,
                 timeout_s: float = 240) -> tuple[SocketWatch, subprocess.Popen]:
    """Start a server, sample its sockets from start until `sample_s` after it answers."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    watch = SocketWatch(proc.pid)
    with watch:
        wait_until(ready, timeout_s, proc)
        time.sleep(sample_s)
    return watch, proc


def _rows(component: str, watch: SocketWatch) -> list[dict]:
    rows = [{"component": component, "process": name, "address": ip, "port": port}
            for name, ip, port in sorted(watch.seen, key=lambda s: (s[2], s[0]))]
    for r in rows:
        print(f"{component:42s} {r['address']:>10s}:{r['port']:<6d} {r['process']}", flush=True)
    return rows


def main() -> None:
    from provenance import write_results

    bin_dir = Path(sys.executable).parent
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AD_")}, "ADAPTIVE_DELIVERY_TOKEN": TOKEN}
    rows, refusals = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        job = subprocess.Popen([str(bin_dir / "adaptive-delivery"), "run", "--out", str(tmp / "run"), "--mlflow-home",
                                str(tmp / "mlflow"), "--airflow-home", str(tmp / "airflow")], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        with SocketWatch(job.pid) as watch:
            job.wait(timeout=1800)
        if job.returncode:
            raise RuntimeError(f"the main job failed ({job.returncode})")
        rows += _rows("make run (the main job)", watch)

        http, grpc = free_port(), free_port()
        serve_url = f"http://127.0.0.1:{http}"
        watch, serve = watch_server([str(bin_dir / "adaptive-delivery"), "model", "serve", "MDL-001", "--aliases",
                                     "champion,challenger", "--mlflow-home", str(tmp / "mlflow"), "--out", str(tmp / "serving"),
                                     "--http-port", str(http), "--grpc-port", str(grpc), "--world", str(tmp / "run")],
                                    lambda: status_of(f"{serve_url}/v2/health/ready") == 200, env)
        try:
            rows += _rows("model serve MDL-001 (MLServer)", watch)
            refusals["model serve: infer without the token"] = status_of(f"{serve_url}/v2/models/mdl-001/infer",
                                                                         body=b"{}")
            refusals["model serve: repository unload with the token"] = status_of(
                f"{serve_url}/v2/repository/models/mdl-001/unload", TOKEN, body=b"")
            port = free_port()
            watch, router = watch_server([sys.executable, "-m", "serving.router", "--backend", serve_url,
                                          "--state", str(tmp / "rollouts"), "--port", str(port)],
                                         lambda: status_of(f"http://127.0.0.1:{port}/v2/models/mdl-001/infer",
                                                           body=b"{}") == 401, env)
            refusals["router: infer without the token"] = status_of(f"http://127.0.0.1:{port}/v2/models/mdl-001/infer",
                                                                    body=b"{}")
            stop(router)
            rows += _rows("serving.router", watch)
        finally:
            stop(serve)

        port = free_port()
        watch, ui = watch_server([str(bin_dir / "mlflow"), "ui", "--backend-store-uri",
                                  f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}", "--port", str(port)],
                                 lambda: status_of(f"http://127.0.0.1:{port}/health") == 200, env)
        stop(ui)
        rows += _rows("mlflow ui", watch)

        port = free_port()
        watch, airflow = watch_server([sys.executable, "tools/airflow_ui.py", "--home", str(tmp / "airflow-ui"),
                                       "--port", str(port)],
                                      lambda: status_of(f"http://127.0.0.1:{port}/api/v2/monitor/health") == 200,
                                      env, sample_s=15, timeout_s=300)
        stop(airflow)
        rows += _rows("make airflow-ui (the Airflow UI recipe)", watch)

    exposed = [r for r in rows if not is_loopback(r["address"])]
    print(f"{len(rows)} listening sockets, {len(exposed)} off loopback; refusals: {refusals}")
    write_results("listening_sockets.json", {
        "sockets": rows, "off_loopback": len(exposed), "components": sorted({r["component"] for r in rows}),
        "refusals_without_token": refusals,
        "note": "every listening TCP socket of each component's process tree, sampled every 0.25 s"})
    if exposed:
        raise SystemExit(f"{len(exposed)} sockets listen off loopback: {exposed}")


if __name__ == "__main__":
    main()
