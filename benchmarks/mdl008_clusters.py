"""MDL-008 judged by the twin: do its groups of recipient domains match the rules the providers
really follow (their hidden behaviour classes), better than the groupings an operator uses, and
does its change test flag a provider whose filter tightened, within a week, without flagging the
others?

- `--validation` (every choice): the number of clusters k (the highest mean ARI) and the change
  test's window (the most changes flagged within a week less the share of others flagged), on the
  first five validation worlds; the model is trained once (6 training worlds x 21 days, as `model
  train MDL-008 --profile quick`) and each k / window refitted from the same training logs. Writes
  benchmarks/results/mdl008_validation.json.
- `--sealed MODEL_FILE` (the headline, once per model version, recorded in the sealed ledger): the
  trained file on the first five sealed worlds. Writes benchmarks/results/mdl008_sealed.json.

Per world: the adjusted Rand index (ARI) of the domains' groups over the world's first 14 days
against the hidden classes, beside the MTA's MX groups (KumoMTA's provider blocks: Yahoo and AOL
share Yahoo's MX) and the public catalogue's categories; then, for each of four providers in turn,
the world again with that provider's filter tightening on day 14 (the twin's change-provider
scenario: inbox logit -1.5 on all bulk mail), the days until it is flagged and the share of the
other seven flagged in the same week. Means with 95% intervals over worlds.

Run: `.venv/bin/python benchmarks/mdl008_clusters.py --validation` (about 5 minutes), then
`.venv/bin/python benchmarks/mdl008_clusters.py --train runs/mdl008` and
`.venv/bin/python benchmarks/mdl008_clusters.py --sealed runs/mdl008/mdl008_clusters.json`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import write_results

from adaptive_delivery.delivery.models.mdl008_isp_behaviour import model as mm
from adaptive_delivery.delivery.models.mdl008_isp_behaviour import training as tr
from adaptive_delivery.platform import protocol

WORLDS = 5
TRAINING_DAYS = 21  # `model train MDL-008 --profile quick`
K_GRID = (3, 4, 5, 6, 7, 8)
WINDOW_GRID = (2, 3, 4)
CHANGED = ("gmail", "yahoo", "outlook", "apple")
SHIFT = tr.CHANGE["inbox_shift"]


def interval(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if np.isfinite(v)]
    if len(finite) < 2:
        return {"mean": float(np.mean(finite)) if finite else float("nan"), "n": len(finite)}
    return protocol.interval(finite).to_dict()


def grouping_scores(model: mm.ClusterModel, domain_logs: dict[int, object]) -> dict[str, list[float]]:
    """Per world: ARI of the model's groups and of each rule against the hidden classes."""
    from sklearn.metrics import adjusted_rand_score

    out: dict[str, list[float]] = {"ari": [], **{f"ari_rule_{r}": [] for r in tr.RULES}}
    for log in domain_logs.values():
        domains = log.profiles(0, tr.REFERENCE_DAYS)
        truth = tr.hidden_classes(list(domains.index))
        out["ari"].append(adjusted_rand_score(truth, model.assign(domains)["cluster"]))
        for rule in tr.RULES:
            out[f"ari_rule_{rule}"].append(adjusted_rand_score(truth, tr.rule_groups(list(domains.index), rule)))
    return out


def change_scores(model: mm.ClusterModel, change_logs: dict[tuple[int, str], object]) -> dict[str, dict]:
    """Per changed provider: over worlds, whether it was flagged within the week, the days it took,
    and the share of the other providers flagged."""
    rows = []
    for (seed, provider), log in change_logs.items():
        flags = mm.change_flags(model, log, tr.REFERENCE_DAYS).set_index("unit")["days_after"]
        days = float(flags.get(provider, np.nan))
        rows.append({"seed": seed, "provider": provider, "flagged": float(np.isfinite(days)), "days_to_flag": days,
                     "false_flag_share": float(flags.drop(provider, errors="ignore").notna().mean())})
    frame = pd.DataFrame(rows)
    out = {}
    for provider, part in [*frame.groupby("provider"), ("all", frame)]:
        out[provider] = {"flagged_within_week": float(part["flagged"].mean()), "worlds": len(part),
                         "days_to_flag": interval(part["days_to_flag"].tolist()),
                         "false_flag_share": interval(part["false_flag_share"].tolist()),
                         "per_world_days": [None if not np.isfinite(d) else d for d in part["days_to_flag"]]}
    return out


