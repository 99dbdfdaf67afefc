"""A learned policy's headline: package what `adaptive-delivery model evaluate MODEL --sealed` wrote
(every training run of one version and every rule on the sealed worlds, once) into
benchmarks/results/<model>_sealed.json: each policy's figures as mean and 95% interval over worlds
(and training runs), the targets against the best rule, each run's training record, the sealed
ledger's entry for the version, and provenance. It evaluates nothing itself, so packaging twice
cannot spend the sealed worlds twice.

Run: `.venv/bin/python benchmarks/policy_sealed.py MDL-003 --evaluation runs/mdl003/sealed-<version>
--policy runs/rl/mdl003-run0/mdl003_ppo.zip --policy ...` (the same policies, in the same order).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from provenance import provenance, training_records

from adaptive_delivery.platform import protocol

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SUMMARY = {"MDL-003": "throttle_targets.json", "MDL-009": "warmup_summary.json"}


def package(model_id: str, evaluation: Path, policies: list[Path]) -> dict:
    """The results record of one sealed evaluation; refuses one the ledger does not hold."""
    summary = json.loads((evaluation / SUMMARY[model_id]).read_text())
    version = protocol.artefact_version(policies)
    use = protocol.SealedLedger(protocol.ledger_path()).use_of(model_id, version)
    if use is None:
        raise SystemExit(f"{model_id} version {version} has no sealed use on record: run `model evaluate --sealed` first")
    if sorted(summary["seeds"]) != sorted(protocol.SEALED_SEEDS) or summary["training_runs"] != len(policies):
        raise SystemExit(f"{evaluation} is not the sealed evaluation of these {len(policies)} policies")
    training = training_records(policies)
    return {
        "model": model_id, "version": version, "sealed_use": use, "days": summary["days"],
        "seeds": summary["seeds"], "training_runs": len(policies), "training": training,
        "intervals": summary["intervals"], "targets": summary["targets"],
        "produced_by": {"commit": use["commit"], "commands": [use["command"]]}, "provenance": provenance(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=sorted(SUMMARY))
    parser.add_argument("--evaluation", type=Path, required=True, help="the folder `model evaluate --sealed` wrote")
    parser.add_argument("--policy", type=Path, action="append", required=True, help="each training run, in order")
    args = parser.parse_args()
    result = package(args.model, args.evaluation, args.policy)
    name = f"{args.model.lower().replace('-', '')}_sealed.json"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result["targets"], indent=2, default=float))


if __name__ == "__main__":
    main()
