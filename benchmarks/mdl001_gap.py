"""Where MDL-001's gap to the oracle sits, measured on validation worlds: how far its placement head
(P(spam | accepted)) could move with more labels, with learning from opens or with knowing the
content's hidden traits, and what each subscriber's private standing with the filter is worth to
the oracle. Every world is simulated, its features built by Spark and its training set joined by
Feast as the training pipeline does; MDL-001 is fitted with its defaults (Optuna's first trial)
and scored on the last 7 days against every message's true class.

Rows (the fate head, P(accepted, soft bounce, hard bounce, block), is MDL-001's own in all of them
but `oracle_fates` and the oracles):
- `mdl001`: MDL-001 as it trains, its placement head learned from the panel's placements.
- `oracle_fates`: MDL-001's placement head with the oracle's fate head (what the fate head costs).
- `opens_stacked`: the same head with one more input, the logit of P(human open within a day |
  accepted) from gradient-boosted trees trained on every accepted message (opens are seen for all
  mail; spam-folder mail is rarely opened), opens counted only up to the end of the training window.
- `every_placement_linear` / `every_placement_trees`: the head learned from the true placement of
  every accepted training message (what no sender sees: an unlimited panel), as MDL-001's logistic
  regression and as gradient-boosted trees.
- `every_placement_and_content_traits`: the trees again with the content's hidden spamminess and
  quality as two more inputs (what a perfect reader of the content would know).
- `every_placement_content_and_engagement`: and the subscriber's hidden engagement on the day (what
  a perfect reading of each subscriber's history would know).
- `oracle_standing_blind`: the oracle without each subscriber's private standing with the filter.
- `oracle`: the records oracle the headline compares with.

Run: `.venv/bin/python benchmarks/mdl001_gap.py` (about 5 minutes per world on 2 cores; worlds kept
under `--work`, so a rerun only refits).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
from provenance import RESULTS, provenance

from adaptive_delivery.delivery.jobs.worlds import WorldSize, build_world
from adaptive_delivery.delivery.models.mdl001_deliverability import model as mdl
from adaptive_delivery.platform.protocol import interval, require_unsealed
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.evaluation import classification_report
from adaptive_delivery.platform.training.steps import (
    ORACLE_PREFIX,
    split_training_set,
    training_frame,
    truth_labels,
    truth_probabilities,
)
from adaptive_delivery.twin.simulator import STANDING_BLIND_PREFIX

OPEN_WITHIN = pd.Timedelta(hours=24)
ROWS = ("mdl001", "oracle_fates", "opens_stacked", "every_placement_linear", "every_placement_trees",
        "every_placement_and_content_traits", "every_placement_content_and_engagement", "oracle_standing_blind",
        "oracle")
# What the twin knows of a message and no sender does (truth columns), by row.
HIDDEN = {"every_placement_and_content_traits": ["content_spamminess", "content_quality"],
          "every_placement_content_and_engagement": ["content_spamminess", "content_quality", "subscriber_engagement"]}
METRICS = ("spam_given_accepted_auc", "macro_roc_auc", "roc_auc_inbox", "roc_auc_spam", "ece")
TREES = {"max_depth": 4, "learning_rate": 0.05, "n_estimators": 300, "min_child_weight": 50.0, "subsample": 0.9,
         "colsample_bytree": 0.7}


def world_frames(root: Path, seed: int, size: WorldSize) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The world's training and holdout frames, as the training pipeline's load step makes them."""
    spec = get("MDL-001")
    build_world(root, seed, size)
    labels = mdl.labels_from_lake(root / "lake")
    frame = training_frame(spec, labels, root / "features", root / "feast")
    return split_training_set(spec, frame)


