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

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from adaptive_delivery.twin.config import WorldConfig

PROFILES = ("local", "cluster")
TIMELINE = "timeline.jsonl"
# The embedded world's defaults: big enough to train MDL-001 on, small enough for a laptop; the
# horizon bounds how long the loop may run (the population is sized for it).
WORLD_SUBSCRIBERS = 5_000
WORLD_SEED = 7
WORLD_HORIZON_DAYS = 120


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

    @property
    def rollouts(self) -> Path:
        return self.home / "rollouts"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

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
    def spark_in_process(self) -> bool:
        return self.spark_master.startswith("local")


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
                          rollout_min_sample=int(env.get("AD_ROLLOUT_MIN_SAMPLE", 10_000)))
    missing = [v for v in ("AD_TRACKING_URI", "AD_SPARK_MASTER", "AD_KFP_HOST") if not env.get(v)]
    if missing:
        raise DeploymentError(f"AD_PROFILE=cluster needs {', '.join(missing)} (an MLflow server, a Spark master such "
                              "as k8s://https://kubernetes.default.svc, and the Kubeflow Pipelines endpoint)")
    return Deployment(name, home, env["AD_TRACKING_URI"], env["AD_SPARK_MASTER"], env["AD_KFP_HOST"],
                      env.get("AD_FEAST_PROFILE", "cluster"), env.get("AD_TRAINING_PROFILE", "full"), None,
                      {"spark.kubernetes.container.image": env.get("AD_SPARK_IMAGE", "adaptive-delivery/platform:latest"),
                       "spark.kubernetes.namespace": env.get("AD_NAMESPACE", "adaptive-delivery")})


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


# ---- the world (embedded default only) ---------------------------------------------------------
def simulate_until(dep: Deployment, until: date) -> dict:
    """Advance the simulated world to `until` (the end of the data interval); idempotent."""
    from adaptive_delivery.twin import live

    if dep.world is None:
        raise DeploymentError(f"the {dep.name} profile reads real MTA logs; there is no simulated world to advance")
    exp = _running_rollout(dep)
    if exp is None:
        done = live.advance_until(dep.home, until, dep.world).as_dict()
        if done["days"]:
            record(dep, "world", f"simulated {len(done['days'])} day(s) up to {done['today']}", events=done["events"])
        return done
    return _simulate_with_rollout(dep, until, exp)


def _running_rollout(dep: Deployment):
    from adaptive_delivery.delivery.scenarios import live_rollout as rollout_live
    from adaptive_delivery.platform.rollout import controller as rc

    return rollout_live.running(rc.RolloutStore(dep.rollouts), MAIN_MODEL) if dep.rollouts.exists() else None


def _arms(dep: Deployment, exp) -> tuple:
    """Both arms of an experiment as the registry holds them."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from adaptive_delivery.delivery.scenarios.rollout import ArmModel
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.steps import registered_bundle

    mlflow.set_tracking_uri(dep.tracking_uri)
    mlflow.set_registry_uri(dep.tracking_uri)
    client, spec = MlflowClient(dep.tracking_uri), get(exp.model_id)
    return tuple(ArmModel(v, registered_bundle(client, spec, f"models:/{spec.registered_name}/{v}"))
                 for v in (exp.control_version, exp.candidate_version))


def _simulate_with_rollout(dep: Deployment, until: date, exp) -> dict:
    """Each day with the experiment's arms deciding who gets mail; the tally grows day by day."""
    from adaptive_delivery.delivery.scenarios import live_rollout as rollout_live
    from adaptive_delivery.platform.rollout import controller as rc
    from adaptive_delivery.twin import live

    store = rc.RolloutStore(dep.rollouts)
    control, candidate = _arms(dep, exp)
    days = []
    while live.load(dep.home) is not None and date.fromisoformat(live.status(dep.home)["today"]) < until:
        today = live.status(dep.home)["today"]
        per_arm = rollout_live.step_day(dep.home, store, exp, control, candidate, dep.home / "predictions")
        days.append(today)
        record(dep, "world", f"simulated {today} with rollout {exp.experiment_id} at {exp.stage.name} "
               f"({exp.candidate_share():.0%} to v{exp.candidate_version}): control sent "
               f"{per_arm['control']['sent']:,}/{per_arm['control']['messages']:,}, candidate "
               f"{per_arm['candidate']['sent']:,}/{per_arm['candidate']['messages']:,}", arms=per_arm)
    return {"days": days, "today": live.status(dep.home)["today"], "rollout": exp.experiment_id}


