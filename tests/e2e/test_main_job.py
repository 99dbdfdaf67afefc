"""The main job end to end, through the installed command, on a tiny world (the session's
`main_job` run): what it writes, and a console a person can read."""

import json
import re
import subprocess
import sys


def test_main_job_writes_lake_truth_features_store_and_a_registered_model(main_job):
    out, result = main_job.out, main_job.result
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    for kind in ("sends", "outcomes", "engagement"):
        assert list((out / "lake" / kind).glob("date=*/part-*.parquet")), kind
    assert (out / "truth" / "subscribers.parquet").exists()
    table = json.loads((out / "calibration.json").read_text())
    assert set(table["by_sender"]) == {"acme", "bolt", "cirrus"}
    assert (out / "world.png").stat().st_size > 10_000
    for table in ("subscriber", "sender_domain", "sender_ip", "provider", "content", "calendar"):
        assert list((out / "features" / table).glob("*.parquet")), table
    assert (out / "feast" / "online.db").exists() and (out / "feast" / "registry.db").exists()
    # MDL-001 went through the Kubeflow pipeline into an empty registry: the first gate promotes it
    assert (main_job.mlflow_home / "mlflow.db").exists() and list((out / "kfp").rglob("holdout"))
    assert re.search(r"gate \(on the outcomes the sender saw\): PROMOTE: macro_roc_auc 0\.\d+; no champion yet",
                     result.stdout), result.stdout


def test_the_console_shows_one_line_per_stage_and_keeps_tool_chatter_in_the_logs(main_job):
    stdout = main_job.result.stdout
    stages = [line for line in stdout.splitlines() if re.match(r"^ ✓ \d/5 ", line)]
    assert [line.split()[1] for line in stages] == ["1/5", "2/5", "3/5", "4/5", "5/5"], stdout
    assert len(stdout.splitlines()) <= 30, f"the console should fit on one screen:\n{stdout}"
    for noise in ("Registry cache expired", "INFO", "Executing task", "[warning"):
        assert noise not in stdout, noise
    log = (main_job.out / "logs" / "ad_main.log").read_text()
    assert "ad_main" in log and "finished with status" in log  # the raw output went to the log
    for pointer in ("mlflow ui --backend-store-uri", "tools/airflow_ui.py", "logs/"):
        assert pointer in stdout, pointer


def test_everything_the_main_job_starts_listens_on_loopback_only(main_job):
    """Spark's driver and block manager, Airflow, the KFP local runner: every listening socket of the
    job's process tree, sampled as it ran, is on 127.0.0.1."""
    from listening_sockets import is_loopback

    assert main_job.result.returncode == 0 and main_job.listening  # Spark's driver at least was seen
    exposed = sorted(s for s in main_job.listening if not is_loopback(s[1]))
    assert exposed == [], exposed
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and is_loopback("::ffff:127.0.0.1")


def test_simulate_refuses_to_overwrite_without_flag(tmp_path):
    base = [sys.executable, "-m", "adaptive_delivery.cli", "simulate", "--subscribers", "300", "--days", "1", "--out", str(tmp_path)]
    assert subprocess.run(base, capture_output=True, text=True).returncode == 0
    again = subprocess.run(base, capture_output=True, text=True)
    assert again.returncode != 0 and "--overwrite" in (again.stderr + again.stdout)
    assert subprocess.run(base + ["--overwrite"], capture_output=True, text=True).returncode == 0
