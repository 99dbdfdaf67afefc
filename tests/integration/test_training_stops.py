"""A training set too small to train on stops the pipeline at its load step, says why, and
registers nothing (its own three-day world, so it need not wait for the session's main job)."""

import subprocess
import sys

import pytest

from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _world(root, spark, subscribers, days, seed):
    from adaptive_delivery.delivery.features.spark_jobs import build_features

    simulate(WorldConfig(subscribers=subscribers, days=days, seed=seed), root, progress=False)
    build_features(root / "lake", root / "features", spark)
    return root


def test_a_too_small_training_set_stops_the_pipeline_and_registers_nothing(tmp_path, spark):
    world = _world(tmp_path / "short", spark, 800, 3, 2)  # three days: all of it is holdout
    mlflow_home = tmp_path / "mlflow"
    cmd = [sys.executable, "-m", "adaptive_delivery.cli", "model", "train", "MDL-001", "--world", str(world),
           "--mlflow-home", str(mlflow_home)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stdout[-2000:]
    assert "training stopped" in result.stdout and "training set too small" in result.stdout
    client = Tracking(default_tracking_uri(mlflow_home)).client()
    assert client.search_registered_models() == []
    failed = client.search_runs([e.experiment_id for e in client.search_experiments()], "attributes.status = 'FAILED'")
    parents = [r for r in failed if "model_id" in r.data.tags]
    assert len(parents) == 1 and parents[0].data.tags["failed_step"] == "load"
    assert "training set too small" in parents[0].data.tags["stopped_reason"]
    assert {r.data.tags.get("step") for r in failed if r not in parents} == {"load"}
