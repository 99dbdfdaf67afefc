"""MDL-009 learning daily against the same policy frozen: fleets of new IPs warmed up together on
validation worlds, one policy per fleet deciding every IP's day (`mdl009_warmup/online.py`).

Each fleet is `--ips` new IPs (one world seed each) on the typical list for the warm-up horizon;
both arms see the same worlds. Per IP: days to full capacity (the horizon + 1 when never reached),
mail delivered, pause days, block-event days; a fleet's figure is its IPs' mean. Writes
benchmarks/results/mdl009_online.json.

Run: `.venv/bin/python benchmarks/mdl009_online.py --policy runs/rl/mdl009-run0/mdl009_ppo.zip`
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from provenance import training_records, write_results

from adaptive_delivery.delivery.models.mdl009_warmup.online import (
    LEARNING_RATE,
    OnlineWarmupFleet,
    run_fleet,
)
from adaptive_delivery.delivery.models.mdl009_warmup.policies import HORIZON_DAYS
from adaptive_delivery.platform.protocol import VALIDATION_SEEDS, interval, require_unsealed
from adaptive_delivery.platform.rl.ppo import load_model

ARMS = ("frozen", "online")
METRICS = ("days_to_full", "delivered_total", "pause_days", "block_event_days")


def fleet_row(traces, days: int) -> dict[str, float]:
    summaries = [t.summary() for t in traces]
    return {
        "days_to_full": float(np.mean([s["days_to_full"] or days + 1 for s in summaries])),
        "reached": float(np.mean([s["days_to_full"] is not None for s in summaries])),
        "delivered_total": float(np.mean([s["delivered_total"] for s in summaries])),
        "pause_days": float(np.mean([s["pause_days"] for s in summaries])),
        "block_event_days": float(np.mean([s["block_event_days"] for s in summaries])),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", type=Path, action="append", required=True,
                        help="a trained policy; repeat for each training run of the version")
    parser.add_argument("--ips", type=int, default=4, help="new IPs per fleet")
    parser.add_argument("--fleets", type=int, default=5)
    parser.add_argument("--days", type=int, default=HORIZON_DAYS)
    args = parser.parse_args()
    seeds = require_unsealed(VALIDATION_SEEDS[:args.ips * args.fleets])
    if len(seeds) < args.ips * args.fleets:
        raise SystemExit(f"only {len(VALIDATION_SEEDS)} validation worlds: fewer fleets or IPs")
    fleets = [list(seeds[i * args.ips:(i + 1) * args.ips]) for i in range(args.fleets)]
    rows, started = [], time.perf_counter()
    for run, policy in enumerate(args.policy, start=1):
        for fleet_seeds in fleets:
            for arm in ARMS:
                fleet = OnlineWarmupFleet(load_model(policy), ips=len(fleet_seeds), learn=arm == "online",
                                          seed=fleet_seeds[0])
                traces = run_fleet(fleet, fleet_seeds, days=args.days)
                rows.append({"run": run, "fleet": fleet_seeds[0], "arm": arm, "updates": fleet.updates,
                             "fallbacks": fleet.fallbacks, **fleet_row(traces, args.days)})
                print(rows[-1], flush=True)
    runs, firsts = sorted({r["run"] for r in rows}), [f[0] for f in fleets]
    by = {(r["run"], r["fleet"], r["arm"]): r for r in rows}

    def cells(metric: str, arm: str | None) -> list[list[float]]:
        if arm is None:
            return [[by[(r, f, "online")][metric] - by[(r, f, "frozen")][metric] for f in firsts] for r in runs]
        return [[by[(r, f, arm)][metric] for f in firsts] for r in runs]

    summary = {arm: {m: asdict(interval(cells(m, arm))) for m in METRICS} for arm in ARMS}
    summary["online_minus_frozen"] = {m: asdict(interval(cells(m, None))) for m in METRICS}
    result = {
        "ips_per_fleet": args.ips, "fleets": fleets, "days": args.days, "audience": "typical",
        "learning_rate": LEARNING_RATE, "training_runs": len(args.policy),
        "training": training_records(args.policy),
        "summary": summary, "rows": rows, "seconds": time.perf_counter() - started,
    }
    write_results("mdl009_online.json", result)
    print(json.dumps(summary, indent=2, default=float))


if __name__ == "__main__":
    main()
