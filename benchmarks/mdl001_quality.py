"""MDL-001 quality on a 100k-subscriber world: the training pipeline (KFP local runner, the profile
given) trains on the first 14 days and is scored on the last 7, beside the simulator's two oracles
on the same rows: the oracle (the true outcome probabilities given the world's laws and hidden
traits, each address's hidden state as far as the sender's records show it: the best any model
could do) and the clairvoyant (also knows, on the day of sending, whether the address is dead or
its mailbox full, which no record shows before the first bounce). Also reports how many held-out
bounces are such first occurrences.

Run: `.venv/bin/python benchmarks/mdl001_quality.py [--profile quick|full] [--subscribers 100000] [--days 21]
[--seed 7] [--world DIR] [--name mdl001_quality]` (writes benchmarks/results/<name>.json). The world is
the twin's default observability: placement seen for the panel's share of subscribers only, every
other label partial (`ModelSpec.partial_labels`); the referee scores against the truth.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from provenance import write_results

from adaptive_delivery.delivery.jobs.worlds import WorldSize, build_world
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from adaptive_delivery.twin.config import WorldConfig
from pipelines.training import run_local

REPO = Path(__file__).resolve().parents[1]
SUBSCRIBERS, DAYS, SEED = 100_000, 21, 7


def _first_occurrence_shares(holdout: pd.DataFrame) -> dict[str, float]:
    """Share of held-out hard/soft bounces with no earlier bounce of the subscriber on record."""
    hard = holdout[holdout["label"] == 3]
    soft = holdout[holdout["label"] == 2]
    return {"hard_bounces_without_prior_hard_bounce": float((hard["subscriber_features__hard_bounces_total"].fillna(0) == 0).mean()),
            "soft_bounces_without_prior_bounce": float((soft["subscriber_features__bounce_history"].fillna(0) == 0).mean())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--days", type=int, default=DAYS, help="days simulated (the last 7 are held out)")
    parser.add_argument("--seed", type=int, default=SEED, help="the world's seed (the defaults were chosen on seed 7)")
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument("--world", type=Path, default=None, help="reuse a world folder (simulated and featurised here if empty)")
    parser.add_argument("--name", default=None, help="results file name without .json (default from days and seed)")
    args = parser.parse_args()
    root = args.world or Path(tempfile.mkdtemp(prefix="mdl001-"))
    root.mkdir(parents=True, exist_ok=True)
    timings = build_world(root, args.seed, WorldSize(subscribers=args.subscribers, days=args.days))
    tracking = Tracking(default_tracking_uri(root / "mlflow"), "mdl001-benchmark")
    (root / "mlflow").mkdir(exist_ok=True)
    spec = get("MDL-001")
    t = time.perf_counter()
    verdict = run_local(spec, lake=root / "lake", features=root / "features", feast_home=root / "feast",
                        tracking_uri=tracking.uri, pipeline_root=root / "kfp", truth_dir=root / "truth", profile=args.profile,
                        experiment=tracking.experiment)
    timings["pipeline_s"] = time.perf_counter() - t
    client = tracking.client()
    exp = client.get_experiment_by_name(tracking.experiment).experiment_id
    run = client.search_runs([exp], "tags.model_id = 'MDL-001'", order_by=["attributes.start_time DESC"], max_results=1)[0]
    m = run.data.metrics
    steps = {c.data.tags["step"]: c.data.metrics.get("step_seconds") for c in
             client.search_runs([exp], f"tags.mlflow.parentRunId = '{run.info.run_id}'")}
    holdout = pd.read_parquet(sorted((root / "kfp").rglob("holdout"))[-1])
    result = {
        "world": {"subscribers": args.subscribers, "days": args.days, "seed": args.seed, "holdout_days": spec.holdout_days,
                  "placement_observed_share": WorldConfig().placement_observed_share},
        "profile": args.profile, "rows_train": int(run.data.params["rows_train"]), "rows_holdout": int(m["rows"]),
        "model": {k: m[k] for k in spec.metrics if k in m},
        "oracle": {k: m[f"oracle_{k}"] for k in spec.metrics if f"oracle_{k}" in m},
        "clairvoyant": {k: m[f"clairvoyant_{k}"] for k in spec.metrics if f"clairvoyant_{k}" in m},
        "macro_roc_auc_gap": m[f"oracle_{spec.primary_metric}"] - m[spec.primary_metric],
        "macro_roc_auc_gap_to_clairvoyant": m[f"clairvoyant_{spec.primary_metric}"] - m[spec.primary_metric],
        "gap_sources": _first_occurrence_shares(holdout),
        "verdict": verdict, "timings_s": timings, "step_seconds": steps,
    }
    name = args.name or ("mdl001_quality" + (f"_{args.days}d" if args.days != DAYS else "")
                         + (f"_seed{args.seed}" if args.seed != SEED else ""))
    name += ".json"
    write_results(name, result)
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
