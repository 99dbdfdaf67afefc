"""Does MDL-004's reputation help MDL-001? Shadow trials of its published scores on validation worlds.

Per world (MDL-004's sampled senders, careful to reckless, some importing a bought list part-way,
so that blocks and listings happen): the twin runs `--days` days; Spark builds the feature tables;
an MDL-004 model trained on its own training worlds scores the lake hour by hour into the
`ip_reputation` and `domain_reputation` tables, as the features job publishes them
(`scoring.score_lake`); then each published score gets MDL-001's shadow trial
(`platform.feature_discovery.shadow_trials`: MDL-001 trained with the column and with the same
column shuffled across rows, three runs each, all scoring the spec's holdout days). The summary:
each score's mean difference in MDL-001's macro ROC-AUC over the worlds with a 95% interval, and
the trials' own verdicts. Writes benchmarks/results/reputation_feature.json.

Run: `.venv/bin/python benchmarks/reputation_feature.py --seeds 1001-1005`
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import write_results
from scipy import stats

from adaptive_delivery.delivery.features.spark_jobs import build_features, spark_session
from adaptive_delivery.delivery.models.mdl004_domain_reputation import scoring
from adaptive_delivery.delivery.models.mdl004_domain_reputation.training import train_and_save
from adaptive_delivery.delivery.models.mdl004_domain_reputation.worlds import sample_senders
from adaptive_delivery.platform import feature_discovery as fdisc
from adaptive_delivery.platform.feature_publish import build_and_publish
from adaptive_delivery.platform.protocol import require_unsealed
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.dataset import time_split
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

SPEC = get("MDL-001")
FIELDS = {"ip_reputation_features__health_score": "numeric", "ip_reputation_features__p_block_event": "numeric",
          "domain_reputation_features__health_score": "numeric"}


def parse_seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def publish_scores(lake: Path, features: Path, model_file: Path) -> dict[str, int]:
    """The reputation tables beside Spark's, as the features job publishes them."""
    frames = scoring.score_lake(lake, model_file)

    def build(staging: Path) -> dict[str, int]:
        for table, frame in frames.items():
            (staging / table).mkdir(parents=True)
            frame.to_parquet(staging / table / "part-00000.parquet", index=False, coerce_timestamps="us")
        return {table: len(frame) for table, frame in frames.items()}

    return build_and_publish(features, build)


def one_world(seed: int, args: argparse.Namespace, spark, model_file: Path, root: Path) -> list[dict]:
    out = root / f"world-{seed}"
    t0 = time.perf_counter()
    simulate(WorldConfig(subscribers=args.subscribers, days=args.days, seed=seed, senders=sample_senders(seed)), out,
             progress=False)
    build_features(out / "lake", out / "features", spark)
    published = publish_scores(out / "lake", out / "features", model_file)
    frame = fdisc.discovery_frame(SPEC, SPEC.labels(out / "lake"), out / "features", out / "feast")
    holdout = time_split(frame, SPEC.holdout_days)
    trials = fdisc.shadow_trials(SPEC, frame[~holdout].reset_index(drop=True), frame[holdout].reset_index(drop=True),
                                 FIELDS, args.profile, seed)
    scored = frame[list(FIELDS)].notna().mean().round(3).to_dict()
    rows = []
    for trial in trials:
        rows.append({"seed": seed, "field": trial["feature"], "difference": trial["difference"], "ci95": trial["ci95"],
                     "verdict": trial["verdict"], "without": trial["without"], "placebo": trial["placebo"],
                     "with": trial["with"], "holdout_rows": trial["holdout_rows"], "train_rows": trial["train_rows"],
                     "scored_share": scored.get(trial["feature"]), "published_rows": published})
        print(json.dumps(rows[-1], default=float), flush=True)
    print(f"world {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def summarise(rows: list[dict]) -> dict[str, dict]:
    """Per field: the mean difference over the worlds with a 95% t-interval, and the verdicts."""
    out = {}
    for field in FIELDS:
        diff = np.array([r["difference"] for r in rows if r["field"] == field], dtype=float)
        half = float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else np.nan
        verdicts = pd.Series([r["verdict"] for r in rows if r["field"] == field]).value_counts().to_dict()
        out[field] = {"worlds": int(len(diff)), "mean_difference": float(diff.mean()),
                      "ci95": [float(diff.mean() - half), float(diff.mean() + half)], "verdicts": verdicts}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1001-1005", help="validation worlds, e.g. 1001-1005")
    parser.add_argument("--subscribers", type=int, default=8_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--profile", default="smoke", help="MDL-001's training effort in the trials")
    parser.add_argument("--mdl004-days", type=int, default=21, help="days of each MDL-004 training world (quick: 21)")
    args = parser.parse_args()
    seeds = require_unsealed(parse_seeds(args.seeds))
    started, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        model_file = train_and_save(args.mdl004_days, 0, Path(tmp))
        spark = spark_session(master="local[2]")
        spark.sparkContext.setLogLevel("ERROR")
        for seed in seeds:
            rows += one_world(seed, args, spark, model_file, Path(tmp))
        spark.stop()
    result = {"seeds": seeds, "subscribers": args.subscribers, "days": args.days, "profile": args.profile,
              "mdl004_training_days": args.mdl004_days, "trial_seeds": fdisc.TRIAL_SEEDS, "bootstrap": fdisc.BOOTSTRAP,
              "holdout_days": SPEC.holdout_days, "summary": summarise(rows), "rows": rows,
              "seconds": time.perf_counter() - started}
    write_results("reputation_feature.json", result)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
