"""Integration fixtures: a tiny world's feature tables built once by Spark and by the reference."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def spark():
    from adaptive_delivery.delivery.features.spark_jobs import spark_session

    session = spark_session(master="local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def built_features(tiny_world, spark):
    """(world dir, Spark-built feature dir, reference tables)."""
    from adaptive_delivery.delivery.features.reference import build_all
    from adaptive_delivery.delivery.features.spark_jobs import build_features

    out = tiny_world / "features"
    build_features(tiny_world / "lake", out, spark)
    return tiny_world, out, build_all(tiny_world / "lake")


@pytest.fixture(scope="session")
def engagement_world(spark, tmp_path_factory) -> Path:
    """A world two weeks long with its Spark features, for the models that learn from a person's
    history (MDL-005, MDL-002): the session's 7-day world leaves four days with labels old enough.
    Each model's pipeline test trains on it in turn (its own registered model in one MLflow)."""
    from adaptive_delivery.delivery.features.spark_jobs import build_features
    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.simulator import simulate

    root = tmp_path_factory.mktemp("engagement_world")
    simulate(WorldConfig(subscribers=4_000, days=14, seed=11), root, progress=False)
    build_features(root / "lake", root / "features", spark)
    return root


# Throwaway Redis and PostgreSQL servers, started by the tests from the installed binaries on a free
# port in a temporary folder and stopped after the session: the tests never depend on (or touch) a
# server that happens to be running. A missing binary skips with the reason, and fails instead
# where AD_REQUIRE_SERVERS=1 (as .ci/run sets), so CI cannot pass by skipping.
def _missing_server(what: str) -> None:
    reason = f"{what} is not installed on this machine"
    if os.environ.get("AD_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason}, and AD_REQUIRE_SERVERS=1 asks for every server test to run")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, what: str, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> str:
    """'host:port' of a Redis server of our own, keeping nothing on disk."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        _missing_server("redis-server")
    port, folder = _free_port(), tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: redis.Redis(host="127.0.0.1", port=port).ping(), "redis-server", proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory) -> str:
    """The URL of a real MLflow tracking server of our own on 127.0.0.1 (what a cluster's gates
    talk to), over SQLite in a temporary folder."""
    import sys
    import urllib.request

    root, port = tmp_path_factory.mktemp("tracking-server"), _free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port",
                             str(port), "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                             "--default-artifact-root", str(root / "artifacts"), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: urllib.request.urlopen(f"{url}/health", timeout=2).status == 200,
                  "the MLflow tracking server", proc, timeout=120)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """A SQLAlchemy URL to database `test` on a PostgreSQL cluster of our own (initdb in a temporary
    folder, trust auth on 127.0.0.1). PostgreSQL refuses to run as root, so under root the cluster
    belongs to the `postgres` system user."""
    import sqlalchemy

    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        _missing_server("PostgreSQL (initdb, pg_ctl)")
    # outside pytest's temporary root, which only its owner may enter
    folder = Path(tempfile.mkdtemp(prefix="ad-test-postgres-"))
    data, port = folder / "data", _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            _missing_server("runuser (to run PostgreSQL as its own user under root)")
        shutil.chown(folder, user="postgres")
        prefix = [runuser, "-u", "postgres", "--"]
    _run_or_explain([*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    _run_or_explain([*prefix, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60", "start",
                     "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"])
    try:
        admin = sqlalchemy.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                                         isolation_level="AUTOCOMMIT")
        _wait_for(lambda: admin.connect().close() is None, "PostgreSQL")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text("CREATE DATABASE test"))
        admin.dispose()
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _run_or_explain(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
