"""The main job end to end, through the installed command, on a tiny world."""

import json
import subprocess
import sys


def test_main_job_writes_lake_truth_and_report(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "adaptive_delivery.cli", "run", "--out", str(out), "--subscribers", "2000", "--days", "10",
           "--mlflow-home", str(tmp_path / "mlflow")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "outputs" in result.stdout
    for kind in ("sends", "outcomes", "engagement"):
        assert list((out / "lake" / kind).glob("date=*/part-*.parquet")), kind
    assert (out / "truth" / "subscribers.parquet").exists()
    table = json.loads((out / "calibration.json").read_text())
    assert set(table["by_sender"]) == {"acme", "bolt", "cirrus"}
    assert (out / "world.png").stat().st_size > 10_000
    for table in ("subscriber", "sender_domain", "sender_ip", "provider", "content", "calendar"):
        assert list((out / "features" / table).glob("*.parquet")), table
    assert (out / "feast" / "online.db").exists() and (out / "feast" / "registry.db").exists()
    assert "online store sample" in result.stdout
    # MDL-001 went through the training pipeline and the registry
    assert "macro_roc_auc" in result.stdout and ("PROMOTE" in result.stdout or "STOP" in result.stdout)
    assert (tmp_path / "mlflow" / "mlflow.db").exists() and list((out / "kfp").rglob("holdout"))


def test_simulate_refuses_to_overwrite_without_flag(tmp_path):
    base = [sys.executable, "-m", "adaptive_delivery.cli", "simulate", "--subscribers", "300", "--days", "1", "--out", str(tmp_path)]
    assert subprocess.run(base, capture_output=True, text=True).returncode == 0
    again = subprocess.run(base, capture_output=True, text=True)
    assert again.returncode != 0 and "--overwrite" in (again.stderr + again.stdout)
    assert subprocess.run(base + ["--overwrite"], capture_output=True, text=True).returncode == 0
