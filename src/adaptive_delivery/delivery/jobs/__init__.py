"""The units of work a scheduler runs, as plain functions of a deployment and a data interval.

Airflow's DAGs (`dags/`) are thin wrappers over these; so is `adaptive-delivery run`. Which engine
does the work (Spark in-process or spark-submit, the KFP local runner or a Kubeflow cluster, SQLite
or Redis online store) is chosen by one setting, the deployment profile, never by code forks:

    AD_PROFILE=local            the embedded default: everything on this machine under AD_HOME
    AD_PROFILE=cluster          Spark on Kubernetes (spark-submit), Kubeflow, Redis, an MLflow server

Every job appends what it did to the loop's timeline (`AD_HOME/timeline.jsonl`), so a run of
simulated weeks can be read back as one story (`adaptive-delivery loop timeline`).
"""

from __future__ import annotations

from adaptive_delivery.delivery.jobs.deployment import (
    MAIN_MODEL,
    PROFILES,
    TIMELINE,
    WORLD_HORIZON_DAYS,
    WORLD_SEED,
    WORLD_SUBSCRIBERS,
    Deployment,
    DeploymentError,
    deployment,
    record,
    timeline,
)
from adaptive_delivery.delivery.jobs.features import (
    ONLINE_WINDOW,
    build_features,
    feature_views_for,
    latest_feature_hour,
    materialize,
    online_sample,
    score_features,
    spark_submit_command,
)
from adaptive_delivery.delivery.jobs.loop import (
    progress_rollouts,
    simulate_until,
    start_rollout,
)
from adaptive_delivery.delivery.jobs.monitoring import (
    MONITOR_EXPERIMENT,
    MONITOR_WINDOW,
    REFERENCE_ROWS,
    REFERENCE_WINDOW,
    calibrate,
    monitor,
    previous_gaps,
    provider_block_rates,
)

__all__ = [
    "PROFILES",
    "TIMELINE",
    "WORLD_SUBSCRIBERS",
    "WORLD_SEED",
    "WORLD_HORIZON_DAYS",
    "MAIN_MODEL",
    "DeploymentError",
    "Deployment",
    "deployment",
    "record",
    "timeline",
    "simulate_until",
    "start_rollout",
    "progress_rollouts",
    "spark_submit_command",
    "build_features",
    "feature_views_for",
    "materialize",
    "ONLINE_WINDOW",
    "latest_feature_hour",
    "online_sample",
    "score_features",
    "calibrate",
    "MONITOR_EXPERIMENT",
    "REFERENCE_ROWS",
    "REFERENCE_WINDOW",
    "MONITOR_WINDOW",
    "previous_gaps",
    "monitor",
    "provider_block_rates",
]
