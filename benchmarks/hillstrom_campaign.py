"""MKT-001 on the Hillstrom e-mail experiment: the campaign network against its baselines, as a
response model (visit and conversion: AUC, log loss, calibration) and as an uplift model (who
should get the women's e-mail: uplift among the 30% each model would target, and the Qini
coefficient, against the two-model logistic and the class-transformation gradient-boosting models).

Every figure is a mean with its 95% interval over seeded splits of the development file (train 56%,
validation 14% for early stopping, test 30% for the figure); differences are paired, split by
split. `--choose` first compares the network's designs on other splits (the choice splits) and
records the comparison; the design it picks (the highest mean women's Qini) is the default the
pipeline trains. All splits come from the same development file: the sealed third of the data
judges the model independently.

Run: `.venv/bin/python benchmarks/hillstrom_campaign.py --choose` (writes
benchmarks/results/hillstrom_campaign.json); about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import joblib
import numpy as np
from provenance import write_results

from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom, network, training
from adaptive_delivery.platform import protocol

HEADLINE_SPLITS = (0, 1, 2, 3, 4)
CHOICE_SPLITS = tuple(range(100, 108))
DESIGNS = {"interactions": {"design": "interactions", "members": 5},
           "heads": {"design": "heads", "members": 5, "weight_decay": 1e-3},
           "wide": {"design": "wide", "members": 5}}
MODELS = ("ours", "two_model_logistic", "class_transformation_gbm")
RESPONSE = ("", "logistic_", "gbm_")
CURVE_POINTS = 51  # the Qini curve kept at this many targeting depths per split


def _one(seed: int, epochs: int, settings: dict) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Train and judge one split; returns the registry metrics and the women's-e-mail Qini curves."""
    import torch

    torch.set_num_threads(1)
    from adaptive_delivery.marketing.uplift import qini_curve

    frame = hillstrom.read()
    with tempfile.TemporaryDirectory() as tmp:
        trained = training.train_and_save(epochs, seed, Path(tmp), frame=frame, **settings)
        metrics = training.evaluate_into(trained, Path(tmp) / "eval", frame=frame)
        saved = joblib.load(trained)
    test = hillstrom.split(frame, seed).test
    arm = hillstrom.arms_of(frame)[test]
    rows = np.isin(arm, (hillstrom.CONTROL, 2))
    x, visit = hillstrom.encode(frame)[test][rows], frame["visit"].to_numpy()[test][rows]
    treated = (arm[rows] == 2).astype(int)
    net = network.ArrayNet.from_state(saved["network"])
    curves = {}
    for model, score in training.uplift_scores(net, saved["uplift"]["womens"], x, 2).items():
        depth, gain = qini_curve(score, visit, treated)
        at = np.linspace(0, len(depth) - 1, CURVE_POINTS).round().astype(int)
        curves[model] = (gain[at] / treated.sum()).tolist()  # incremental visits per treated customer
    return metrics, curves


def _run(seeds: tuple[int, ...], epochs: int, settings: dict) -> list[tuple[dict, dict]]:
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(_one, seeds, [epochs] * len(seeds), [settings] * len(seeds)))


def _interval(values: list[float]) -> dict:
    return protocol.interval(values).to_dict()


def summarise(results: list[tuple[dict, dict]]) -> dict[str, object]:
    metrics = [m for m, _ in results]
    out: dict[str, dict] = {"response": {}, "uplift": {}, "paired": {}}
    for prefix in RESPONSE:
        name = prefix.rstrip("_") or "ours"
        out["response"][name] = {f"{o}_{k}": _interval([m[f"{prefix}{o}_{k}"] for m in metrics])
                                 for o in hillstrom.OUTCOMES for k in ("auc", "logloss", "ece")}
    for model in MODELS:
        prefix = "" if model == "ours" else f"{model}_"
        out["uplift"][model] = {f"{arm}_{k}": _interval([m[f"{prefix}{arm}_{k}"] for m in metrics])
                                for arm in training.UPLIFT_ARMS for k in ("uplift_at_30", "qini")}
    for baseline in MODELS[1:]:
        for k in ("uplift_at_30", "qini"):
            out["paired"][f"womens_{k}_minus_{baseline}"] = _interval(
                [m[f"womens_{k}"] - m[f"{baseline}_womens_{k}"] for m in metrics])
    for prefix in RESPONSE[1:]:
        for k in ("auc", "logloss"):
            out["paired"][f"visit_{k}_minus_{prefix.rstrip('_')}"] = _interval(
                [m[f"visit_{k}"] - m[f"{prefix}visit_{k}"] for m in metrics])
    out["average_uplift"] = {arm: _interval([m[f"{arm}_average_uplift"] for m in metrics]) for arm in training.UPLIFT_ARMS}
    curves = [c for _, c in results]
    out["qini_curves"] = {model: np.mean([c[model] for c in curves], axis=0).round(6).tolist() for model in MODELS}
    out["per_split"] = metrics
    return out


def choose(epochs: int) -> tuple[str, dict[str, object]]:
    """Each design on the choice splits; the one with the highest mean women's Qini wins."""
    report = {}
    for name, settings in DESIGNS.items():
        metrics = [m for m, _ in _run(CHOICE_SPLITS, epochs, settings)]
        report[name] = {k: _interval([m[k] for m in metrics]) for k in
                        ("womens_uplift_at_30", "womens_qini", "visit_auc", "visit_logloss")}
        print(f"{name}: women's Qini {report[name]['womens_qini']['mean']:.4f}", flush=True)
    best = max(report, key=lambda d: report[d]["womens_qini"]["mean"])
    return best, report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="the network's epoch cap (the quick profile's)")
    parser.add_argument("--choose", action="store_true", help="compare the designs on the choice splits first")
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    report: dict[str, object] = {"data": "Hillstrom development file (42,666 customers)", "epochs": args.epochs,
                                 "headline_splits": list(HEADLINE_SPLITS), "choice_splits": list(CHOICE_SPLITS),
                                 "shares": hillstrom.SHARES}
    default = network.NetConfig()
    if args.choose:
        best, report["choice"] = choose(args.epochs)
        report["chosen_design"] = best
        if best != default.design:
            print(f"the choice splits prefer {best!r}, not the default {default.design!r}: change NetConfig",
                  flush=True)
    report["network"] = {"design": default.design, "members": default.members, "hidden": list(default.hidden),
                         "dropout": default.dropout}
    report.update(summarise(_run(HEADLINE_SPLITS, args.epochs, {})))
    print(write_results("hillstrom_campaign.json", report, command))
    for model in MODELS:
        u = report["uplift"][model]
        print(f"{model}: women's uplift@30% {u['womens_uplift_at_30']['mean']:.4f}, Qini {u['womens_qini']['mean']:.4f}")


if __name__ == "__main__":
    main()
