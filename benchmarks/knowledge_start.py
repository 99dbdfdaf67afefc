"""MDL-003 started from the knowledge base against spec §6.2's defaults, judged by the twin
(`delivery/models/mdl003_throttle/knowledge_start.py` says how).

Each world has one sender (one IP, 300,000 subscribers, 80% of the list per campaign at 1,500
messages a minute: past most providers' allowance in its busiest hours, so the knowledge base has
something to learn) for four days; the knowledge base learns each provider's allowance from its
outcome log. The next morning, per provider, the trained MDL-003 policy sends for two hours from
spec §6.2's default rate under the published limit, and from the learned optimal rate under the
learned ceiling, on the same matched world and seed. Means with 95% intervals over worlds (each
world the mean over its eight providers and the policy's training runs); the difference is paired.

Run: `.venv/bin/python benchmarks/knowledge_start.py --validation --policy runs/rl/mdl003-run0/mdl003_ppo.zip`
(seeds 1001-1010), then `--sealed` with the same policies (once per version of the learner, the
limits and the policies; recorded in the sealed ledger). About 3 minutes per training run.
Writes benchmarks/results/knowledge_start_validation.json or knowledge_start_sealed.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
from knowledge_rates import PUSHER
from provenance import training_records, write_results

from adaptive_delivery.delivery.knowledge import learn, limits
from adaptive_delivery.delivery.models.mdl003_throttle import knowledge_start as ks
from adaptive_delivery.delivery.models.mdl003_throttle import policies
from adaptive_delivery.delivery.models.mdl003_throttle.training import load_policy
from adaptive_delivery.platform import protocol
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import World

WORLDS = 10
DAYS = 4
SUBSCRIBERS = 300_000
SENDER = dataclasses.replace(PUSHER, send_rate_per_min=1_500.0)


def judge_world(seed: int, runs: list) -> list[dict]:
    """Four days of the sender's mail, the knowledge base learned from them, then both starts."""
    world = World(WorldConfig(subscribers=SUBSCRIBERS, days=DAYS + 1, seed=seed, senders=(SENDER,)))
    outcomes = [world.step_day().events["outcomes"].select(learn.OUTCOME_COLUMNS) for _ in range(DAYS)]
    known = ks.learned_limits(pa.concat_tables(outcomes).to_pandas())
    return ks.compare_starts(runs, world, known, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--validation", action="store_true")
    mode.add_argument("--sealed", action="store_true")
    parser.add_argument("--policy", type=Path, action="append", required=True, help="each training run of MDL-003")
    args = parser.parse_args()
    runs = [load_policy(path, run=i + 1) for i, path in enumerate(args.policy)]
    record: dict = {"days": DAYS, "subscribers": SUBSCRIBERS, "steps": ks.STEPS,
                    "sender": {"ips": SENDER.n_ips, "rate_per_min": SENDER.send_rate_per_min,
                               "audience_share": SENDER.audience_share},
                    "ceiling_headroom": limits.CEILING_HEADROOM,
                    "settling": {"window": policies.SETTLE_WINDOW, "tolerance": policies.SETTLE_TOLERANCE,
                                 "tail": policies.SETTLE_TAIL},
                    "training_runs": len(runs), "training": training_records(args.policy)}
    if args.sealed:
        seeds = list(protocol.SEALED_SEEDS[:WORLDS])
        version = protocol.artefact_version([Path(learn.__file__), Path(limits.__file__), Path(ks.__file__),
                                             Path(policies.__file__), *args.policy])
        record["sealed_use"] = protocol.SealedLedger(protocol.ledger_path()).claim(
            "knowledge-start", version, seeds, shlex.join(["benchmarks/knowledge_start.py", *sys.argv[1:]]))
        record["version"] = version
    else:
        seeds = list(protocol.VALIDATION_SEEDS[:WORLDS])
    rows: list[dict] = []
    for seed in seeds:
        cell = judge_world(seed, runs)
        rows += cell
        frame = pd.DataFrame(cell).groupby("arm")[["settling_minutes", "delivered_first_hour"]].mean()
        print(f"world {seed}: " + "; ".join(f"{arm} settles in {r.settling_minutes:.1f} min, {r.delivered_first_hour:,.0f} "
                                            "delivered in the first hour" for arm, r in frame.iterrows()), flush=True)
    record.update(seeds=seeds, rows=rows, **ks.summarise(rows))
    write_results("knowledge_start_sealed.json" if args.sealed else "knowledge_start_validation.json", record)


if __name__ == "__main__":
    main()
