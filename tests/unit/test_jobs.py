"""The deployment profile chooses the engines; the jobs record what they did on the timeline."""

import pytest

from adaptive_delivery.delivery import jobs
from adaptive_delivery.platform.image import PLATFORM_IMAGE


def test_local_profile_is_the_embedded_default(tmp_path):
    dep = jobs.deployment({"AD_HOME": str(tmp_path)})
    assert dep.name == "local" and dep.kfp_host is None and dep.spark_in_process
    assert dep.tracking_uri.startswith("sqlite:///") and dep.world is not None
    assert dep.lake == tmp_path / "lake" and dep.feast_profile == "local"


def test_cluster_profile_needs_its_services_named():
    with pytest.raises(jobs.DeploymentError, match="AD_KFP_HOST"):
        jobs.deployment({"AD_PROFILE": "cluster", "AD_TRACKING_URI": "http://mlflow:5000",
                         "AD_SPARK_MASTER": "k8s://https://kubernetes.default.svc"})
    with pytest.raises(jobs.DeploymentError, match="choose one of"):
        jobs.deployment({"AD_PROFILE": "laptop"})


def test_cluster_profile_submits_spark_to_kubernetes(tmp_path):
    dep = jobs.deployment({"AD_PROFILE": "cluster", "AD_HOME": str(tmp_path), "AD_TRACKING_URI": "http://mlflow:5000",
                           "AD_SPARK_MASTER": "k8s://https://kubernetes.default.svc", "AD_KFP_HOST": "http://kfp:8888"})
    assert not dep.spark_in_process and dep.world is None and dep.feast_profile == "cluster"
    cmd = jobs.spark_submit_command(dep, ["provider"])
    assert cmd[:3] == ["spark-submit", "--master", "k8s://https://kubernetes.default.svc"]
    assert "--deploy-mode" in cmd and f"spark.kubernetes.container.image={PLATFORM_IMAGE}" in cmd
    assert cmd[-2:] == ["--tables", "provider"] and cmd[cmd.index("--lake") + 1] == str(tmp_path / "lake")
    assert not any("bindAddress" in c for c in cmd)  # a cluster's driver must be reachable by its executors
    with pytest.raises(jobs.DeploymentError, match="no simulated world"):
        jobs.simulate_until(dep, dep.home)


def test_timeline_records_each_step_in_order(tmp_path):
    dep = jobs.deployment({"AD_HOME": str(tmp_path)})
    jobs.record(dep, "features", "built 7 tables", rows={"subscriber": 10})
    jobs.record(dep, "monitor", "MDL-001 OK")
    steps = jobs.timeline(dep)
    assert [s["step"] for s in steps] == ["features", "monitor"] and steps[0]["rows"] == {"subscriber": 10}


def test_feature_views_follow_the_tables():
    assert jobs.feature_views_for(["provider", "calendar", "subscriber"]) == ["provider_features", "subscriber_features"]


def test_a_retraining_request_moves_the_split_and_policies_ignore_it(tmp_path):
    from adaptive_delivery.platform.monitoring.checks import ADAPTIVE_RETRAINING
    from adaptive_delivery.platform.spec import get
    from pipelines.training import pipeline_arguments

    dep = jobs.deployment({"AD_HOME": str(tmp_path)})
    plain = pipeline_arguments(get("MDL-001"), dep)
    assert plain["holdout_days"] == 0 and plain["recalibration_days"] == 0  # 0: the spec's split, no offsets
    assert plain["expected_drift"] == ""  # drift stops the gate
    asked = pipeline_arguments(get("MDL-001"), dep, ADAPTIVE_RETRAINING)
    assert asked["holdout_days"] == 1 and asked["recalibration_days"] == 1 and asked["expected_drift"]
    assert "holdout_days" not in pipeline_arguments(get("MDL-003"), dep, ADAPTIVE_RETRAINING)
    with pytest.raises(ValueError, match="unknown pipeline window arguments"):
        pipeline_arguments(get("MDL-001"), dep, {"holdout_dayz": 2})


def test_a_calibration_gap_is_confirmed_only_by_the_same_champions_previous_check(tmp_path):
    import json

    dep = jobs.deployment({"AD_HOME": str(tmp_path)})
    gap = [{"segment": "gmail", "class": "inbox"}]
    for name, version in (("2026-04-08T0000", "1"), ("2026-04-09T0000", "1")):
        (dep.reports / "monitor" / "MDL-001" / name).mkdir(parents=True)
        (dep.reports / "monitor" / "MDL-001" / name / "monitor.json").write_text(
            json.dumps({"version": version, "calibration": gap}))
    assert jobs.previous_gaps(dep, "MDL-001", "1", "2026-04-10T0000") == gap
    assert jobs.previous_gaps(dep, "MDL-001", "2", "2026-04-10T0000") == []  # a new champion starts again
    assert jobs.previous_gaps(dep, "MDL-001", "1", "2026-04-08T0000") == []  # nothing before the first check


def test_a_local_spark_listens_on_loopback_only(tmp_path):
    dep = jobs.deployment({"AD_HOME": str(tmp_path), "AD_SPARK_MASTER": "local[2]"})
    cmd = jobs.spark_submit_command(dep)
    assert "spark.driver.bindAddress=127.0.0.1" in cmd and "spark.driver.host=127.0.0.1" in cmd
