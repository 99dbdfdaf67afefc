"""The knowledge base's safe rates judged by the twin: what `knowledge.learn` says each provider
allows one IP per hour, against the hidden allowance in force in the hours it learned from (the
twin's message truth: `hourly_limit`), beside spec §6.2's static defaults (per minute x 60).

Each world has one sender that pushes every provider past its allowance (one established IP,
300,000 subscribers, 80% of the list per campaign at 6,000 messages a minute; a sender who never
pushes teaches only lower bounds), for four days. Per provider: the relative error of the learned
rate and of the default; means with 95% intervals over worlds.

Run: `.venv/bin/python benchmarks/knowledge_rates.py --validation` (seeds 1001-1005), then
`--sealed` (once per version of the learner, recorded in the sealed ledger). About 2 minutes each.
Writes benchmarks/results/knowledge_rates_validation.json or knowledge_rates_sealed.json.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from provenance import write_results

from adaptive_delivery.delivery.knowledge import learn
from adaptive_delivery.platform import protocol
from adaptive_delivery.twin.config import SenderConfig, WorldConfig
from adaptive_delivery.twin.envs import static_rate_per_min
from adaptive_delivery.twin.simulator import World

WORLDS = 5
DAYS = 4
SUBSCRIBERS = 300_000
PUSHER = SenderConfig("push", "news.push.example", 1.0, n_ips=1, ip_prefix="198.18.0", send_rate_per_min=6_000.0,
                      audience_share=0.8)


def judge_world(seed: int) -> dict[str, dict[str, float]]:
    """Per provider: the learned safe rate, the allowance in force in the hours it used, both errors."""
    world = World(WorldConfig(subscribers=SUBSCRIBERS, days=DAYS, seed=seed, senders=(PUSHER,)))
    outcomes, truth = [], []
    for _ in range(DAYS):
        day = world.step_day()
        outcomes.append(day.events["outcomes"].select(learn.OUTCOME_COLUMNS))
        truth.append(day.truth["messages"].select(["message_id", "hourly_limit"]))
    frame = pa.concat_tables(outcomes).to_pandas()
    limit = pa.concat_tables(truth).to_pandas().set_index("message_id")["hourly_limit"]
    first = frame[frame["attempt"] == 1]
    hour = pd.to_datetime(first["event_ts"], utc=True).dt.floor("h").map(lambda h: h.isoformat())
    out = {}
    for provider, rows in frame.groupby("provider"):
        fact = learn.rate_facts(rows, datetime.now(UTC))["safe_max_rate_per_hour"]
        used = set(fact.evidence.get("hours_used", []))
        mine = first[(first["provider"] == provider) & hour.isin(used)]
        if fact.evidence["kind"] != "estimate" or mine.empty:
            out[str(provider)] = {"kind": fact.evidence["kind"], "learned": fact.value}
            continue
        hidden = float(limit.loc[mine["message_id"]].mean())
        default = 60.0 * static_rate_per_min(str(provider))
        out[str(provider)] = {"kind": "estimate", "learned": float(fact.value), "hidden_allowance": hidden,
                              "error": fact.value / hidden - 1.0, "default_per_hour": default,
                              "default_error": default / hidden - 1.0}
    return out


def summarise(cells: dict[int, dict]) -> dict:
    providers = sorted({p for c in cells.values() for p in c})
    per = {}
    for p in providers:
        got = [c[p] for c in cells.values() if c.get(p, {}).get("kind") == "estimate"]
        entry = {"worlds_with_estimate": len(got)}
        for key in ("error", "default_error", "hidden_allowance", "learned"):
            values = [g[key] for g in got]
            entry[key] = protocol.interval(values).to_dict() if len(values) >= 2 else {"mean": float(np.mean(values))
                                                                                        if values else float("nan")}
        per[p] = entry
    abs_error = [np.mean([abs(c[p]["error"]) for p in c if c[p].get("kind") == "estimate"]) for c in cells.values()]
    abs_default = [np.mean([abs(c[p]["default_error"]) for p in c if c[p].get("kind") == "estimate"])
                   for c in cells.values()]
    return {"providers": per, "mean_abs_error": protocol.interval(abs_error).to_dict(),
            "mean_abs_default_error": protocol.interval(abs_default).to_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--validation", action="store_true")
    mode.add_argument("--sealed", action="store_true")
    args = parser.parse_args()
    record: dict = {"days": DAYS, "subscribers": SUBSCRIBERS, "sender": {"ips": PUSHER.n_ips, "rate_per_min":
                                                                       PUSHER.send_rate_per_min,
                                                                       "audience_share": PUSHER.audience_share}}
    if args.sealed:
        seeds = list(protocol.SEALED_SEEDS[:WORLDS])
        version = protocol.artefact_version([Path(learn.__file__)])
        record["sealed_use"] = protocol.SealedLedger(protocol.ledger_path()).claim(
            "knowledge-rates", version, seeds, shlex.join(["benchmarks/knowledge_rates.py", *sys.argv[1:]]))
        record["version"] = version
    else:
        seeds = list(protocol.VALIDATION_SEEDS[:WORLDS])
    cells = {}
    for seed in seeds:
        cells[seed] = judge_world(seed)
        print(f"world {seed}: " + ", ".join(f"{p} {c.get('error', float('nan')):+.1%}" for p, c in cells[seed].items()),
              flush=True)
    record.update(seeds=seeds, worlds={str(s): c for s, c in cells.items()}, **summarise(cells))
    write_results("knowledge_rates_sealed.json" if args.sealed else "knowledge_rates_validation.json", record)


if __name__ == "__main__":
    main()
