"""MDL-009 on held-out new IPs: PPO trained for the given budget (or a policy given), then every
warm-up policy (the fixed doubling schedule, the spec's rules at +25% and +50%, PPO, the oracle) on
the same IPs and both lists (this world's typical list and a clean one); writes
benchmarks/results/mdl009_heldout.json with the table, the registry's metrics, the training record
and provenance.

Run: `.venv/bin/python benchmarks/mdl009_heldout.py [--timesteps 300000] [--days 40]`
(`--policy P` skips training; `--evaluation DIR` packages what `adaptive-delivery model evaluate
MDL-009 --out DIR` already wrote, without evaluating again).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from provenance import provenance

from adaptive_delivery.delivery.models.mdl009_warmup import report as wr
from adaptive_delivery.delivery.models.mdl009_warmup.training import train_and_save

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0, help="the training seed")
    parser.add_argument("--days", type=int, default=wr.HORIZON_DAYS)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "mdl009-benchmark")
    parser.add_argument("--policy", type=Path, default=None, help="a trained policy: skip training")
    parser.add_argument("--evaluation", type=Path, default=None, help="package an evaluation already written here")
    args = parser.parse_args()
    timings: dict[str, float] = {}
    if args.evaluation is not None:
        folder = args.evaluation
        tab, rows = pd.read_csv(folder / "warmup_eval.csv"), pd.read_csv(folder / "warmup_runs.csv")
        extra = json.loads((folder / "warmup_summary.json").read_text())
        policy = args.policy or folder / "mdl009_ppo.zip"
    else:
        folder, policy = args.out, args.policy
        if policy is None:
            t = time.perf_counter()
            policy = train_and_save(args.timesteps, args.seed, folder)
            timings["train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        tab, rows, extra = wr.evaluate_into(policy, folder, days=args.days, seeds=wr.HELD_OUT_SEEDS)
        timings["evaluate_s"] = time.perf_counter() - t
    training = Path(policy).parent / "training.json"
    result = {
        "days": extra["days"], "seeds": extra["seeds"],
        "training": json.loads(training.read_text()) if training.exists() else None,
        "table": json.loads(tab.to_json(orient="records")),
        "registry_metrics": wr.registry_metrics(rows, int(extra["days"])),
        "timings_s": timings, "provenance": provenance(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mdl009_heldout.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: result[k] for k in ("table", "registry_metrics")}, indent=2, default=float))


if __name__ == "__main__":
    main()
