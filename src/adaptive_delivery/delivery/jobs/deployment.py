"""The deployment profile (AD_* settings: which engine does each job) and the loop's timeline."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from adaptive_delivery.platform.image import PLATFORM_IMAGE
from adaptive_delivery.platform.spec import PIPELINE_RUNNERS
from adaptive_delivery.twin.config import WorldConfig

PROFILES = ("local", "cluster")


TIMELINE = "timeline.jsonl"


# The embedded world's defaults: big enough to train MDL-001 on, small enough for a laptop; the
# horizon bounds how long the loop may run (the population is sized for it).
WORLD_SUBSCRIBERS = 5_000


WORLD_SEED = 7


WORLD_HORIZON_DAYS = 120


# ---- the main job (`make run`): one world, its features, MDL-001 -----------------------------------
MAIN_MODEL = "MDL-001"


class DeploymentError(ValueError):
    """The deployment settings are incomplete or contradictory; the message names the variable."""


@dataclass(frozen=True)
class Deployment:
    name: str  # local | cluster
    home: Path  # the loop's folder: world state, lake, truth, features, feast, kfp, reports, timeline
    tracking_uri: str  # MLflow
    spark_master: str  # local[*] runs in-process; anything else goes through spark-submit
    kfp_host: str | None  # None: KFP's local runner in this environment
    feast_profile: str  # local (SQLite) | redis-local | cluster (Redis)
    training_profile: str  # quick | full
    world: WorldConfig | None = None  # the simulator, for the embedded default only
    spark_conf: dict[str, str] = field(default_factory=dict)
    rollout_time_scale: float = 1.0  # multiplies spec §8's stage durations (the simulator compresses them)
    rollout_min_sample: int = 10_000  # per arm, spec §8.1
    # Without a cluster, how a pipeline runs here (platform.spec.PIPELINE_RUNNERS)
    pipeline_runner: str = "kfp-local"
    # The knowledge base's SQLAlchemy URL (AD_KNOWLEDGE_URL; PostgreSQL in a cluster); "": an SQLite
    # file in the deployment's folder
    knowledge_store: str = ""

    @property
    def knowledge_url(self) -> str:
        from adaptive_delivery.delivery.knowledge.store import default_url

        return self.knowledge_store or default_url(self.home)

    @property
    def rollouts(self) -> Path:
        return self.home / "rollouts"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def campaign_lake(self) -> Path:
        """Marketing's campaign events lake (`stream consume-campaigns` writes it)."""
        return self.home / "campaigns" / "lake"

    @property
    def truth(self) -> Path:
        return self.home / "truth"

    @property
    def features(self) -> Path:
        return self.home / "features"

    @property
    def feast_home(self) -> Path:
        return self.home / "feast"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def predictions(self) -> Path:
        """The served decisions: the folder the prediction stream is consumed into
        (`stream consume-predictions --into`), else a prediction log beside it (predictions.jsonl)."""
        folder = self.home / "predictions"
        return folder if folder.is_dir() else self.home / "predictions.jsonl"

    @property
    def spark_in_process(self) -> bool:
        return self.spark_master.startswith("local")


def _pipeline_runner(env: Mapping[str, str]) -> str:
    runner = env.get("AD_PIPELINE_RUNNER", "kfp-local")
    if runner not in PIPELINE_RUNNERS:
        raise DeploymentError(f"AD_PIPELINE_RUNNER={runner!r}: choose one of {', '.join(PIPELINE_RUNNERS)}")
    return runner


def deployment(env: Mapping[str, str] | None = None) -> Deployment:
    """The deployment described by AD_* environment variables (documented in the README)."""
    env = os.environ if env is None else env
    name = env.get("AD_PROFILE", "local")
    if name not in PROFILES:
        raise DeploymentError(f"AD_PROFILE={name!r}: choose one of {', '.join(PROFILES)}")
    home = Path(env.get("AD_HOME", "runs/loop")).resolve()
    if name == "local":
        from adaptive_delivery.platform.training.tracking import default_tracking_uri

        start = date.fromisoformat(env.get("AD_WORLD_START", WorldConfig.start.isoformat()))
        world = WorldConfig(subscribers=int(env.get("AD_WORLD_SUBSCRIBERS", WORLD_SUBSCRIBERS)),
                            days=int(env.get("AD_WORLD_HORIZON_DAYS", WORLD_HORIZON_DAYS)),
                            seed=int(env.get("AD_WORLD_SEED", WORLD_SEED)), start=start)
        return Deployment(name, home, env.get("AD_TRACKING_URI") or default_tracking_uri(home / "mlflow"),
                          env.get("AD_SPARK_MASTER", "local[2]"), env.get("AD_KFP_HOST") or None,
                          env.get("AD_FEAST_PROFILE", "local"), env.get("AD_TRAINING_PROFILE", "quick"), world,
                          rollout_time_scale=float(env.get("AD_ROLLOUT_TIME_SCALE", 1.0)),
                          rollout_min_sample=int(env.get("AD_ROLLOUT_MIN_SAMPLE", 10_000)),
                          pipeline_runner=_pipeline_runner(env), knowledge_store=env.get("AD_KNOWLEDGE_URL", ""))
    missing = [v for v in ("AD_TRACKING_URI", "AD_SPARK_MASTER", "AD_KFP_HOST") if not env.get(v)]
    if missing:
        raise DeploymentError(f"AD_PROFILE=cluster needs {', '.join(missing)} (an MLflow server, a Spark master such "
                              "as k8s://https://kubernetes.default.svc, and the Kubeflow Pipelines endpoint)")
    return Deployment(name, home, env["AD_TRACKING_URI"], env["AD_SPARK_MASTER"], env["AD_KFP_HOST"],
                      env.get("AD_FEAST_PROFILE", "cluster"), env.get("AD_TRAINING_PROFILE", "full"), None,
                      {"spark.kubernetes.container.image": env.get("AD_SPARK_IMAGE", PLATFORM_IMAGE),
                       "spark.kubernetes.namespace": env.get("AD_NAMESPACE", "adaptive-delivery")},
                      knowledge_store=env.get("AD_KNOWLEDGE_URL", ""))


# ---- the timeline ------------------------------------------------------------------------------
def record(dep: Deployment, step: str, summary: str, **details: object) -> dict:
    """Append one line to the loop's timeline: what ran, when (wall clock and simulated day), and what came of it."""
    from adaptive_delivery.twin import live

    world = live.status(dep.home) if dep.world is not None else {"exists": False}
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "world_day": world.get("today"), "step": step,
             "summary": summary, **details}
    dep.home.mkdir(parents=True, exist_ok=True)
    with (dep.home / TIMELINE).open("a") as fh:
        fh.write(json.dumps(entry, default=str) + "\n")
    return entry


def timeline(dep: Deployment) -> list[dict]:
    path = dep.home / TIMELINE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