# ---- rollouts ---------------------------------------------------------------------------------
def start_rollout(dep: Deployment, model_id: str, now: datetime) -> dict | None:
    """Roll the champion the gate just promoted out against the one it replaced (spec §8 stages,
    durations scaled by the deployment); nothing when the champion replaced none or one runs."""
    from mlflow.tracking import MlflowClient

    from adaptive_delivery.platform.rollout import controller as rc
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import CHAMPION, REPLACED_TAG

    spec, client = get(model_id), MlflowClient(dep.tracking_uri)
    store = rc.RolloutStore(dep.rollouts)
    try:
        champion = client.get_model_version_by_alias(spec.registered_name, CHAMPION)
    except Exception:  # noqa: BLE001 - no champion yet: nothing to roll out
        return None
    replaced = champion.tags.get(REPLACED_TAG)
    if replaced is None or any(e.model_id == model_id and e.candidate_version == str(champion.version)
                               for e in store.list()):
        return None
    if any(e.model_id == model_id and e.status == rc.Status.RUNNING for e in store.list()):
        return None
    exp = rc.start(f"{model_id.lower()}-v{champion.version}-{now:%Y%m%d%H%M}", model_id, replaced, str(champion.version),
                   now, plan=rc.default_plan(dep.rollout_time_scale), min_sample=dep.rollout_min_sample)
    store.save(exp)
    record(dep, "rollout", f"{model_id}: rollout {exp.experiment_id} started: v{exp.candidate_version} against "
           f"v{exp.control_version}, {exp.stage.name} first", model_id=model_id, experiment=exp.experiment_id)
    return {"experiment": exp.experiment_id, "control": exp.control_version, "candidate": exp.candidate_version}


def progress_rollouts(dep: Deployment, now: datetime) -> list[dict]:
    """Judge every running rollout on its tally; decisions move registry aliases and go on the timeline."""
    from dataclasses import asdict

    from mlflow.tracking import MlflowClient

    from adaptive_delivery.delivery.scenarios import live_rollout as rollout_live
    from adaptive_delivery.platform.rollout import controller as rc
    from adaptive_delivery.platform.rollout.registry import record_decision
    from adaptive_delivery.platform.spec import get

    store, out = rc.RolloutStore(dep.rollouts), []
    client = MlflowClient(dep.tracking_uri)
    for exp in [e for e in store.list() if e.status == rc.Status.RUNNING] if dep.rollouts.exists() else []:
        def decided(e, verdict, spec=get(exp.model_id)):
            record_decision(client, spec.registered_name, e, verdict.reason)

        step = rollout_live.progress(store, exp, now, decided)
        record(dep, "rollout", f"{exp.model_id} {step.experiment_id} {step.stage}: {step.action} ({step.reason})",
               **asdict(step))
        out.append(asdict(step))
    return out


# ---- features ----------------------------------------------------------------------------------
def spark_submit_command(dep: Deployment, tables: Iterable[str] | None = None) -> list[str]:
    """The spark-submit call for the feature job on the deployment's Spark master."""
    from adaptive_delivery.delivery.features import spark_jobs

    conf = {"spark.sql.session.timeZone": "UTC", "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.ui.enabled": "false", **dep.spark_conf}
    cmd = ["spark-submit", "--master", dep.spark_master]
    if not dep.spark_in_process:
        cmd += ["--deploy-mode", "cluster"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [spark_jobs.__file__, "--lake", str(dep.lake), "--out", str(dep.features)]
    if tables is not None:
        cmd += ["--tables", ",".join(tables)]
    return cmd


def build_features(dep: Deployment, tables: Iterable[str] | None = None, submit: bool | None = None) -> dict[str, int]:
    """Build feature tables with Spark: in-process on a local master, through spark-submit otherwise
    (or when `submit` asks for it)."""
    from adaptive_delivery.delivery.features import spark_jobs
    from adaptive_delivery.platform.monitoring.metrics import feature_metrics

    tables = tuple(tables) if tables is not None else None
    if submit is None:
        submit = not dep.spark_in_process
    try:
        if not submit:
            rows = spark_jobs.build_features(dep.lake, dep.features, spark_jobs.spark_session(master=dep.spark_master),
                                             tables)
        else:
            rows = _spark_submit(dep, tables)
    except Exception:
        feature_metrics({}, [("build", 1)]).export(dep.home)  # the failure alert's counter
        raise
    feature_metrics(rows).export(dep.home)
    record(dep, "features", f"built {len(rows)} feature table(s) with Spark ({'spark-submit' if submit else 'in-process'})",
           rows=rows)
    return rows


def _spark_submit(dep: Deployment, tables: tuple[str, ...] | None) -> dict[str, int]:
    import pyspark

    cmd = spark_submit_command(dep, tables)
    cmd[0] = str(Path(sys.executable).parent / "spark-submit")
    env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"spark-submit failed ({done.returncode}): {done.stderr[-2000:]}")
    last = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(last[-1].replace("'", '"')) if last else {}


