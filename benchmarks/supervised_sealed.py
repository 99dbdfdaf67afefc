"""A supervised model's headline: package what `adaptive-delivery model evaluate MODEL --sealed` wrote
(the model's recipe trained and scored on each sealed world, once) into
benchmarks/results/<model>_sealed.json: every metric of the model and the oracle, and the gap
between them world by world, as mean and 95% interval; the spec's targets; each world's row; the
sealed ledger's entry for the version; provenance. It evaluates nothing itself, so packaging twice
cannot spend the sealed worlds twice, and it refuses a folder whose version the code no longer is.

Run: `.venv/bin/python benchmarks/supervised_sealed.py MDL-001 --evaluation runs/mdl001/sealed-<version>`.
With `--validation`, a folder of validation worlds (what `model evaluate MODEL --out DIR` wrote) is
packaged the same way into benchmarks/results/<model>_validation.json: no ledger to check, and no
version (a validation folder does not record the recipe it trained; `--evaluated-at` names the
commit that evaluated it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from provenance import RESULTS, provenance

from adaptive_delivery.delivery.jobs import worlds
from adaptive_delivery.platform import protocol
from adaptive_delivery.platform.spec import get

WORLD_COLUMNS = ("seed", "rows_holdout", "simulate_s", "features_s", "pipeline_s")


def package(model_id: str, evaluation: Path) -> dict:
    """The results record of one sealed evaluation; refuses one the ledger does not hold."""
    spec = get(model_id)
    summary = json.loads((evaluation / worlds.SUMMARY_FILE).read_text())
    size = worlds.WorldSize(subscribers=summary["world"]["subscribers"], days=summary["world"]["days"])
    version = evaluation.name.removeprefix("sealed-")
    if worlds.recipe_version(spec, summary["profile"], size) != version:
        raise SystemExit(f"{evaluation} holds version {version}, but the recipe here is another: package it "
                         "at the commit that evaluated it")
    use = protocol.SealedLedger(protocol.ledger_path()).use_of(model_id, version)
    if use is None:
        raise SystemExit(f"{model_id} version {version} has no sealed use on record: run `model evaluate --sealed` first")
    if sorted(summary["seeds"]) != sorted(use["seeds"]):
        raise SystemExit(f"{evaluation} did not score every sealed world its claim names: {use['seeds']}")
    rows = pd.read_csv(evaluation / worlds.RESULTS_FILE)
    keep = [c for c in rows.columns
            if c in WORLD_COLUMNS or c.removeprefix("oracle_").removeprefix("baseline_") in spec.metrics]
    return {
        "model": model_id, "version": version, "sealed_use": use, "profile": summary["profile"],
        "world": summary["world"], "seeds": summary["seeds"], "intervals": summary["intervals"],
        "targets": summary["targets"], "per_world": rows[keep].to_dict("records"),
        "produced_by": {"commit": use["commit"], "commands": [use["command"]]}, "provenance": provenance(),
    }


def package_validation(model_id: str, evaluation: Path, command: str, commit: str | None = None) -> dict:
    """The results record of an evaluation on validation worlds (where choices are made)."""
    spec = get(model_id)
    summary = json.loads((evaluation / worlds.SUMMARY_FILE).read_text())
    if any(protocol.split_of(s) == "sealed" for s in summary["seeds"]):
        raise SystemExit(f"{evaluation} holds sealed worlds: package it without --validation")
    rows = pd.read_csv(evaluation / worlds.RESULTS_FILE)
    keep = [c for c in rows.columns
            if c in WORLD_COLUMNS or c.removeprefix("oracle_").removeprefix("baseline_") in spec.metrics]
    return {
        "model": model_id, "version": None, "sealed_use": None,
        "profile": summary["profile"], "world": summary["world"], "seeds": summary["seeds"],
        "intervals": summary["intervals"], "targets": summary["targets"], "per_world": rows[keep].to_dict("records"),
        "produced_by": {"commit": commit, "commands": [command]}, "provenance": provenance(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", help="a supervised model id, e.g. MDL-001")
    parser.add_argument("--evaluation", type=Path, required=True, help="the folder `model evaluate --sealed` wrote")
    parser.add_argument("--validation", action="store_true", help="a folder of validation worlds instead")
    parser.add_argument("--evaluated-at", help="with --validation: the commit that evaluated the folder")
    args = parser.parse_args()
    stem = args.model.lower().replace("-", "")
    if args.validation:
        summary = json.loads((args.evaluation / worlds.SUMMARY_FILE).read_text())
        seeds = ",".join(map(str, summary["seeds"]))
        command = f"adaptive-delivery model evaluate {args.model} --seeds {seeds} --out DIR"
        result = package_validation(args.model, args.evaluation, command, args.evaluated_at)
        name = f"{stem}_validation.json"
    else:
        result, name = package(args.model, args.evaluation), f"{stem}_sealed.json"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result["targets"], indent=2, default=float))


if __name__ == "__main__":
    main()
