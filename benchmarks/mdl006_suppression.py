"""MDL-006 (not built yet): what suppressing subscribers can do to the complaint rate, and at what
cost in opens, before a model exists. On each world an MDL-005 evaluation left, the held-out days'
accepted messages are valued by the twin's law: each message's expected complaints (the law of
`twin.dynamics.complaint_probability`, weighed by the records oracle's odds of inbox against spam
folder) and expected human opens. Subscribers are then suppressed for those days, riskiest first,
by three orderings:

- the sunset rule: the longest without a human open first (what senders run);
- the oracle: first whoever draws the most complaints per message above the target for each open
  lost (it knows who is a habitual complainer, a hidden trait, and each person's propensity);
- the oracle blind to the complainer trait: the same ratio with every person treated as typical
  (what the best sender-side model could approach if habitual complainers leave no trace before
  their first complaint, which in the twin ends their subscription).

For each: the complaint rate per message left, and the share of opens lost, to reach spec §11's
complaint rate (< 0.02%).

Run: `.venv/bin/python benchmarks/mdl006_suppression.py --evaluation DIR` (validation worlds of
`adaptive-delivery model evaluate MDL-005 --out DIR`) -> benchmarks/results/mdl006_suppression.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from provenance import RESULTS, provenance

from adaptive_delivery.delivery.jobs import worlds
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.training.truth import truth_columns
from adaptive_delivery.twin import dynamics

TARGET_COMPLAINT_RATE = 0.0002  # spec §11: < 0.02%
ORDERINGS = ("sunset", "oracle", "oracle_blind_to_complainers")


def expected_outcomes(world: Path) -> pd.DataFrame:
    """Per held-out accepted message: subscriber, days since their last open (as the sender had
    it), expected complaints with and without the complainer trait known, expected opens."""
    [run] = sorted((world / "kfp").glob("train-mdl-005-*"))[-1:]
    holdout = pd.read_parquet(run / "load-training-set" / "holdout",
                              columns=["message_id", "subscriber_id", "subscriber_features__days_since_last_open"])
    truth = truth_columns(world / "truth", holdout["message_id"],
                          ["subscriber_engagement", "content_spamminess", "seen_p_inbox", "seen_p_spam",
                           "seen_p_open_if_accepted", "spam_trap"])
    frame = pd.concat([holdout, truth.drop(columns="message_id")], axis=1)
    people = pq.read_table(world / "truth" / "subscribers.parquet", columns=["subscriber_id", "complainer"]).to_pandas()
    frame = frame.merge(people, on="subscriber_id")
    placed = (frame["seen_p_inbox"] + frame["seen_p_spam"]).to_numpy(dtype=float)
    inbox = np.divide(frame["seen_p_inbox"].to_numpy(dtype=float), placed, out=np.ones_like(placed), where=placed > 0)
    engagement, spam = frame["subscriber_engagement"].to_numpy(dtype=float), frame["content_spamminess"].to_numpy(dtype=float)
    alive = ~frame["spam_trap"].to_numpy(dtype=bool)

    def complaints(complainer: np.ndarray) -> np.ndarray:
        in_inbox = dynamics.complaint_probability(engagement, complainer, spam, np.ones(len(frame), bool))
        in_spam = dynamics.complaint_probability(engagement, complainer, spam, np.zeros(len(frame), bool))
        return alive * (inbox * in_inbox + (1 - inbox) * in_spam)

    known = frame["complainer"].to_numpy(dtype=bool)
    share = known.mean()  # the blind oracle's typical person: the population's share of complainers
    typical = share * complaints(np.ones(len(frame), bool)) + (1 - share) * complaints(np.zeros(len(frame), bool))
    return pd.DataFrame({"subscriber_id": frame["subscriber_id"],
                         "days_since_open": frame["subscriber_features__days_since_last_open"].fillna(999.0),
                         "complaints": complaints(known), "complaints_typical": typical,
                         "opens": frame["seen_p_open_if_accepted"].to_numpy(dtype=float)})


def frontier(people: pd.DataFrame, risk: np.ndarray) -> pd.DataFrame:
    """Suppressing the riskiest first, person by person: complaint rate left and opens lost."""
    order = np.argsort(-risk, kind="stable")
    p = people.iloc[order]
    total_c, total_m, total_o = people["complaints"].sum(), people["messages"].sum(), people["opens"].sum()
    c, m, o = p["complaints"].cumsum().to_numpy(), p["messages"].cumsum().to_numpy(), p["opens"].cumsum().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (total_c - c) / (total_m - m)
    return pd.DataFrame({"rate": np.r_[total_c / total_m, rate], "opens_lost": np.r_[0.0, o / total_o]})


def excess_per_open(people: pd.DataFrame, complaints: str) -> np.ndarray:
    """The oracles' order: a person's complaints per message above the target, per open lost by not
    mailing them (who pushes the rate over the target most for the least engagement)."""
    per_message = people[complaints].to_numpy() / people["messages"].to_numpy()
    opens = people["opens"].to_numpy() / people["messages"].to_numpy()
    return (per_message - TARGET_COMPLAINT_RATE) / (opens + 1e-9)


def score_world(world: Path) -> dict[str, float]:
    messages = expected_outcomes(world)
    people = messages.groupby("subscriber_id").agg(
        complaints=("complaints", "sum"), complaints_typical=("complaints_typical", "sum"), opens=("opens", "sum"),
        messages=("opens", "size"), days_since_open=("days_since_open", "first")).reset_index()
    risks = {"sunset": people["days_since_open"].to_numpy() + 1e-6 * people["complaints_typical"].to_numpy(),
             "oracle": excess_per_open(people, "complaints"),
             "oracle_blind_to_complainers": excess_per_open(people, "complaints_typical")}
    out = {"messages": float(people["messages"].sum()), "complaint_rate": float(people["complaints"].sum()
                                                                               / people["messages"].sum())}
    for name, risk in risks.items():
        curve = frontier(people, risk)
        reached = curve[curve["rate"] < TARGET_COMPLAINT_RATE]
        out[f"{name}_opens_lost_at_target"] = float(reached["opens_lost"].iloc[0]) if len(reached) else 1.0
        out[f"{name}_rate_at_10pct_opens_lost"] = float(curve.loc[curve["opens_lost"] <= 0.10, "rate"].min())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluation", type=Path, required=True, help="validation worlds `model evaluate MDL-005` wrote")
    args = parser.parse_args()
    if args.evaluation.name.startswith("sealed-"):
        raise SystemExit("this measures what MDL-006 could reach, for its design: validation worlds only")
    summary = json.loads((args.evaluation / worlds.SUMMARY_FILE).read_text())
    per_world = [{"seed": seed, **score_world(args.evaluation / f"world-{seed}")} for seed in summary["seeds"]]
    frame = pd.DataFrame(per_world)
    result = {"worlds": "validation", "seeds": summary["seeds"], "world": summary["world"],
              "target_complaint_rate": TARGET_COMPLAINT_RATE,
              "complaint_rate": interval(frame["complaint_rate"].to_numpy()).to_dict(),
              "opens_lost_at_target": {k: interval(frame[f"{k}_opens_lost_at_target"].to_numpy()).to_dict()
                                       for k in ORDERINGS},
              "rate_at_10pct_opens_lost": {k: interval(frame[f"{k}_rate_at_10pct_opens_lost"].to_numpy()).to_dict()
                                           for k in ORDERINGS},
              "per_world": per_world, "provenance": provenance()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mdl006_suppression.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: round(v["mean"], 4) for k, v in result["opens_lost_at_target"].items()}),
          json.dumps({k: round(v["mean"], 6) for k, v in result["rate_at_10pct_opens_lost"].items()}),
          round(result["complaint_rate"]["mean"], 6))


if __name__ == "__main__":
    main()