def feature_views_for(tables: Iterable[str]) -> list[str]:
    """The Feast views fed by these feature tables (the calendar table has none: it is joined on request)."""
    from adaptive_delivery.platform import feature_store as st

    views = {name.split(":", 1)[1] for name in st.definitions() if name.startswith("FeatureView:")}
    return sorted(f"{t}_features" for t in tables if f"{t}_features" in views)


def materialize(dep: Deployment, start: datetime, end: datetime, tables: Iterable[str] | None = None) -> list[str]:
    """Register the Feast definitions and load [start, end) into the online store (the data interval)."""
    from adaptive_delivery.delivery.features import spark_jobs
    from adaptive_delivery.platform import feature_store as st

    if end <= start:
        raise ValueError(f"empty data interval {start} .. {end}")
    views = feature_views_for(tables if tables is not None else spark_jobs.ALL_TABLES)
    fs = st.open_store(dep.feast_home, dep.features, dep.feast_profile)
    st.apply(fs)
    st.materialize(fs, start, end, views)
    record(dep, "materialize", f"materialised {len(views)} view(s) over {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} "
           f"into the {dep.feast_profile} online store", views=views)
    return views


# ---- the main job (`make run`): one world, its features, MDL-001 -----------------------------------
MAIN_MODEL = "MDL-001"
ONLINE_WINDOW = timedelta(hours=24)


def latest_feature_hour(dep: Deployment) -> datetime:
    """The end of the newest hour the feature tables cover (the calendar table has one row per hour)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    last = pc.max(ds.dataset(dep.features / "calendar").to_table(columns=["event_timestamp"]).column(0)).as_py()
    return last + timedelta(hours=1)


def calibrate(dep: Deployment) -> dict:
    """The world's calibration report (rates beside public benchmarks) and its plot, in the home folder."""
    from adaptive_delivery.twin.report import write_report

    table = write_report(dep.home)
    record(dep, "calibrate", f"calibration report {dep.home / 'calibration.json'}")
    return table


def online_sample(dep: Deployment, n: int = 5) -> dict[str, list]:
    """A few subscribers read back from the online store: the loop from lake to serving closes."""
    import pyarrow.dataset as ds

    from adaptive_delivery.platform import feature_store as st

    fs = st.open_store(dep.feast_home, dep.features, dep.feast_profile)
    ids = ds.dataset(dep.features / "subscriber").to_table(columns=["subscriber_id"]).column(0).to_pylist()
    people = sorted(set(ids))[:n]
    return st.online(fs, ["subscriber_features:engagement_score", "subscriber_features:opens_30d",
                          "subscriber_features:days_since_last_open"], [{"subscriber_id": p} for p in people])


# ---- monitoring: drift and degradation of the served models --------------------------------------
MONITOR_EXPERIMENT = "adaptive-delivery-monitoring"
# Reference rows drawn from the champion's training window (enough for the tests, quick to score).
REFERENCE_ROWS = 20_000
# The reference is the last week the champion trained on (its freshest picture of the world), and a
# check looks at the last three days of outcomes at least: one day of rare classes is too noisy.
REFERENCE_WINDOW = timedelta(days=7)
MONITOR_WINDOW = timedelta(days=3)


def previous_gaps(dep: Deployment, model_id: str, version: str, before: str) -> list[dict]:
    """The calibration gaps of the newest earlier check of the same champion version (empty when
    there is none): a gap seen two days running retrains, one day alerts."""
    import json

    earlier = sorted(p for p in (dep.reports / "monitor" / model_id).glob("*/monitor.json") if p.parent.name < before)
    if not earlier:
        return []
    report = json.loads(earlier[-1].read_text())
    if str(report.get("version")) != str(version):
        return []  # the newest earlier check judged another champion: start again
    return report.get("calibration") or []


