"""Feature discovery on validation worlds: does the weekly report point at the fields worth trying?

Per world: the twin runs `--days` days; Spark builds the feature tables; MDL-001's champion is
trained on the first `--champion-days` days; the report judges every candidate field over the
last two weeks within the champion's strata (`platform.feature_discovery.weekly_report`); then
every candidate, suggested or not, gets its shadow trial (the model trained on all days before
the spec's 7 holdout days, with and without the field, both scoring the holdout). The table sets
the report's verdict beside the trial's: how many suggested fields helped, and how many of the
others did. Writes benchmarks/results/feature_discovery.json.

Run: `.venv/bin/python benchmarks/feature_discovery.py --seeds 1001-1003`
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import write_results

from adaptive_delivery.delivery.features.spark_jobs import build_features, spark_session
from adaptive_delivery.platform import feature_discovery as fdisc
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.protocol import require_unsealed
from adaptive_delivery.platform.spec import get, profile
from adaptive_delivery.platform.training.dataset import time_split
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

SPEC = get("MDL-001")


def parse_seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def champion(frame: pd.DataFrame, until: pd.Timestamp, profile_name: str, seed: int) -> TrainedModel:
    """MDL-001 as the pipeline trains it (baseline parameters), on the rows before `until`."""
    rows = frame[pd.to_datetime(frame["event_timestamp"], utc=True) < until].reset_index(drop=True)
    data = SPEC.to_dataset(rows, extra={})
    model = SPEC.fit(data, {**SPEC.baseline_params(), "seed": seed}, profile(profile_name))
    return TrainedModel(SPEC.model_id, SPEC.classes, list(data.X.columns), list(data.categories), data.categories,
                        model, params={"seed": seed}, trained_rows=len(data), trained_until=str(until))


def one_world(seed: int, args: argparse.Namespace, spark, root: Path) -> list[dict]:
    out = root / f"world-{seed}"
    t0 = time.perf_counter()
    simulate(WorldConfig(subscribers=args.subscribers, days=args.days, seed=seed), out, progress=False)
    build_features(out / "lake", out / "features", spark)
    labels = SPEC.labels(out / "lake")
    frame = fdisc.discovery_frame(SPEC, labels, out / "features", out / "feast")
    start = pd.to_datetime(frame["event_timestamp"], utc=True).min().normalize()
    end = start + pd.Timedelta(days=args.days)
    model = champion(frame, start + pd.Timedelta(days=args.champion_days), args.profile, seed)
    report = fdisc.weekly_report(SPEC, frame, model, end.to_pydatetime(), weeks=2, model_version="benchmark")
    latest = report.weeks[-1]["associations"]
    holdout = time_split(frame, SPEC.holdout_days)
    candidates = {c: k for c, k in SPEC.discovery.candidates().items() if c not in model.features}
    trials = fdisc.shadow_trials(SPEC, frame[~holdout].reset_index(drop=True), frame[holdout].reset_index(drop=True),
                                 candidates, args.profile, seed)
    rows = []
    for trial in trials:
        field = trial["feature"]
        mine = [a for a in latest if a["field"] == field]
        strongest = max(mine, key=lambda a: a["conditional_bits"])
        rows.append({"seed": seed, "field": field, "suggested": field in report.suggestions,
                     "bits_beyond_model": strongest["conditional_bits"], "outcome": strongest["outcome"],
                     "q": min(a["q"] for a in mine), "trial_difference": trial["difference"], "trial_ci95": trial["ci95"],
                     "verdict": trial["verdict"], "without": trial["without"], "placebo": trial["placebo"],
                     "with": trial["with"],
                     "holdout_rows": trial["holdout_rows"], "train_rows": trial["train_rows"]})
        print(json.dumps(rows[-1], default=float), flush=True)
    print(f"world {seed}: {len(report.suggestions)} suggested, {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def summarise(rows: list[dict]) -> dict[str, object]:
    def count(suggested: bool, verdict: str | None = None) -> int:
        return sum(r["suggested"] == suggested and (verdict is None or r["verdict"] == verdict) for r in rows)

    bits, diff = np.array([r["bits_beyond_model"] for r in rows]), np.array([r["trial_difference"] for r in rows])
    rank = float(pd.Series(bits).corr(pd.Series(diff), method="spearman")) if len(rows) > 2 else float("nan")
    return {"trials": len(rows), "suggested": count(True), "suggested_helped": count(True, "helps"),
            "suggested_hurt": count(True, "hurts"), "others": count(False), "others_helped": count(False, "helps"),
            "others_hurt": count(False, "hurts"), "spearman_bits_vs_gain": rank}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1001-1003", help="validation worlds, e.g. 1001-1003")
    parser.add_argument("--subscribers", type=int, default=8_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--champion-days", type=int, default=14)
    parser.add_argument("--profile", default="smoke", help="training effort of the champion and the trials")
    args = parser.parse_args()
    seeds = require_unsealed(parse_seeds(args.seeds))
    spark = spark_session(master="local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    started, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            rows += one_world(seed, args, spark, Path(tmp))
    spark.stop()
    result = {"seeds": seeds, "subscribers": args.subscribers, "days": args.days,
              "champion_days": args.champion_days, "profile": args.profile,
              "report_weeks": 2, "q_max": fdisc.Q_MAX, "min_bits": fdisc.MIN_BITS,
              "permutations": fdisc.PERMUTATIONS, "bootstrap": fdisc.BOOTSTRAP,
              "summary": summarise(rows), "rows": rows, "seconds": time.perf_counter() - started,
              "holdout_days": SPEC.holdout_days, "week": str(timedelta(days=7))}
    write_results("feature_discovery.json", result)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
