"""Where MDL-005's gap to the oracle sits: the best P(open) any sender could compute from a person's
own history, beside the model, the best rule and the oracle, on the worlds an evaluation trained on.

The records oracle knows each person's engagement propensity (a hidden trait). A sender learns it
only from the messages it sent that person and whether they were opened. The history-bound
ceiling is the Bayes-optimal prediction from exactly that, given everything else the twin knows:
the world's law of opening, each message's offsets (content quality, the person's habit at the
delivery hour, the odds of the inbox against the spam folder), and the population's spread of
propensities as the prior. A message's history is the person's earlier messages whose attribution
window had closed before it was sent (72 hours). Propensities drift a little day by day in the
twin; the ceiling holds each person's fixed, which errs low by a little.

Run: `.venv/bin/python benchmarks/mdl005_ceiling.py --evaluation runs/mdl005/sealed-<version>` (or a
validation folder) -> benchmarks/results/mdl005_ceiling.json (mdl005_ceiling_validation.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import RESULTS, provenance
from sklearn.metrics import roc_auc_score

from adaptive_delivery.delivery.jobs import worlds
from adaptive_delivery.delivery.models.mdl005_engagement import model as mdl
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.training.truth import truth_columns

GRID = np.linspace(-7.0, 4.0, 111)  # engagement logits the posterior is held on
ROWS = ("model", "best_rule", "ceiling", "oracle")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def history_ceiling(frame: pd.DataFrame, lag_hours: float = 72.0) -> np.ndarray:
    """P(open) of each holdout row (`hold`) from the person's matured history (rows of `frame` in
    time order with label, subscriber_id, event_timestamp, subscriber_engagement, p_open_inbox,
    seen_p_open_if_accepted); NaN for training rows."""
    propensity = _logit(frame["subscriber_engagement"])
    offset = _logit(frame["p_open_inbox"]) - propensity
    reach = (frame["seen_p_open_if_accepted"] / frame["p_open_inbox"].clip(lower=1e-9)).to_numpy()
    opened = (frame["label"] >= mdl.OPENED).to_numpy()
    first = frame[~frame["hold"]].groupby("subscriber_id").head(1)
    edges = np.append(GRID - 0.05, GRID[-1] + 0.05)
    prior = np.histogram(_logit(first["subscriber_engagement"]), bins=edges)[0] + 0.5
    log_prior = np.log(prior / prior.sum())
    p = reach[:, None] * _sigmoid(GRID[None, :] + offset[:, None])
    loglik = np.where(opened[:, None], np.log(np.clip(p, 1e-12, 1)), np.log(np.clip(1 - p, 1e-12, 1)))
    stamps = pd.to_datetime(frame["event_timestamp"], utc=True).dt.tz_convert(None)
    ts = stamps.to_numpy().astype("datetime64[s]").astype(np.int64)  # seconds, whatever the stored unit
    hold = frame["hold"].to_numpy()
    out = np.full(len(frame), np.nan)
    for rows in frame.groupby("subscriber_id").indices.values():
        targets = rows[hold[rows]]
        if targets.size == 0:
            continue
        seen = np.vstack([np.zeros(GRID.size), np.cumsum(loglik[rows], axis=0)])
        matured = np.searchsorted(ts[rows], ts[targets] - lag_hours * 3600, side="left")
        post = log_prior[None, :] + seen[matured]
        post = np.exp(post - post.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        out[targets] = reach[targets] * (post * _sigmoid(GRID[None, :] + offset[targets, None])).sum(axis=1)
    return out


def score_world(world: Path) -> dict[str, float]:
    """Open ROC-AUC of the model the world's pipeline trained, the best rule, the ceiling and the oracle."""
    [run] = sorted((world / "kfp").glob("train-mdl-005-*"))[-1:]
    load = run / "load-training-set"
    holdout = pd.read_parquet(load / "holdout")
    train = pd.read_parquet(load / "train", columns=["message_id", "label", "subscriber_id", "event_timestamp"])
    bundle = TrainedModel.load(run / "train-model" / "model")
    p_model, _ = mdl.open_and_click(bundle.predict_proba(holdout))
    p_rule, _ = mdl.open_and_click(mdl.historical_rates(holdout))
    keys = ["message_id", "label", "subscriber_id", "event_timestamp"]
    both = pd.concat([train.assign(hold=False), holdout[keys].assign(hold=True)]).reset_index(drop=True)
    truth = truth_columns(world / "truth", both["message_id"],
                          ["subscriber_engagement", "p_open_inbox", "seen_p_open_if_accepted"])
    frame = (pd.concat([both, truth.drop(columns="message_id")], axis=1)
             .sort_values("event_timestamp", kind="stable").reset_index(drop=True))
    ceiling = pd.Series(history_ceiling(frame), index=frame["message_id"])
    held = holdout["message_id"]
    y = (holdout["label"] >= mdl.OPENED).to_numpy()
    oracle = frame.set_index("message_id")["seen_p_open_if_accepted"].reindex(held).to_numpy()
    return {"model": roc_auc_score(y, p_model), "best_rule": roc_auc_score(y, p_rule),
            "ceiling": roc_auc_score(y, ceiling.reindex(held).to_numpy()), "oracle": roc_auc_score(y, oracle),
            "rows_holdout": float(len(holdout)), "open_rate": float(y.mean())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluation", type=Path, required=True,
                        help="a folder `model evaluate MDL-005` wrote (world-<seed>/ inside)")
    args = parser.parse_args()
    summary = json.loads((args.evaluation / worlds.SUMMARY_FILE).read_text())
    per_world = []
    for seed in summary["seeds"]:
        row = {"seed": seed, **score_world(args.evaluation / f"world-{seed}")}
        per_world.append(row)
        print(json.dumps(row, default=float))
    frame = pd.DataFrame(per_world)
    intervals = {k: interval(frame[k].to_numpy()).to_dict() for k in ROWS}
    intervals["ceiling_minus_model"] = interval((frame["ceiling"] - frame["model"]).to_numpy()).to_dict()
    intervals["oracle_minus_ceiling"] = interval((frame["oracle"] - frame["ceiling"]).to_numpy()).to_dict()
    sealed = args.evaluation.name.startswith("sealed-")
    result = {"evaluation": args.evaluation.name, "worlds": "sealed" if sealed else "validation",
              "profile": summary["profile"], "world": summary["world"], "seeds": summary["seeds"],
              "metric": "open_roc_auc", "intervals": intervals, "per_world": per_world, "provenance": provenance()}
    RESULTS.mkdir(exist_ok=True)
    name = "mdl005_ceiling.json" if sealed else "mdl005_ceiling_validation.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: round(v["mean"], 4) for k, v in intervals.items()}))


if __name__ == "__main__":
    main()
