"""A supervised model judged the way the protocol asks: one fresh world per seed (simulated, its
features built by Spark), the model's own training pipeline trained on each world's first days and
scored on its last ones beside the twin's oracle, then every metric as a mean with a 95% interval
over the worlds. The recipe (code and defaults) is what a version is for a supervised model: each
world trains its own model, so the sealed worlds judge the recipe once.

The pipeline itself is passed in (`train`), so this module needs neither KFP nor the command line.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from adaptive_delivery.platform.protocol import artefact_version, interval
from adaptive_delivery.platform.spec import ModelSpec
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

PACKAGE = Path(__file__).resolve().parents[2]  # adaptive_delivery/
# What a supervised model's result depends on beside its own folder: the feature jobs, the platform's
# training and evaluation, and the twin whose worlds it is judged on.
SHARED_RECIPE = ("delivery/features", "delivery/events", "platform/training", "twin")
RESULTS_FILE = "worlds.csv"
SUMMARY_FILE = "worlds_summary.json"


@dataclass(frozen=True)
class WorldSize:
    subscribers: int = 20_000
    days: int = 21


def model_folder(spec: ModelSpec) -> Path:
    """The model's own folder (where its spec and runtime live)."""
    if spec.runtime is None:
        raise ValueError(f"{spec.model_id} names no runtime, so its folder is unknown")
    parts = spec.runtime.split(".")
    return PACKAGE.joinpath(*parts[1:-2])


def recipe_version(spec: ModelSpec, profile: str, size: WorldSize) -> str:
    """The content hash of the model's recipe and what it is judged at: its folder, the shared code
    it trains and is scored with, the training profile and the world size."""
    code = artefact_version([model_folder(spec), *(PACKAGE / p for p in SHARED_RECIPE)])
    return hashlib.sha256(f"{code}|{profile}|{size.subscribers}x{size.days}".encode()).hexdigest()[:16]


def build_world(root: Path, seed: int, size: WorldSize) -> dict[str, float]:
    """Simulate the world into ROOT/lake and ROOT/truth and build its features (Spark, local[2]);
    a part already there is kept. Returns the seconds each part took."""
    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.simulator import simulate

    timings: dict[str, float] = {}
    if not (root / "lake").exists():
        t = time.perf_counter()
        simulate(WorldConfig(subscribers=size.subscribers, days=size.days, seed=seed), root, progress=False)
        timings["simulate_s"] = time.perf_counter() - t
    if not (root / "features").exists():
        t = time.perf_counter()
        build_world_features(root)
        timings["features_s"] = time.perf_counter() - t
    return timings


