"""MDL-003 learning online against the same policy frozen, in the provider-change scenario run live
through Redis Streams (`delivery.scenarios.throttle_live`): every provider on validation worlds,
the provider cutting its hidden limit to half four hours in, the 24 hours after the cut measured.

The online updates' learning rate is chosen first on validation worlds 1001-1003 with the first
training run's policy (the most throughput after the cut while speed-caused blocks stay under
0.1%); the comparison then runs every training run on validation worlds the choice never saw.
Writes benchmarks/results/mdl003_online.json.

Run: `.venv/bin/python benchmarks/mdl003_online.py --policy runs/rl/mdl003-run0/mdl003_ppo.zip`
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import training_records, write_results

from adaptive_delivery.delivery.providers import PROVIDER_NAMES
from adaptive_delivery.delivery.scenarios import throttle_live as tl
from adaptive_delivery.platform.protocol import require_unsealed
from adaptive_delivery.platform.streams import connect
from serving.local import start_redis

LEARNING_RATES = (3e-5, 1e-4, 3e-4)
BLOCK_BOUND = 0.001  # speed-caused blocks under 0.1% (the bound for MDL-003)


def _ints(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def run_all(client, policies: list[Path], worlds: list[tl.LiveWorld], lr: float, keep: int = 0):
    """Every training run's policy on every world, both arms."""
    rows, kept = [], []
    for i, policy in enumerate(policies, start=1):
        r, k = tl.run_worlds(client, policy, worlds, learning_rate=lr, keep=keep if i == 1 else 0, run_index=i)
        rows += r
        kept += k
    return rows, kept


def choose_learning_rate(client, policy: Path, providers: list[str], seeds: list[int], hours_after: float,
                         rates: tuple[float, ...]) -> dict:
    """Each candidate's online arm beside the frozen arm on the choice worlds (the first training
    run's policy); the rate with the most delivered per hour after the cut among those under the
    block bound."""
    worlds = [tl.LiveWorld(p, s, hours_after=hours_after) for p in providers for s in seeds]
    table = {}
    frozen: dict = {}
    for lr in rates:
        rows, _ = tl.run_worlds(client, policy, worlds, learning_rate=lr, keep=0, arms=tl.ARMS if not frozen
                                else ("online",))
        frozen = frozen or {(r["provider"], r["seed"]): r for r in rows if r["arm"] == "frozen"}
        online = [r for r in rows if r["arm"] == "online"]
        table[str(lr)] = {
            "delivered_per_hour": float(np.mean([r["delivered_per_hour"] for r in online])),
            "throughput_vs_frozen": float(np.mean([r["delivered_per_hour"] / frozen[(r["provider"], r["seed"])]
                                                   ["delivered_per_hour"] - 1 for r in online])),
            "rate_block_rate": float(np.mean([r["rate_block_rate"] for r in online])),
            "frozen_rate_block_rate": float(np.mean([r["rate_block_rate"] for r in frozen.values()])),
        }
    under = [lr for lr in table if table[lr]["rate_block_rate"] < BLOCK_BOUND]
    chosen = (max(under, key=lambda lr: table[lr]["delivered_per_hour"]) if under
              else min(table, key=lambda lr: table[lr]["rate_block_rate"]))
    return {"seeds": seeds, "candidates": table, "chosen": float(chosen),
            "rule": f"most delivered/h after the cut with speed-caused blocks < {BLOCK_BOUND:.1%}"}


def hourly(run: tl.ArmRun) -> dict[str, list[float]]:
    """The run's rate, hidden limit and speed-caused blocks per hour (what the docs plot)."""
    t, per = run.trace, tl.WINDOWS_PER_HOUR
    hours = len(t.rate) // per

    def mean(values: list[float], k: int) -> float:
        return float(np.mean(values[k * per:(k + 1) * per]))

    return {"rate": [mean(t.rate, k) for k in range(hours)], "limit": [mean(t.limit, k) for k in range(hours)],
            "rate_blocks": [float(sum(t.rate_blocks[k * per:(k + 1) * per])) for k in range(hours)],
            "updates_at_hour": [d["after_window"] / per for i, d in enumerate(run.decisions)
                                if i and d["updates"] != run.decisions[i - 1]["updates"]]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", type=Path, action="append", required=True,
                        help="a trained policy; repeat for each training run of the version")
    parser.add_argument("--providers", default=",".join(PROVIDER_NAMES))
    parser.add_argument("--choice-seeds", default="1001,1002,1003")
    parser.add_argument("--seeds", default="1004,1005,1006")
    parser.add_argument("--hours-after", type=float, default=24.0)
    parser.add_argument("--learning-rate", type=float, default=None, help="skip the choice and use this rate")
    args = parser.parse_args()
    providers = args.providers.split(",")
    choice_seeds, seeds = require_unsealed(_ints(args.choice_seeds)), require_unsealed(_ints(args.seeds))
    if set(choice_seeds) & set(seeds):
        raise SystemExit("the comparison's worlds must be ones the choice never saw")
    with tempfile.TemporaryDirectory() as folder:
        server, port = start_redis(Path(folder))
        try:
            client = connect(f"127.0.0.1:{port}")
            started = time.perf_counter()
            choice = None
            lr = args.learning_rate
            if lr is None:
                choice = choose_learning_rate(client, args.policy[0], providers, choice_seeds, args.hours_after,
                                              LEARNING_RATES)
                lr = choice["chosen"]
                print(json.dumps(choice, indent=2))
            worlds = [tl.LiveWorld(p, s, hours_after=args.hours_after) for p in providers for s in seeds]
            rows, kept = run_all(client, args.policy, worlds, lr, keep=1)
            seconds = time.perf_counter() - started
        finally:
            server.terminate()
    per_provider = {p: tl.compare([r for r in rows if r["provider"] == p], ("delivered_per_hour", "rate_block_rate"))
                    for p in providers}
    windows = sum(r["windows"] for r in rows)
    result = {
        "scenario": {"limit_scale": worlds[0].limit_scale, "hours_before": worlds[0].hours_before,
                     "hours_after": args.hours_after, "providers": providers, "seeds": seeds},
        "settings": {**tl.live_settings(), "learning_rate": lr},
        "training_runs": len(args.policy),
        "training": training_records(args.policy),
        "choice": choice,
        "summary": tl.compare(rows),
        "per_provider": per_provider,
        "worlds": rows,
        "example": {"provider": worlds[0].provider, "seed": worlds[0].seed, "cut_hour": worlds[0].hours_before,
                    "arms": {run.arm: hourly(run) for run in kept}},
        "stream": {"windows": windows, "windows_per_s": windows / sum(r["seconds"] for r in rows),
                   "update_seconds_mean": float(np.mean([r["update_seconds"] for r in rows if r["arm"] == "online"])),
                   "total_seconds": seconds},
    }
    write_results("mdl003_online.json", result)
    print(json.dumps(result["summary"], indent=2, default=float))


if __name__ == "__main__":
    main()
