"""`adaptive-delivery rollout` against a real MLflow registry: start, status, advance to promotion
(the champion alias moves), rollback, and a clear refusal when there is nothing to roll out."""

import subprocess
import sys

import pytest
import yaml

from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import CHALLENGER, CHAMPION, register_challenger
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

pytestmark = pytest.mark.integration
SPEC = get("MDL-001")


def _cli(*args, home, state):
    cmd = [sys.executable, "-m", "adaptive_delivery.cli", "rollout", *args, "--state", str(state)]
    if args[0] != "status":
        cmd += ["--mlflow-home", str(home)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def registry(tmp_path):
    import mlflow

    tracking = Tracking(default_tracking_uri(tmp_path / "mlflow"), "rollout-test")
    (tmp_path / "mlflow").mkdir()
    client = tracking.client()
    versions = []
    for _ in range(2):
        with mlflow.start_run(experiment_id=tracking.experiment_id()) as run:
            mlflow.log_text("model files", "model/README.txt")
        versions.append(register_challenger(client, SPEC, run.info.run_id))
    client.set_registered_model_alias(SPEC.registered_name, CHAMPION, versions[0])
    return tmp_path / "mlflow", client


def test_a_rollout_advances_to_promotion_and_moves_the_champion(registry, tmp_path):
    home, client = registry
    state = tmp_path / "rollouts"
    started = _cli("start", "MDL-001", "--time-scale", "0.001", home=home, state=state)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "shadow" in started.stdout
    manifests = list(yaml.safe_load_all(next(state.glob("*.seldon.yaml")).read_text()))
    assert [d["kind"] for d in manifests] == ["ServerConfig", "Server", "Model", "Model", "Experiment"]
    for _ in range(3):
        assert _cli("advance", "MDL-001", home=home, state=state).returncode == 0
    status = _cli("status", "MDL-001", home=home, state=state)
    assert "ramp-50" in status.stdout and "manual: operator approved" in status.stdout
    last = _cli("advance", "MDL-001", home=home, state=state)
    assert last.returncode == 0 and "promoted" in last.stdout
    assert str(client.get_model_version_by_alias(SPEC.registered_name, CHAMPION).version) == "2"
    assert client.get_model_version(SPEC.registered_name, "2").tags["rollout"].startswith("promoted")
    again = _cli("start", "MDL-001", home=home, state=state)
    assert again.returncode != 0 and "needs a champion and a different challenger" in again.stdout + again.stderr


def test_a_rollback_keeps_the_champion(registry, tmp_path):
    home, client = registry
    state = tmp_path / "rollouts"
    assert _cli("start", "MDL-001", home=home, state=state).returncode == 0
    back = _cli("rollback", "MDL-001", "--reason", "bounce spike seen by on-call", home=home, state=state)
    assert back.returncode == 0 and "rolled_back" in back.stdout
    assert str(client.get_model_version_by_alias(SPEC.registered_name, CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(SPEC.registered_name, CHALLENGER).version) == "2"
    manifests = list(yaml.safe_load_all(next(state.glob("*.seldon.yaml")).read_text()))
    assert [d["kind"] for d in manifests] == ["ServerConfig", "Server", "Model"]
    assert manifests[2]["metadata"]["name"] == "mdl-001-v1"
    none_left = _cli("advance", "MDL-001", home=home, state=state)
    assert none_left.returncode != 0 and "no running rollout" in none_left.stdout + none_left.stderr