def build_world_features(root: Path) -> None:
    """ROOT/lake's feature tables into ROOT/features by the Spark job (local[2], as the embedded default)."""
    from adaptive_delivery.delivery.features.spark_jobs import build_features, spark_session

    spark = spark_session(master="local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        build_features(root / "lake", root / "features", spark)
    finally:
        spark.stop()


def replay_to_holdout(seed: int, size: WorldSize, holdout_days: int):
    """(the world of `build_world` simulated again, bit for bit, up to its holdout's first day, that
    day's index): where an evaluation goes on in the sending loop, once per candidate on a copy."""
    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.simulator import World

    world = World(WorldConfig(subscribers=size.subscribers, days=size.days, seed=seed))
    first = size.days - holdout_days
    for _ in range(first):
        world.step_day()
    return world, first


SUBSCRIBER = "subscriber_features__"


def subscriber_morning(world_dir: Path, day, features: Sequence[str]) -> pd.DataFrame:
    """What the feature store held of each subscriber at `day`'s midnight: the snapshot's columns
    among `features` (a model's inputs, `subscriber_features__…`, and `provider`), named as the
    model reads them and indexed by subscriber; where a sending-loop benchmark starts."""
    wanted = [c.removeprefix(SUBSCRIBER) for c in features if c.startswith(SUBSCRIBER) or c == "provider"]
    table = pd.read_parquet(world_dir / "features" / "subscriber", columns=["subscriber_id", "event_timestamp", *wanted])
    at = pd.Timestamp(day).tz_localize("UTC")
    rows = table[table["event_timestamp"] == at]
    if rows.empty:
        raise SystemExit(f"{world_dir}: no subscriber snapshot at {at}")
    named = {c: (c if c == "provider" else f"{SUBSCRIBER}{c}") for c in wanted}
    return rows.drop(columns="event_timestamp").rename(columns=named).set_index("subscriber_id")


def trained_bundle(world_dir: Path, spec: ModelSpec):
    """The model the newest pipeline run trained on a world (`score_world`'s)."""
    from adaptive_delivery.platform.bundle import TrainedModel

    runs = sorted((world_dir / "kfp").glob(f"train-{spec.model_id.lower()}-*"))
    if not runs:
        raise FileNotFoundError(f"{world_dir}: no {spec.model_id} pipeline run (run `model evaluate` first)")
    return TrainedModel.load(runs[-1] / "train-model" / "model")


Train = Callable[..., str]  # pipelines.training.run_local


def score_world(spec: ModelSpec, root: Path, seed: int, size: WorldSize, profile: str, train: Train) -> dict:
    """One world: build it, run the model's training pipeline on it, and return the holdout's
    metrics beside the oracle's (`oracle_*`) as one row."""
    timings = build_world(root, seed, size)
    (root / "mlflow").mkdir(exist_ok=True)
    tracking = Tracking(default_tracking_uri(root / "mlflow"), f"{spec.model_id.lower()}-worlds")
    t = time.perf_counter()
    verdict = train(spec, lake=root / "lake", features=root / "features", feast_home=root / "feast",
                    tracking_uri=tracking.uri, pipeline_root=root / "kfp", truth_dir=root / "truth",
                    profile=profile, experiment=tracking.experiment)
    timings["pipeline_s"] = time.perf_counter() - t
    client = tracking.client()
    experiment = client.get_experiment_by_name(tracking.experiment).experiment_id
    [run] = client.search_runs([experiment], f"tags.model_id = '{spec.model_id}'",
                               order_by=["attributes.start_time DESC"], max_results=1)
    m = run.data.metrics
    row: dict[str, object] = {"seed": seed, "rows_holdout": int(m.get("rows", 0)), "verdict": verdict.splitlines()[0]}
    for name in spec.metrics:
        row[name] = m.get(name, float("nan"))
        row[f"oracle_{name}"] = m.get(f"oracle_{name}", float("nan"))
        if spec.baseline is not None:
            row[f"baseline_{name}"] = m.get(f"baseline_{name}", float("nan"))
    return row | timings


def summarise(spec: ModelSpec, rows: pd.DataFrame) -> dict[str, object]:
    """Each metric's mean and 95% interval over the worlds, for the model, the oracle and the gap
    (oracle - model, world by world); and the model's targets where its spec states them."""
    found: dict[str, dict[str, dict]] = {}
    for name in spec.metrics:
        if rows[name].isna().all():
            continue
        found[name] = {"model": interval(rows[name].to_numpy()).to_dict(),
                       "oracle": interval(rows[f"oracle_{name}"].to_numpy()).to_dict(),
                       "gap": interval((rows[f"oracle_{name}"] - rows[name]).to_numpy()).to_dict()}
        if f"baseline_{name}" in rows and not rows[f"baseline_{name}"].isna().any():
            found[name]["baseline"] = interval(rows[f"baseline_{name}"].to_numpy()).to_dict()
            found[name]["over_baseline"] = interval((rows[name] - rows[f"baseline_{name}"]).to_numpy()).to_dict()
    targets: dict[str, object] = {}
    primary = found.get(spec.primary_metric)
    if spec.max_gap_to_oracle is not None and primary is not None:
        gap = primary["gap"]
        targets["gap_to_oracle"] = {"metric": spec.primary_metric, "target": spec.max_gap_to_oracle, **gap,
                                    "met": gap["mean"] <= spec.max_gap_to_oracle}
    if spec.max_ece is not None and "ece" in found:
        ece = found["ece"]["model"]
        targets["ece"] = {"target": spec.max_ece, **ece, "met": ece["mean"] <= spec.max_ece}
    return {"worlds": len(rows), "seeds": [int(s) for s in rows.seed], "intervals": found, "targets": targets}


def evaluate_worlds(spec: ModelSpec, seeds: Sequence[int], out: Path, *, size: WorldSize, profile: str,
                    train: Train, progress: Callable[[str], None] = print) -> dict[str, object]:
    """Every world in turn (a world already scored in OUT is read back, so an interrupted run goes
    on where it stopped); writes OUT/worlds.csv and OUT/worlds_summary.json; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    done = pd.read_csv(out / RESULTS_FILE) if (out / RESULTS_FILE).exists() else pd.DataFrame({"seed": []})
    rows = [r for r in done.to_dict("records") if int(r["seed"]) in seeds]
    for i, seed in enumerate(seeds, 1):
        if any(int(r["seed"]) == seed for r in rows):
            continue
        started = time.perf_counter()
        rows.append(score_world(spec, out / f"world-{seed}", seed, size, profile, train))
        pd.DataFrame(rows).to_csv(out / RESULTS_FILE, index=False)
        last = rows[-1]
        progress(f"world {seed} ({i}/{len(seeds)}, {time.perf_counter() - started:.0f} s): "
                 f"{spec.primary_metric} {last[spec.primary_metric]:.4f} vs oracle {last[f'oracle_{spec.primary_metric}']:.4f}")
    frame = pd.DataFrame(rows).sort_values("seed")
    summary = {"model_id": spec.model_id, "profile": profile, "world": {"subscribers": size.subscribers, "days": size.days,
                                                                       "holdout_days": spec.holdout_days},
               **summarise(spec, frame)}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=float))
    return summary
