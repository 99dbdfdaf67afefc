"""MDL-003 on the held-out worlds: PPO trained for the given budget (or a policy given), then every
throttle policy (spec §6.2 static, KumoMTA as shipped and with rates, AIMD, the online bandit, PPO,
the oracle) on the same worlds; writes benchmarks/results/mdl003_heldout.json with the overall and
per-provider table, the targets, the registry's metrics, the training record and provenance.

Run: `.venv/bin/python benchmarks/mdl003_heldout.py [--timesteps 1600000] [--days 7] [--seeds 1001,1002]`
(`--policy P` skips training; `--evaluation DIR` packages what `adaptive-delivery model evaluate
MDL-003 --out DIR` already wrote, without evaluating again).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from provenance import provenance

from adaptive_delivery.delivery.models.mdl003_throttle import report as tr
from adaptive_delivery.delivery.models.mdl003_throttle.spec import FULL_TIMESTEPS
from adaptive_delivery.delivery.models.mdl003_throttle.training import train_and_save

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
COLUMNS = ("delivered_per_hour", "block_rate", "rate_block_rate", "deferral_rate", "complaint_rate", "reputation_end",
           "oracle_share")


def _rows(tab: pd.DataFrame, provider: str) -> dict[str, dict[str, float]]:
    part = tab[tab.provider == provider].set_index("policy")
    return {policy: {c: float(part.loc[policy, c]) for c in COLUMNS if c in part.columns} for policy in part.index}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int, default=FULL_TIMESTEPS)
    parser.add_argument("--seed", type=int, default=0, help="the training seed")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seeds", default=",".join(map(str, tr.HELD_OUT_SEEDS)))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "mdl003-benchmark")
    parser.add_argument("--policy", type=Path, default=None, help="a trained policy: skip training")
    parser.add_argument("--evaluation", type=Path, default=None, help="package an evaluation already written here")
    args = parser.parse_args()
    timings: dict[str, float] = {}
    if args.evaluation is not None:
        folder = args.evaluation
        tab = pd.read_csv(folder / "throttle_eval.csv")
        extra = json.loads((folder / "throttle_targets.json").read_text())
        policy = args.policy or folder / "mdl003_ppo.zip"
    else:
        folder = args.out
        policy = args.policy
        if policy is None:
            t = time.perf_counter()
            policy = train_and_save(args.timesteps, args.seed, folder)
            timings["train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        tab, extra = tr.evaluate_into(policy, folder, days=args.days, seeds=[int(s) for s in args.seeds.split(",")],
                                      workers=args.workers, trace=True)
        timings["evaluate_s"] = time.perf_counter() - t
    training = Path(policy).parent / "training.json"
    result = {
        "days": extra["days"], "seeds": extra["seeds"],
        "training": json.loads(training.read_text()) if training.exists() else None,
        "overall": _rows(tab, "ALL"),
        "per_provider": {p: _rows(tab, p) for p in sorted(set(tab.provider)) if p != "ALL"},
        "targets": extra["targets"], "registry_metrics": tr.registry_metrics(tab),
        "limit_halved": extra.get("limit_halved"), "timings_s": timings, "provenance": provenance(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mdl003_heldout.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: result[k] for k in ("overall", "targets", "registry_metrics")}, indent=2, default=float))


if __name__ == "__main__":
    main()