def monitor(dep: Deployment, model_id: str, start: datetime, end: datetime) -> dict:
    """Check the champion of `model_id` on the outcomes of [start, end): Evidently data and
    prediction drift against its training window, feature shift, and its primary metric on the
    labelled outcomes beside the oracle's. Reports go to AD_HOME/reports and to MLflow."""
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from adaptive_delivery.platform.monitoring.checks import monitor as check
    from adaptive_delivery.platform.monitoring.metrics import monitor_metrics
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.registry import CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.steps import (
        oracle_probabilities,
        registered_bundle,
        training_frame,
    )

    spec = get(model_id)
    if spec.trainer != "pipeline":
        raise ValueError(f"{model_id} is a control policy; its health is judged by its rails and rollouts, not drift")
    mlflow.set_tracking_uri(dep.tracking_uri)  # models:/ URIs resolve through the global registry
    mlflow.set_registry_uri(dep.tracking_uri)
    client = MlflowClient(dep.tracking_uri)
    version, registered = alias_metrics(client, spec, CHAMPION)
    if version is None:
        record(dep, "monitor", f"{model_id}: no champion yet, nothing to monitor", model_id=model_id)
        return {"model_id": model_id, "retrain": [f"{model_id} has no champion"], "alerts": [], "summary": "no champion"}
    params = _training_params(client, client.get_model_version(spec.registered_name, version).run_id)
    labels = spec.labels(dep.lake)
    ts = pd.to_datetime(labels["event_timestamp"], utc=True)
    ref_until = pd.Timestamp(params["train_until"])
    ref_until = ref_until.tz_localize("UTC") if ref_until.tzinfo is None else ref_until
    in_ref = (ts > ref_until - REFERENCE_WINDOW) & (ts <= ref_until)
    start = min(pd.Timestamp(start), pd.Timestamp(end) - MONITOR_WINDOW)
    in_cur = (ts >= start) & (ts < pd.Timestamp(end))
    reference = labels[in_ref]
    if len(reference) > REFERENCE_ROWS:
        reference = reference.sample(REFERENCE_ROWS, random_state=0)
    frame = training_frame(spec, pd.concat([reference, labels[in_cur]]), dep.features, dep.feast_home)
    frame_ts = pd.to_datetime(frame["event_timestamp"], utc=True)
    ref_frame = frame[frame_ts <= ref_until].reset_index(drop=True)
    cur_frame = frame[frame_ts >= pd.Timestamp(start)].reset_index(drop=True)
    if cur_frame.empty:
        record(dep, "monitor", f"{model_id}: no labelled outcomes in {start} .. {end}", model_id=model_id)
        return {"model_id": model_id, "retrain": [], "alerts": ["no labelled outcomes in the window"], "summary": "no data"}
    oracle = None
    if (dep.truth / "messages").is_dir():
        oracle = oracle_probabilities(dep.truth, cur_frame["message_id"], spec.classes)
    out_dir = dep.reports / "monitor" / model_id / f"{end:%Y-%m-%dT%H%M}"
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = registered_bundle(client, spec, f"models:/{spec.registered_name}/{version}")
    result = check(spec, bundle, ref_frame, cur_frame, version=version,
                   registered=(registered or {}).get(spec.primary_metric), out_dir=out_dir, window=(start, end),
                   oracle_proba=oracle, seen_before=previous_gaps(dep, model_id, version, out_dir.name))
    _log_monitor_run(client, result, out_dir)
    out = {**result.as_dict(), "block_rate_by_provider": provider_block_rates(spec, labels[in_cur])}
    monitor_metrics(out).export(dep.home)
    record(dep, "monitor", result.summary(), model_id=model_id, version=version, retrain=result.retrain,
           alerts=result.alerts, report=str(out_dir))
    return out


def provider_block_rates(spec, labels) -> dict[str, float]:
    """Share of the window's labelled messages each provider blocked (spec §7.2's block-rate alert)."""
    if "block" not in spec.classes or "provider" not in labels or labels.empty:
        return {}
    blocked = labels["label"] == spec.classes.index("block")
    return {str(p): round(float(v), 5) for p, v in blocked.groupby(labels["provider"]).mean().items()}


def _training_params(client, run_id: str) -> dict[str, str]:
    """A training run's parameters, with those its steps logged on their own (nested) runs."""
    run = client.get_run(run_id)
    params = dict(run.data.params)
    if "train_from" not in params:
        for child in client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"):
            params = {**child.data.params, **params}
    if "train_from" not in params:
        raise KeyError(f"training run {run_id} did not record its training window (train_from/train_until)")
    return params


def _log_monitor_run(client, result, out_dir: Path) -> str:
    """One MLflow run per check: its metrics, verdict and the Evidently HTML reports."""
    experiment = client.get_experiment_by_name(MONITOR_EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(MONITOR_EXPERIMENT)
    run = client.create_run(experiment_id, run_name=f"monitor {result.model_id} {result.window[1]}",
                            tags={"model_id": result.model_id, "version": result.version,
                                  "verdict": ("RETRAIN: " + "; ".join(result.retrain))[:4900] if result.retrain else "OK",
                                  "alerts": "; ".join(result.alerts)[:4900]})
    metrics = {"rows_current": result.rows_current, "rows_reference": result.rows_reference,
               "data_drift_share": result.data_drift["share"], "prediction_drift_share": result.prediction_drift["share"],
               "shifted_features": len(result.shifted), "retrain": float(bool(result.retrain))}
    for name, value in ((result.metric, result.current), (f"oracle_{result.metric}", result.oracle),
                        (f"{result.metric}_drop", result.drop)):
        if value is not None:
            metrics[name] = float(value)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, float(value))
    for path in out_dir.iterdir():
        client.log_artifact(run.info.run_id, str(path), "reports")
    client.set_terminated(run.info.run_id)
    return run.info.run_id
