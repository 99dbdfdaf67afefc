"""The architecture holds, and its checks can fail: the import contracts of pyproject.toml and the
cycle check reject a deliberate violation in a copy of the package; the served runtimes import in
the serving environment with the twin, Spark, gymnasium, SB3 and matplotlib made unimportable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adaptive_delivery.platform.spec import all_specs

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "adaptive_delivery"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
SERVING_PYTHON = REPO / ".venv-serving" / "bin" / "python"
BLOCKED = ("adaptive_delivery.twin", "pyspark", "gymnasium", "stable_baselines3", "matplotlib")


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A throwaway copy of the package, first on the import path of the checks run against it."""
    shutil.copytree(PACKAGE, tmp_path / "adaptive_delivery", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _run(args: list[str], pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _lint(pythonpath: Path) -> subprocess.CompletedProcess:
    return _run([str(LINT_IMPORTS), "--no-cache", str(REPO / "pyproject.toml")], pythonpath)


def test_the_import_contracts_hold_and_fail_on_a_runtime_importing_the_twin(package_copy: Path):
    clean = _lint(package_copy)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    runtime = package_copy / "adaptive_delivery/delivery/models/mdl003_throttle/runtime.py"
    runtime.write_text(runtime.read_text() + "\nfrom adaptive_delivery.twin import envs  # noqa: E402,F401\n")
    broken = _lint(package_copy)
    assert broken.returncode != 0
    assert "Served code never imports the twin" in broken.stdout
    assert "mdl003_throttle.runtime -> adaptive_delivery.twin.envs" in " ".join(broken.stdout.split())


def test_the_platform_may_not_import_a_product(package_copy: Path):
    steps = package_copy / "adaptive_delivery/platform/training/steps.py"
    steps.write_text(steps.read_text() + "\nfrom adaptive_delivery.delivery import jobs  # noqa: E402,F401\n")
    broken = _lint(package_copy)
    assert broken.returncode != 0 and "The platform imports no product" in broken.stdout


def test_no_import_cycle_and_the_check_finds_one(package_copy: Path):
    script = [sys.executable, str(REPO / "tools" / "import_cycles.py"), "adaptive_delivery"]
    clean = _run(script, package_copy)
    assert clean.returncode == 0 and " 0 cycles" in clean.stdout, clean.stdout + clean.stderr
    providers = package_copy / "adaptive_delivery/delivery/providers.py"
    providers.write_text(providers.read_text() + "\n\ndef _late():\n    from adaptive_delivery.delivery.events import ingest  # noqa: F401\n")
    cyclic = _run(script, package_copy)
    assert cyclic.returncode == 1 and "adaptive_delivery.delivery.providers" in cyclic.stdout


BLOCKER = """
import importlib, importlib.abc, sys
BLOCKED = {blocked!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"{{name}} is blocked in this test", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from mlserver import MLModel
for dotted in {runtimes!r}:
    module, _, name = dotted.rpartition(".")
    runtime = getattr(importlib.import_module(module), name)
    assert issubclass(runtime, MLModel), dotted
leaked = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
assert not leaked, leaked
print("imported", len({runtimes!r}))
"""


def test_every_registered_model_names_a_runtime():
    missing = [s.model_id for s in all_specs() if not s.runtime]
    assert not missing, f"not servable: {missing}"


@pytest.mark.skipif(not SERVING_PYTHON.exists(), reason="the serving environment is not built (make serving-env)")
def test_served_runtimes_import_without_the_twin_spark_gymnasium_sb3_or_matplotlib():
    runtimes = tuple(s.runtime for s in all_specs() if s.runtime)
    code = BLOCKER.format(blocked=BLOCKED, runtimes=runtimes)
    done = subprocess.run([str(SERVING_PYTHON), "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"imported {len(runtimes)}" in done.stdout


@pytest.mark.skipif(not SERVING_PYTHON.exists(), reason="the serving environment is not built (make serving-env)")
def test_the_blocker_itself_blocks():
    code = BLOCKER.format(blocked=BLOCKED, runtimes=("adaptive_delivery.twin.envs.ThrottleEnv",))
    done = subprocess.run([str(SERVING_PYTHON), "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "blocked in this test" in done.stderr


def test_a_specs_entry_point_is_imported_only_when_called():
    import json

    from adaptive_delivery.platform.spec import lazy

    call = lazy("json:dumps")
    assert call.__name__ == "dumps" and call([1, 2]) == json.dumps([1, 2])
    never = lazy("adaptive_delivery.no_such_module:run")  # naming it imports nothing
    with pytest.raises(ModuleNotFoundError):
        never()
    with pytest.raises(ValueError, match="not 'module:attribute'"):
        lazy("json.dumps")