def world_logs(seeds: list[int]) -> tuple[dict, dict]:
    domains = {s: tr.world_logs(s, tr.REFERENCE_DAYS, "domain")["domain"] for s in seeds}
    changes = {}
    for s in seeds:
        for provider in CHANGED:
            print(f"world {s}: {provider}'s filter tightens on day {tr.REFERENCE_DAYS}", flush=True)
            changes[(s, provider)] = tr.world_logs(s, tr.REFERENCE_DAYS + tr.AFTER_DAYS, "provider",
                                                   change_day=tr.REFERENCE_DAYS, change_provider=provider,
                                                   inbox_shift=SHIFT)["provider"]
    return domains, changes


def validation() -> dict:
    seeds = list(protocol.VALIDATION_SEEDS[:WORLDS])
    logs = tr.training_logs(tr.training_seeds(0), TRAINING_DAYS, tr.WORLD_SUBSCRIBERS)
    domains, changes = world_logs(seeds)
    by_k = {}
    for k in K_GRID:
        model = mm.fit_clusters(logs.whole, logs.weekly, k, seed=0)
        scores = grouping_scores(model, domains)
        by_k[str(k)] = {name: interval(v) for name, v in scores.items()}
        by_k[str(k)]["silhouette_training"] = silhouette(model, logs.whole)
        print(f"k={k}: ARI {by_k[str(k)]['ari']['mean']:.3f}", flush=True)
    by_window = {}
    saved = tr.WINDOW_DAYS
    try:
        for window in WINDOW_GRID:
            tr.WINDOW_DAYS = window
            model = tr.fit_from_logs(logs, seed=0)
            by_window[str(window)] = {"threshold": model.change_threshold, **change_scores(model, changes)}
            print(f"window {window} days: flagged {by_window[str(window)]['all']['flagged_within_week']:.0%}", flush=True)
    finally:
        tr.WINDOW_DAYS = saved
    best_k = max(by_k, key=lambda k: by_k[k]["ari"]["mean"])
    best_window = max(by_window, key=lambda w: by_window[w]["all"]["flagged_within_week"]
                      - by_window[w]["all"]["false_flag_share"]["mean"])
    return {"seeds": seeds, "training_worlds": tr.training_seeds(0), "training_days": TRAINING_DAYS,
            "subscribers": tr.WORLD_SUBSCRIBERS, "k_grid": by_k, "window_grid": by_window,
            "chosen": {"k": int(best_k), "window_days": int(best_window)},
            "in_use": {"k": tr.N_CLUSTERS, "window_days": tr.WINDOW_DAYS}}


def silhouette(model: mm.ClusterModel, profiles: pd.DataFrame) -> float:
    """The label-free choice of k, reported beside the one made against the hidden classes."""
    from sklearn.metrics import silhouette_score

    z = model.embed(profiles)
    return float(silhouette_score(z, model.assign(profiles)["cluster"]))


def sealed(model_file: Path) -> dict:
    model = mm.ClusterModel.load(model_file)
    version = protocol.artefact_version([model_file])
    seeds = list(protocol.SEALED_SEEDS[:WORLDS])
    use = protocol.SealedLedger(protocol.ledger_path()).claim(
        "MDL-008", version, seeds, shlex.join(["benchmarks/mdl008_clusters.py", *sys.argv[1:]]))
    domains, changes = world_logs(seeds)
    scores = grouping_scores(model, domains)
    grouping = {name: interval(v) for name, v in scores.items()}
    best_rule = max(tr.RULES, key=lambda r: np.mean(scores[f"ari_rule_{r}"]))
    gain = [a - b for a, b in zip(scores["ari"], scores[f"ari_rule_{best_rule}"], strict=True)]
    return {"model": "MDL-008", "version": version, "sealed_use": use, "seeds": seeds, "clusters": model.names,
            "window_days": model.window_days, "change_threshold": model.change_threshold, "training": model.meta,
            "grouping": grouping, "best_rule": best_rule, "gain_over_best_rule": interval(gain),
            "change": change_scores(model, changes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--validation", action="store_true")
    mode.add_argument("--train", type=Path, help="train the quick profile's model into this folder")
    mode.add_argument("--sealed", type=Path, help="the trained model file to judge on the sealed worlds")
    args = parser.parse_args()
    if args.train:
        print(tr.train_and_save(TRAINING_DAYS, 0, args.train))
        return
    if args.validation:
        write_results("mdl008_validation.json", validation())
    else:
        write_results("mdl008_sealed.json", sealed(args.sealed))


if __name__ == "__main__":
    main()
