"""MKT-002 judged once on the sealed worlds: the bid optimiser with the registered model as its
prior against the optimiser learning from its own clicks alone, bidding the value, and linear
bidding (the best rule of `marketing_twin.json`), on the same auctions, second price, over a new
campaign's first week and its first two weeks, beside the hindsight oracle.

The settings are the ones `benchmarks/marketing_twin.py` chose on validation worlds (the
optimiser's pacing gain, linear bidding's base); this run checks that `mkt002_bidding.training`
uses them. The model is trained as `model train MKT-002 --profile quick` trains it, three times
on training worlds of its own (each run's worlds and seed differ); its figures are means over the
runs x worlds. The sealed ledger records the use against the hash of the bidders, the twin and the
model's code.

Run: `.venv/bin/python benchmarks/bid_prior.py` (writes benchmarks/results/bid_prior.json).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.marketing.models.mkt002_bidding import training as mkt002
from adaptive_delivery.marketing.models.mkt002_bidding.service import load_value_model
from adaptive_delivery.platform import protocol
from adaptive_delivery.platform.spec import get

HERE = Path(__file__).resolve().parent
HORIZONS = (7, 14)  # days: a new campaign's first week, and the twin benchmark's two weeks
CAMPAIGNS = 4
METRICS = ("share_of_oracle", "conversions_per_1000", "regret_per_campaign_day")
OTHERS = ("optimiser_no_prior", "value", "linear")


def _check_settings() -> dict:
    """The validation choices of marketing_twin.json, as the evaluation uses them."""
    chosen = json.loads((HERE / "results" / "marketing_twin.json").read_text())["bidding"]["second"]["chosen"]
    if chosen["optimiser"]["setting"] != mkt002.PACING_GAIN or chosen["linear"]["setting"] != mkt002.LINEAR_BASE:
        raise SystemExit(f"marketing_twin.json chose {chosen}; mkt002_bidding.training uses gain "
                         f"{mkt002.PACING_GAIN} and linear base {mkt002.LINEAR_BASE}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=protocol.MIN_WORLDS)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    chosen = _check_settings()
    sealed = list(protocol.SEALED_SEEDS[:args.worlds])
    src = HERE.parent / "src" / "adaptive_delivery"
    version = protocol.artefact_version([src / "marketing" / "bidding.py", src / "twin" / "marketing.py",
                                         *sorted((src / "marketing" / "models" / "mkt002_bidding").glob("*.py"))])
    protocol.SealedLedger(protocol.ledger_path()).claim("bid-prior", f"mkt002-{version}", sealed,
                                                        command=shlex.join(command))
    days = get("MKT-002").policy_trainer.timesteps["quick"]
    report: dict[str, object] = {"sealed_seeds": sealed, "version": version, "chosen": chosen, "campaigns": CAMPAIGNS,
                                 "training_days": days, "training": [], "horizons": {}}
    cells: dict[int, list[list[dict]]] = {h: [] for h in HORIZONS}  # horizon -> run -> world -> metrics
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(protocol.MIN_TRAINING_RUNS):
            path = mkt002.train_and_save(days, run, Path(tmp) / str(run))
            report["training"].append(json.loads((path.parent / "training.json").read_text()))
            prior = load_value_model(path)
            for horizon in HORIZONS:
                cells[horizon].append([mkt002.judge_world(seed, CAMPAIGNS, horizon, prior) for seed in sealed])
                print(run, horizon, round(float(np.mean([c["share_of_oracle"] for c in cells[horizon][-1]])), 4),
                      flush=True)
    for horizon, runs in cells.items():
        ours = {m: protocol.interval([[c[m] for c in worlds] for worlds in runs]).to_dict() for m in METRICS}
        # the other bidders do not depend on the model: the same in every run
        others = {k: {m: protocol.interval([c[f"{k}_{m}"] for c in runs[0]]).to_dict() for m in METRICS} for k in OTHERS}
        mean_ours = {m: np.mean([[c[m] for c in worlds] for worlds in runs], axis=0) for m in METRICS}
        paired = {k: {m: protocol.interval(mean_ours[m] - np.array([c[f"{k}_{m}"] for c in runs[0]])).to_dict()
                      for m in METRICS} for k in OTHERS}
        auc = {name: protocol.interval([[c[name] for c in worlds] for worlds in runs]).to_dict()
               for name in ("cvr_auc", "campaign_rate_auc", "cvr_logloss", "campaign_rate_logloss")}
        report["horizons"][str(horizon)] = {"optimiser_prior": ours, **others, "prior_minus": paired,
                                            "conversion_model": auc, "per_run": runs}
    print(json.dumps({h: {k: round(v["share_of_oracle"]["mean"], 4) for k, v in r.items()
                          if isinstance(v, dict) and "share_of_oracle" in v} for h, r in report["horizons"].items()}))
    print(write_results("bid_prior.json", report, command))


if __name__ == "__main__":
    main()