def opened_within_a_day(lake: Path, frame: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """(human open within OPEN_WITHIN of sending, seen by `cutoff`; whether the day had passed by
    `cutoff`, so the row can count) per row of `frame`. Machine opens are not opens."""
    eng = ds.dataset(lake / "engagement", format="parquet", partitioning="hive").to_table(
        columns=["message_id", "event_ts", "event_type", "machine_open"]).to_pandas()
    human = eng[(eng["event_type"] == "open") & ~eng["machine_open"].fillna(False).astype(bool)]
    first = pd.to_datetime(frame["message_id"].map(human.groupby("message_id")["event_ts"].min()), utc=True)
    sent = pd.to_datetime(frame["event_timestamp"], utc=True)
    opened = first.notna() & (first <= sent + OPEN_WITHIN) & (first <= cutoff)
    return opened.to_numpy(), (sent + OPEN_WITHIN <= cutoff).to_numpy()


def _trees(x: np.ndarray, y: np.ndarray):
    import xgboost as xgb

    return xgb.XGBClassifier(objective="binary:logistic", tree_method="hist", n_jobs=2, random_state=0,
                             **TREES).fit(x, y)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _linear_head(model: mdl.DeliverabilityEnsemble, x_train: np.ndarray, y_spam: np.ndarray,
                 x_accepted: np.ndarray, prior: float):
    """MDL-001's placement regression on these inputs, shifted to average `prior` over the accepted."""
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=model.config.placement_c, max_iter=3_000).fit(x_train, y_spam)
    shift = mdl.level_shift(head.decision_function(x_accepted), prior)
    return lambda x: 1.0 / (1.0 + np.exp(-(head.decision_function(x) + shift)))


