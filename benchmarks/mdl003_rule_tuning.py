"""Tune MDL-003's rule baselines on validation worlds (`delivery/models/mdl003_throttle/rules.py`):
every candidate setting of each rule on every provider, all providers' mail together; per rule the
one that delivers most per hour with speed-caused blocks under 0.1%. Writes the choice as package
data (`delivery/data/mdl003_tuned_rules.json`, what evaluations read) and every candidate's score to
benchmarks/results/mdl003_rule_tuning.json.

Run: `.venv/bin/python benchmarks/mdl003_rule_tuning.py [--days 1] [--seeds 1003-1007]`
"""

from __future__ import annotations

import argparse
import json

from provenance import provenance, write_results

from adaptive_delivery.cli.common import parse_seeds
from adaptive_delivery.delivery.models.mdl003_throttle import report as tr
from adaptive_delivery.delivery.models.mdl003_throttle import rules


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--seeds", default="1003-1007", help="validation seeds (never sealed ones)")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)

    def show(kind: str, params: dict, metrics: dict) -> None:
        print(f"{kind:8s} {json.dumps(params):70s} {metrics['delivered_per_hour']:>10,.0f}/h "
              f"speed blocks {metrics['rate_block_rate']:.4%}", flush=True)

    chosen, scores = rules.tune(tr.score_policy, seeds=seeds, days=args.days, on_candidate=show)
    record = {"chosen": chosen, "seeds": seeds, "days": args.days, "provenance": provenance()}
    rules.TUNED_FILE.write_text(json.dumps(record, indent=2) + "\n")
    write_results("mdl003_rule_tuning.json", {"chosen": chosen, "seeds": seeds, "days": args.days,
                                              "candidates": scores.to_dict(orient="records")})
    print(json.dumps(chosen, indent=2))


if __name__ == "__main__":
    main()
