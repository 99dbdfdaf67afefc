"""MDL-004 judged by the twin: does its P(block event) and P(listing) in the next 24 hours rank a
sender's IPs and domains better than the weighted heuristic operators run, how close does it come
to an oracle that reads the hidden reputation, does its health score follow that reputation, and
how many hours before a blocklist lists an IP does it raise the alarm?

- `--train DIR`: the full profile's model (12 training worlds x 28 days, as `model train MDL-004
  --profile full`).
- `--validation` (every choice, on the first five validation worlds): how many training worlds (6
  or 12) and which learners (each head's ensemble, or its logistic regression or LightGBM alone) —
  the best sum of the two ROC-AUCs; the heuristic's weights (a grid over bounce, complaint,
  engagement and block terms, the best mean ROC-AUC) and its alert threshold (at most 10% of quiet
  unit-hours alert, as MDL-004's). Writes benchmarks/results/mdl004_validation.json.
- `--sealed MODEL_FILE` (the headline, once per model version, recorded in the sealed ledger): the
  trained file and the validation-tuned heuristic on the first five sealed worlds. Writes
  benchmarks/results/mdl004_sealed.json.

Per world (28 days, six senders drawn from the seed, some importing a bought list part-way): the
ROC-AUC of each scorer for a new block event in the next 24 hours (over unit-hours with none in the
past 24) and for a new listing (over unit-hours not listed), Spearman's correlation of the health
score with the hidden reputation at each day's end, and the median hours of warning before a
listing. Means with 95% intervals over worlds.

Run: `.venv/bin/python benchmarks/mdl004_reputation.py --validation` (about 10 minutes), then
`--train runs/mdl004`, then `--sealed runs/mdl004/mdl004_reputation.json`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.delivery.models.mdl004_domain_reputation import model as rm
from adaptive_delivery.delivery.models.mdl004_domain_reputation import training as tr
from adaptive_delivery.platform import protocol

WORLDS = 5
TRAINING_DAYS = 28  # `model train MDL-004 --profile full`
WORLDS_GRID = (6, 12)  # training worlds
LEARNERS = ("both", "logistic", "lightgbm")
GRID_METRICS = ("block_event_auc_model", "listing_auc_model", "spearman_model", "warning_hours_model",
                "warning_hours_model_equal_alerts", "false_alert_share_model")


def interval(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if np.isfinite(v)]
    if len(finite) < 2:
        return {"mean": float(np.mean(finite)) if finite else float("nan"), "n": len(finite)}
    return protocol.interval(finite).to_dict()


def summary(cells: list[dict[str, float]]) -> dict:
    out = {name: interval([c[name] for c in cells]) for name in cells[0]}
    for event in ("block_event", "listing"):
        out[f"{event}_gain_over_heuristic"] = interval(
            [c[f"{event}_auc_model"] - c[f"{event}_auc_heuristic"] for c in cells])
    out["warning_gain_hours"] = interval([c["warning_hours_model"] - c["warning_hours_heuristic"] for c in cells])
    out["warning_gain_hours_equal_alerts"] = interval(
        [c["warning_hours_model_equal_alerts"] - c["warning_hours_heuristic_equal_alerts"] for c in cells])
    return out


def frames(seeds: list[int]) -> list[tuple]:
    out = []
    for seed in seeds:
        print(f"world {seed}", flush=True)
        out.append(tr.world_frames(seed))
    return out


def validation() -> dict:
    """The training worlds' number and the learners (each head's ensemble or one learner alone),
    then the heuristic's weights and alert threshold, all on the validation worlds."""
    seeds = list(protocol.VALIDATION_SEEDS[:WORLDS])
    rows = tr.training_rows(TRAINING_DAYS, 0, tr.WORLD_SUBSCRIBERS, max(WORLDS_GRID))
    worlds = frames(seeds)
    weights, mean_auc = tr.tune_heuristic([r for r, _ in worlds])
    pooled = np.concatenate([tr.heuristic_risk(r, weights) for r, _ in worlds])
    labels = np.concatenate([r["listing"].to_numpy() for r, _ in worlds])
    alert = tr.alert_threshold(pooled, labels)
    grid, cells_of = {}, {}
    for n in WORLDS_GRID:
        model = rm.fit(rows[rows["world"] < n], seed=0)
        for learners in LEARNERS:
            key = f"{n} worlds, {learners}"
            cells_of[key] = [tr.judge(model.with_learners(learners), r, h, weights, alert) for r, h in worlds]
            grid[key] = summary(cells_of[key])
            print(f"{key}: block {grid[key]['block_event_auc_model']['mean']:.3f}, "
                  f"listing {grid[key]['listing_auc_model']['mean']:.3f}", flush=True)
    best = max(grid, key=lambda k: grid[k]["block_event_auc_model"]["mean"] + grid[k]["listing_auc_model"]["mean"])
    in_use = f"{tr.TRAINING_WORLDS} worlds, both"
    return {"seeds": seeds, "training_days": TRAINING_DAYS, "subscribers": tr.WORLD_SUBSCRIBERS,
            "grid": {k: {m: g[m] for m in GRID_METRICS} for k, g in grid.items()},
            "chosen": {"model": best, "heuristic_weights": weights, "heuristic_alert": alert,
                       "heuristic_mean_auc": mean_auc},
            "in_use": {"model": in_use, "heuristic_weights": tr.HEURISTIC_WEIGHTS,
                       "heuristic_alert": tr.HEURISTIC_ALERT},
            "per_world": cells_of[in_use], "summary": grid[in_use]}


def sealed(model_file: Path) -> dict:
    model = rm.ReputationModel.load(model_file)
    version = protocol.artefact_version([model_file, Path(tr.__file__)])
    seeds = list(protocol.SEALED_SEEDS[:WORLDS])
    use = protocol.SealedLedger(protocol.ledger_path()).claim(
        "MDL-004", version, seeds, shlex.join(["benchmarks/mdl004_reputation.py", *sys.argv[1:]]))
    cells = [tr.judge(model, rows, hidden) for rows, hidden in frames(seeds)]
    return {"model": "MDL-004", "version": version, "sealed_use": use, "seeds": seeds, "training": model.meta,
            "alert": model.alert, "heuristic": {"weights": tr.HEURISTIC_WEIGHTS, "alert": tr.HEURISTIC_ALERT},
            "per_world": cells, "summary": summary(cells)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--train", type=Path, help="train the full profile's model into this folder")
    mode.add_argument("--validation", action="store_true", help="the choices: training worlds, learners, heuristic")
    mode.add_argument("--sealed", type=Path, help="the trained model file to judge on the sealed worlds")
    args = parser.parse_args()
    if args.train:
        args.train.mkdir(parents=True, exist_ok=True)
        print(tr.train_and_save(TRAINING_DAYS, 0, args.train))
    elif args.validation:
        write_results("mdl004_validation.json", validation())
    else:
        write_results("mdl004_sealed.json", sealed(args.sealed))


if __name__ == "__main__":
    main()
