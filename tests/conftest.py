"""Shared fixtures: a tiny simulated world built once per session, the main job run once per
session, and the shared corpus."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# The tests' Spark drivers (in this process and in every job, task and step it starts) live for
# seconds on tiny data: the JVM's quick compiler alone starts them faster (about 15% of a cold
# feature build, measured), and changes nothing they compute. That compiler's code cache is small by
# default: a session that builds a few worlds filled it ("CodeCache is full. Compiler has been
# disabled") and ran on interpreted; a larger one, and the serial collector (no collector threads
# contending for two cores), about 8% more off a cold build. Spark's launcher reads it from here.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseSerialGC")


# Under pytest-xdist (`make test` runs two workers) a session fixture is built once per worker that
# uses it. The test files that use an expensive one stay on one worker, so it is still built once.
# (xdist's own `--dist loadgroup` marks do not reach its scheduler under pytest 9, so the grouping
# is done here, by file.)
EXPENSIVE_FIXTURES = ("main_job", "built_features", "engagement_world")
# A module's own fixture (a pipeline trained, a scenario run, a server started once for the file's
# tests): the file stays whole on one worker, or each worker would build it again.
MODULE_FIXTURE = re.compile(r"@pytest\.fixture\(scope=\"module\"")


def _group_of(path: Path) -> str | None:
    """The first expensive session fixture a test or fixture of the file asks for, by parameter
    name; else the file itself where it has a module fixture."""
    text = path.read_text()
    for name in EXPENSIVE_FIXTURES:
        if re.search(rf"def \w+\([^)]*\b{name}\b", text):
            return name
    if MODULE_FIXTURE.search(text):
        return str(path.relative_to(REPO))
    return None


FILE_GROUPS = {str(p.relative_to(REPO)): g for p in sorted((REPO / "tests").rglob("test_*.py")) if (g := _group_of(p))}


def pytest_xdist_make_scheduler(config, log):
    """Whole files for the grouped ones, test by test for every other."""
    from xdist.scheduler import LoadScopeScheduling

    class FixtureGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return FILE_GROUPS.get(nodeid.split("::", 1)[0], nodeid)

    return FixtureGroups(config, log)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """6,000 subscribers over 7 days: every event kind appears, in a few seconds."""
    out = tmp_path_factory.mktemp("tiny_world")
    simulate(WorldConfig(subscribers=6_000, days=7, seed=11), out, progress=False)
    return out


@pytest.fixture(scope="session")
def twelve_day_world(tmp_path_factory) -> Path:
    """4,000 subscribers over 12 days (2026-03-02..13): a week of history before a checked window."""
    out = tmp_path_factory.mktemp("twelve_day_world")
    simulate(WorldConfig(subscribers=4_000, days=12, seed=12), out, progress=False)
    return out


@pytest.fixture(scope="session")
def bounce_corpus() -> Path:
    path = SHARED_DATA / "bounces"
    if not (path / "expected.json").exists():
        pytest.skip(f"the shared bounce corpus is not beside this checkout ({path}); it ships with the team's shared data")
    return path


@pytest.fixture(scope="session")
def spamassassin_corpus() -> Path:
    path = SHARED_DATA / "spamassassin"
    if not (path / "spam").is_dir():
        pytest.skip(f"the SpamAssassin corpus is not beside this checkout ({path}); it ships with the team's shared data")
    return path


@pytest.fixture(scope="session")
def hillstrom_file() -> Path:
    path = SHARED_DATA / "marketing" / "hillstrom" / "hillstrom_development.csv"
    if not path.exists():
        pytest.skip(f"the Hillstrom data is not beside this checkout ({path}); it ships with the team's shared data")
    return path


@pytest.fixture(scope="session")
def open_bandit_data() -> Path:
    path = SHARED_DATA / "marketing" / "open-bandit"
    if not (path / "bts" / "men" / "men.csv").exists():
        pytest.skip(f"the Open Bandit Dataset is not beside this checkout ({path}); it ships with the team's shared data")
    return path


@dataclass(frozen=True)
class MainJobRun:
    """The main job, run once per session through the installed command (Airflow's ad_main DAG)."""

    out: Path  # AD_HOME: the lake, truth, features, feature store, pipeline artifacts, timeline, logs
    mlflow_home: Path
    airflow_home: Path
    result: subprocess.CompletedProcess
    listening: frozenset = frozenset()  # (process, address, port) of every socket it listened on
    subscribers: int = 3_000
    profile: str = "smoke"
    days: int = 12
    seed: int = 7

    @property
    def tracking_uri(self) -> str:
        from adaptive_delivery.platform.training.tracking import default_tracking_uri

        return default_tracking_uri(self.mlflow_home)


@pytest.fixture(scope="session")
def main_job(tmp_path_factory) -> MainJobRun:
    """`adaptive-delivery run` on a tiny world (3,000 subscribers, 12 days): simulate, calibrate,
    Spark features, Feast, MDL-001 through its Kubeflow pipeline into MLflow. The end-to-end test
    asserts what it prints and writes; the Airflow and training-pipeline tests go on from the
    deployment it leaves (one more simulated day, a second pipeline run against its champion)."""
    root = tmp_path_factory.mktemp("main_job")
    run = MainJobRun(root / "run", root / "mlflow", root / "airflow", subprocess.CompletedProcess([], 0))
    cmd = [sys.executable, "-m", "adaptive_delivery.cli", "run", "--out", str(run.out),
           "--subscribers", str(run.subscribers), "--days", str(run.days), "--horizon-days", str(run.days + 2),
           "--seed", str(run.seed), "--profile", run.profile, "--mlflow-home", str(run.mlflow_home),
           "--airflow-home", str(run.airflow_home)]
    # the job sets every AD_* setting it needs; one left behind by a test that configured another
    # profile (the cluster's Spark master, a throwaway Redis) must not reach it
    env = {k: v for k, v in os.environ.items() if not k.startswith("AD_")}
    from listening_sockets import SocketWatch

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with SocketWatch(proc.pid) as watch:  # what the job's servers (Spark, Airflow, KFP) bind to
        try:
            stdout, stderr = proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    return MainJobRun(run.out, run.mlflow_home, run.airflow_home, result, frozenset(watch.seen))
