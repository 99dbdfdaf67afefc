"""MDL-007's P(spam) as a feature of MDL-001, on validation worlds where every sender runs the
pre-send check (the twin's content gate at the bar chosen in content_gate_validation.json), so each
content record carries the score of what went out.

Per world: MDL-001 (baseline parameters, the training profile given) is trained on the first days
and scored on the last 7 twice (every message, and a campaign's first messages at each provider), with `content_spam_risk` as recorded and with it blanked to −1 (what
a sender without the check records), the same rows and parameters otherwise; both are scored
against the referee's true classes (macro and spam ROC AUC, log loss, ECE) beside the records
oracle. Validation seeds only: this is a choice (keep the feature or not), not a headline.

Run: `.venv/bin/python benchmarks/content_feature.py [--scorer FILE] [--worlds 3] [--subscribers 20000]
[--days 14] [--profile quick]` (writes benchmarks/results/content_feature.json).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from content_gate import scorer_file
from provenance import write_results

from adaptive_delivery.delivery.features.definitions import UNSCORED
from adaptive_delivery.delivery.jobs.worlds import WorldSize, build_world
from adaptive_delivery.delivery.models.mdl007_content.model import load_scorer
from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
from adaptive_delivery.delivery.models.mdl007_content.twin_gate import content_gate
from adaptive_delivery.platform import protocol
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import get, profile
from adaptive_delivery.platform.training.evaluation import classification_report
from adaptive_delivery.platform.training.steps import (
    oracle_probabilities,
    split_training_set,
    training_frame,
    truth_labels,
)
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

FEATURE = "content_features__content_spam_risk"
SO_FAR = "content_provider_features__outcomes_so_far"
# A campaign's first messages at a provider: before its own answers say how it lands there, the
# pre-send score is all MDL-001 knows of the content beyond the text counts.
FIRST_MESSAGES = 50
HOLD_AT = 0.95  # the twin gate's bar (content_gate_validation.json)
METRICS = ("macro_roc_auc", "roc_auc_spam", "roc_auc_block", "log_loss", "ece")
RUNS = Path("runs") / "content_feature"


def gated_world(root: Path, seed: int, args: argparse.Namespace, assessor: ContentAssessor) -> dict[str, float]:
    """A world whose senders run the content check, simulated and featurised once into ROOT."""
    timings: dict[str, float] = {}
    if not (root / "lake").exists():
        config = WorldConfig(subscribers=args.subscribers, days=args.days, seed=seed)
        started = time.perf_counter()
        simulate(config, root, progress=False, content_gate=content_gate(assessor, config, HOLD_AT))
        timings["simulate_s"] = time.perf_counter() - started
    return {**timings, **build_world(root, seed, WorldSize(subscribers=args.subscribers, days=args.days))}


def score_arms(root: Path, training_profile: str) -> dict:
    """MDL-001 with the recorded score and with it blanked, on the same split; the oracle beside."""
    spec = get("MDL-001")
    frame = training_frame(spec, spec.labels(root / "lake"), root / "features", root / "feast")
    train, holdout = split_training_set(spec, frame)
    y = truth_labels(root / "truth", holdout["message_id"], spec.classes)
    first = (holdout[SO_FAR].fillna(0) < FIRST_MESSAGES).to_numpy()
    oracle = oracle_probabilities(root / "truth", holdout["message_id"], spec.classes)
    out: dict = {"rows_train": len(train), "rows_holdout": len(holdout), "rows_first_messages": int(first.sum()),
                 "scored_share_train": float((train[FEATURE] >= 0).mean()),
                 "oracle": classification_report(y, oracle, spec.classes),
                 "oracle_first": classification_report(y[first], oracle[first], spec.classes)}
    for arm in ("with_score", "blanked"):
        tr, ho = train.copy(), holdout.copy()
        if arm == "blanked":
            tr[FEATURE], ho[FEATURE] = UNSCORED, UNSCORED
        started = time.perf_counter()
        data = spec.to_dataset(tr)
        model = spec.fit(data, spec.baseline_params(), profile(training_profile))
        bundle = TrainedModel(model_id=spec.model_id, classes=spec.classes, features=list(data.X.columns),
                              categorical=list(data.categories), categories=data.categories, model=model)
        proba = bundle.predict_proba(ho)
        out[arm] = classification_report(y, proba, spec.classes)
        out[f"{arm}_first"] = classification_report(y[first], proba[first], spec.classes)
        out[arm]["fit_s"] = time.perf_counter() - started
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scorer", type=Path, help="a scorer the pipeline exported (default: train one)")
    parser.add_argument("--budget", type=int, default=400, help="pre-training steps when training here")
    parser.add_argument("--worlds", type=int, default=5)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()
    path = scorer_file(args)
    assessor = ContentAssessor(load_scorer(path))
    seeds = list(protocol.VALIDATION_SEEDS[: args.worlds])
    rows = []
    for seed in seeds:
        root = RUNS / f"world-{seed}-{args.subscribers}x{args.days}"
        timings = gated_world(root, seed, args, assessor)
        row = {"seed": seed, **score_arms(root, args.profile), "timings_s": timings}
        rows.append(row)
        print(f"world {seed}: macro AUC {row['with_score']['macro_roc_auc']:.4f} with the score, "
              f"{row['blanked']['macro_roc_auc']:.4f} blanked (oracle {row['oracle']['macro_roc_auc']:.4f}); "
              f"spam AUC {row['with_score']['roc_auc_spam']:.4f} vs {row['blanked']['roc_auc_spam']:.4f}", flush=True)
    summary = {subset: {m: {"with_score": protocol.interval([r[f"with_score{subset}"][m] for r in rows]).to_dict(),
                            "blanked": protocol.interval([r[f"blanked{subset}"][m] for r in rows]).to_dict(),
                            "oracle": protocol.interval([r[f"oracle{subset}"][m] for r in rows]).to_dict(),
                            "with_minus_blanked": protocol.interval([r[f"with_score{subset}"][m] - r[f"blanked{subset}"][m]
                                                                     for r in rows]).to_dict()}
                        for m in METRICS}
               for subset in ("", "_first")}
    summary["all"] = summary.pop("")
    summary["first_messages"] = summary.pop("_first")
    report = {"scorer_version": protocol.artefact_version([path]),
              "scorer_members": "+".join(assessor.scorer.stacked.members),
              "hold_at": HOLD_AT, "subscribers": args.subscribers, "days": args.days, "profile": args.profile,
              "first_messages": FIRST_MESSAGES, "seeds": seeds, "split": "validation", "summary": summary,
              "per_world": rows}
    print(write_results("content_feature.json", report))
    for subset in ("all", "first_messages"):
        for m in METRICS:
            d = summary[subset][m]["with_minus_blanked"]
            print(f"{subset}: with - blanked {m}: {d['mean']:+.5f} [{d['low']:+.5f}, {d['high']:+.5f}]")


if __name__ == "__main__":
    main()