def score(name: str, y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The rows' metrics: P(spam | accepted)'s ROC-AUC on the truly accepted, and the holdout's."""
    from sklearn.metrics import roc_auc_score

    report = classification_report(y, proba, mdl.CLASSES)
    accepted = np.isin(y, (0, 1))
    spam = proba[accepted, 1] / np.maximum(proba[accepted, 0] + proba[accepted, 1], 1e-12)
    return {"row": name, "spam_given_accepted_auc": float(roc_auc_score(y[accepted] == 1, spam)),
            **{k: float(report[k]) for k in METRICS[1:]}}


def world_rows(root: Path, seed: int, size: WorldSize) -> list[dict]:
    """Every row of the table on one world."""
    train, hold = world_frames(root, seed, size)
    data = mdl.dataset_from_frame(train)
    test = mdl.dataset_from_frame(hold, data.categories)
    y_train = truth_labels(root / "truth", train["message_id"], mdl.CLASSES)
    y = truth_labels(root / "truth", hold["message_id"], mdl.CLASSES)
    model = mdl.DeliverabilityEnsemble(mdl.config_from_params(mdl.baseline_params())).fit(data.X, data.y)
    fate = model.predict_fates(test.X)

    def with_head(spam: np.ndarray) -> np.ndarray:
        return np.column_stack([fate[:, 0] * (1 - spam), fate[:, 0] * spam, fate[:, 1], fate[:, 2], fate[:, 3]])

    x_train, x_test = mdl.with_derived(data.X), mdl.with_derived(test.X)
    scaled_train, scaled_test = model._nn_inputs(x_train), model._nn_inputs(x_test)
    panel = np.isin(data.y, (0, 1))
    accepted = mdl.fates(data.y) == 0
    blind, oracle = truth_probabilities(root / "truth", hold["message_id"], mdl.CLASSES,
                                        (STANDING_BLIND_PREFIX, ORACLE_PREFIX))
    rows = [score("mdl001", y, model.predict_proba(test.X))]
    spam = model.predict_spam_given_accepted(test.X)
    accepted_oracle = oracle[:, 0] + oracle[:, 1]
    rows.append(score("oracle_fates", y, np.column_stack([accepted_oracle * (1 - spam), accepted_oracle * spam,
                                                          oracle[:, 2:]])))

    cutoff = pd.to_datetime(train["event_timestamp"], utc=True).max()
    opened, counts = opened_within_a_day(root / "lake", train, cutoff)
    opens = _trees(x_train.to_numpy(np.float32)[accepted & counts], opened[accepted & counts])
    z_train = _logit(opens.predict_proba(x_train.to_numpy(np.float32))[:, 1])
    z_test = _logit(opens.predict_proba(x_test.to_numpy(np.float32))[:, 1])
    mu, sd = z_train.mean(), z_train.std() + 1e-9
    stack_train = np.column_stack([scaled_train, (z_train - mu) / sd])
    stack_test = np.column_stack([scaled_test, (z_test - mu) / sd])
    head = _linear_head(model, stack_train[panel], (data.y[panel] == 1).astype(int), stack_train[accepted],
                        model.spam_prior)
    rows.append(score("opens_stacked", y, with_head(head(stack_test))))

    truly_accepted = np.isin(y_train, (0, 1))
    truly_spam = (y_train[truly_accepted] == 1).astype(int)
    head = _linear_head(model, scaled_train[truly_accepted], truly_spam, scaled_train[truly_accepted],
                        float(truly_spam.mean()))
    rows.append(score("every_placement_linear", y, with_head(head(scaled_test))))
    trees = _trees(x_train.to_numpy(np.float32)[truly_accepted], truly_spam)
    rows.append(score("every_placement_trees", y, with_head(trees.predict_proba(x_test.to_numpy(np.float32))[:, 1])))

    hidden = ds.dataset(root / "truth" / "messages", format="parquet", partitioning="hive").to_table(
        columns=["message_id", *HIDDEN["every_placement_content_and_engagement"]]).to_pandas().set_index("message_id")
    for name, columns in HIDDEN.items():
        def with_hidden(x: pd.DataFrame, frame: pd.DataFrame, columns: list[str] = columns) -> np.ndarray:
            known = hidden.loc[:, columns].reindex(frame["message_id"].to_numpy()).to_numpy(np.float32)
            return np.column_stack([x.to_numpy(np.float32), known])

        trees = _trees(with_hidden(x_train, train)[truly_accepted], truly_spam)
        rows.append(score(name, y, with_head(trees.predict_proba(with_hidden(x_test, hold))[:, 1])))

    rows += [score("oracle_standing_blind", y, blind), score("oracle", y, oracle)]
    return [{"seed": seed, "panel_rows": int(panel.sum()), "accepted_rows": int(truly_accepted.sum()), **r}
            for r in rows]


def summarise(per_world: pd.DataFrame) -> dict[str, dict[str, dict]]:
    """Each row's metrics, and its macro ROC-AUC gap to the oracle (world by world), as intervals."""
    oracle = per_world[per_world["row"] == "oracle"].set_index("seed")
    out: dict[str, dict[str, dict]] = {}
    for name in ROWS:
        mine = per_world[per_world["row"] == name].set_index("seed").loc[oracle.index]
        out[name] = {m: interval(mine[m].to_numpy()).to_dict() for m in METRICS}
        out[name]["gap_to_oracle"] = interval((oracle["macro_roc_auc"] - mine["macro_roc_auc"]).to_numpy()).to_dict()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1001-1005", help="validation worlds (a range or a list)")
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--work", type=Path, default=Path("runs") / "mdl001-gap", help="where the worlds are kept")
    args = parser.parse_args()
    if "-" in args.seeds:
        first, last = map(int, args.seeds.split("-"))
        seeds = list(range(first, last + 1))
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
    seeds = require_unsealed(seeds)
    size = WorldSize(subscribers=args.subscribers, days=args.days)
    rows: list[dict] = []
    for seed in seeds:
        started = time.perf_counter()
        rows += world_rows(args.work / f"world-{seed}", seed, size)
        mine = {r["row"]: r for r in rows if r["seed"] == seed}
        print(f"world {seed} ({time.perf_counter() - started:.0f} s): " + ", ".join(
            f"{k} {v['spam_given_accepted_auc']:.3f}/{v['macro_roc_auc']:.3f}" for k, v in mine.items()), flush=True)
    per_world = pd.DataFrame(rows)
    result = {"seeds": seeds, "world": {"subscribers": size.subscribers, "days": size.days,
                                        "holdout_days": get("MDL-001").holdout_days},
              "open_within_hours": OPEN_WITHIN.total_seconds() / 3600, "trees": TREES,
              "intervals": summarise(per_world), "per_world": per_world.to_dict("records"), "provenance": provenance()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mdl001_gap.json").write_text(json.dumps(result, indent=2, default=float))
    for name, cells in result["intervals"].items():
        print(f"{name:36s} P(spam|accepted) AUC {cells['spam_given_accepted_auc']['mean']:.3f}  "
              f"macro {cells['macro_roc_auc']['mean']:.3f}  gap {cells['gap_to_oracle']['mean']:.3f}  "
              f"ECE {cells['ece']['mean']:.3f}")


if __name__ == "__main__":
    main()
