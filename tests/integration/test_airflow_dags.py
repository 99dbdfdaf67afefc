"""`airflow dags test`, for real, going on from the deployment the main job left (the session's
`main_job`: Airflow's ad_main built a 12-day world, its features and MDL-001's first champion): the
world DAG simulates the next data interval, the daily feature DAG builds with Spark and
materialises into Feast, MDL-001's retraining DAG runs its pipeline (the steps in the task's
process) into MLflow against that champion, and the monitoring DAG checks the champion."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from adaptive_delivery.delivery import jobs
from adaptive_delivery.platform.spec import get
from adaptive_delivery.twin import live

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAGS = Path(__file__).resolve().parents[2] / "dags"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
SPEC = get("MDL-001")


@pytest.fixture(scope="module")
def loop(main_job):
    assert main_job.result.returncode == 0, main_job.result.stdout[-3000:]
    # the deployment's settings only: an AD_* variable another test left in this worker's
    # environment (a cluster profile) must not reach the DAGs
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AD_")}
    return {**inherited, "AIRFLOW_HOME": str(main_job.airflow_home), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__PARALLELISM": "2",
            "AD_PROFILE": "local", "AD_HOME": str(main_job.out), "AD_TRACKING_URI": main_job.tracking_uri,
            "AD_WORLD_SUBSCRIBERS": str(main_job.subscribers), "AD_WORLD_SEED": str(main_job.seed),
            "AD_WORLD_HORIZON_DAYS": str(main_job.days + 2), "AD_TRAINING_PROFILE": main_job.profile,
            # the main job ran MDL-001's pipeline on KFP's local runner; the retraining here runs its
            # steps in the task's process
            "AD_PIPELINE_RUNNER": "in-process"}


def dags_test(env: dict, dag_id: str, day: str, conf: dict | None = None) -> str:
    cmd = [AIRFLOW, "dags", "test", *(["-c", json.dumps(conf)] if conf else []), dag_id, day]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "state=success" in out, out[-4000:]
    return out


def test_the_world_feature_retraining_and_monitoring_dags_go_on_from_the_main_job(loop):
    dep = jobs.deployment(loop)
    before = live.status(dep.home)
    dags_test(loop, "ad_world", "2026-03-15")  # a manual run covers [03-14, 03-15): one more day
    world = live.status(dep.home)
    assert world["days_run"] == before["days_run"] + 1 and world["today"] == "2026-03-15"

    dags_test(loop, "ad_features_daily", "2026-03-15")
    for table in ("subscriber", "sender_ip", "provider", "content", "calendar"):
        assert list((dep.features / table).glob("*.parquet")), table
    online = jobs.online_sample(dep, 3)
    assert all(v is not None for v in online["subscriber_features__engagement_score"])

    # the registry named too: MlflowClient falls back to a process-wide registry URI, which another
    # test in this worker may have pointed at its own store
    client = MlflowClient(dep.tracking_uri, registry_uri=dep.tracking_uri)
    versions_before = client.search_model_versions(f"name = '{SPEC.registered_name}'")
    dags_test(loop, "ad_retrain_mdl_001", "2026-03-15", conf={"reason": "integration test"})
    versions = client.search_model_versions(f"name = '{SPEC.registered_name}'")
    assert len(versions) == len(versions_before) + 1
    newest = client.get_model_version(SPEC.registered_name, str(max(int(v.version) for v in versions)))
    # a champion exists, so the gate compares the challenger with it on the same holdout
    assert "vs champion" in newest.tags["gate_reasons"]
    retrain = [e for e in jobs.timeline(dep) if e["step"] == "retrain"]
    promoted = retrain[-1]["summary"].startswith("MDL-001: PROMOTE")
    assert newest.tags["gate"] == ("passed" if promoted else "failed"), retrain[-1]["summary"]
    # a challenger that passes its gate becomes the champion, rolled out against the one it replaced
    assert ("champion" in newest.aliases) == promoted
    started = [e for e in jobs.timeline(dep) if e["step"] == "rollout" and "started" in e["summary"]]
    assert bool(started) == promoted

    dags_test(loop, "ad_monitor", "2026-03-15")
    reports = list((dep.reports / "monitor" / "MDL-001").glob("*/monitor.json"))
    assert reports, "the monitoring DAG wrote no report"
    verdict = json.loads(reports[0].read_text())
    assert verdict["rows_current"] > 0 and verdict["oracle"] is not None and verdict["current"] is not None
    assert (reports[0].parent / "data_drift.html").stat().st_size > 10_000
    monitoring = client.get_experiment_by_name(jobs.MONITOR_EXPERIMENT)
    assert client.search_runs([monitoring.experiment_id])

    dags_test(loop, "ad_feature_discovery", "2026-03-15")  # the week before: the champion's report
    [discovery] = [e for e in jobs.timeline(dep) if e["step"] == "discover"][-1:]
    assert (Path(discovery["report"]) / "report.json").exists() and discovery["model_id"] == "MDL-001"

    steps = [s["step"] for s in jobs.timeline(dep)]
    assert steps[:1] == ["world"] and {"features", "materialize", "retrain", "monitor"} <= set(steps)


def test_the_campaign_feature_dag_builds_and_serves_the_campaign_lake(loop):
    """Marketing's hourly DAG beside delivery's: the campaign lake (written here through the lake's
    checks) into Spark features, published without touching delivery's tables, and the hour's rows
    into the same online store."""
    import pandas as pd
    import pyarrow as pa

    from adaptive_delivery.marketing import events
    from adaptive_delivery.marketing.bidding import BidOptimiser
    from adaptive_delivery.platform import feature_store as st
    from adaptive_delivery.twin.marketing import MarketingWorld, campaign_reports

    dep = jobs.deployment(loop)
    world = MarketingWorld.build(seed=5, n_campaigns=2, daily_opportunities=2_000)
    frame = pd.DataFrame(campaign_reports(world, 2, lambda c: BidOptimiser(seed=0)))
    frame["event_ts"] = pd.to_datetime(frame["event_ts"], utc=True)
    counts = events.lake(dep.campaign_lake).ingest(
        events.KIND, pa.Table.from_pandas(frame, preserve_index=False), source="test")
    assert counts.accepted == len(frame)
    delivery_tables = sorted(p.name for p in dep.features.iterdir())

    dags_test(loop, "ad_campaign_features", "2026-11-03T12:00:00+00:00")
    table = pd.read_parquet(dep.features / "campaign_hourly")
    assert len(table) == frame.groupby(["campaign_id", "event_ts"]).ngroups
    assert set(delivery_tables) < {p.name for p in dep.features.iterdir()}, "delivery's tables are kept"
    fs = st.open_store(dep.feast_home, dep.features, dep.feast_profile)
    campaigns = sorted(table["campaign_id"].unique())
    got = st.online(fs, ["campaign_performance:spend_7d"], [{"campaign_id": c} for c in campaigns])
    hour = table[table["event_timestamp"].between(pd.Timestamp("2026-11-03T11:00Z"), pd.Timestamp("2026-11-03T12:00Z"))]
    for k, c in enumerate(campaigns):
        assert got["campaign_performance__spend_7d"][k] in set(hour[hour["campaign_id"] == c]["spend_7d"])
