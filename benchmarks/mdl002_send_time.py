"""MDL-002's candidates for stage 1: what a per-subscriber send hour is worth in the twin. One
campaign per world (every subscriber's latest held-out marketing message, with the features the
sender had then), scheduled by each candidate under the 15%-an-hour cap of spec
§3.3 (`mdl002_send_time.schedule.assign`), and valued by the twin's truth: each subscriber's true
P(open) for a send at the chosen UTC hour (`truth/subscribers.parquet`). Candidates:

- random hour; the campaign's best hour chosen from data (the audience's most common open hour;
  spec §3.3's baseline); the most frequent past open hour of each subscriber (what commercial
  send-time optimisation does; the campaign's hour where a person has none);
- MDL-005 asked for each hour (the hour features changed, everything else as sent): gradient-boosted
  trees over the send hour, to see whether an engagement model that saw mail sent at each sender's
  usual hour ranks the other hours;
- MDL-002's stage 1 (`mdl002_send_time.model.HourModel`), trained on the same window as MDL-005;
- the history-bound ceiling: the best any sender could choose from a person's own history, given
  the twin's law (the Bayes posterior over the person's habit, from a prior drawn by the twin's own
  law of habits and time zones, updated by each earlier message: opened or not at its hour, and
  when it was opened; the person's propensity and each message's quality handed to it);
- the oracle: the true P(open) by hour, under the same cap.

Run: `.venv/bin/python benchmarks/mdl002_send_time.py --evaluation DIR` where DIR is what
`adaptive-delivery model evaluate MDL-005 --out DIR` wrote on validation worlds ->
benchmarks/results/mdl002_send_time.json.
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
from adaptive_delivery.delivery.models.mdl002_send_time import model as stage1
from adaptive_delivery.delivery.models.mdl002_send_time import schedule as sc
from adaptive_delivery.delivery.models.mdl005_engagement import model as mdl
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.training.dataset import encode

HOURS = 24
CANDIDATES = ("campaign_hour", "most_frequent_open_hour", "mdl005_by_hour", "stage1", "history_ceiling", "oracle")
PROBABILITIES = ("mdl005_by_hour", "stage1", "history_ceiling")
SWEEP = (0.05, 0.1, 0.3, 0.6, 1.0, 2.0)  # hour weights stage 2 could rank by (mdl002.SCHEDULE_HOUR_WEIGHT)  # candidates whose scores are P(open) by hour
PRIOR_HABITS = 4_000  # habits drawn from the twin's law for the ceiling's prior (per kind of mailbox)
OPEN_DECAY_H = 14.0  # the twin's law: how an open's chance fades with the hours since delivery
WINDOW_H = 72


def by_hour(bundle: TrainedModel, rows: pd.DataFrame) -> np.ndarray:
    """MDL-005's P(open) for each row sent at each UTC hour (rows x 24)."""
    out = np.zeros((len(rows), HOURS))
    for h in range(HOURS):
        proba = bundle.predict_proba(rows.assign(temporal_features__hour_of_day=h))
        out[:, h] = mdl.open_and_click(proba)[0]
    return out


def prior_habits(corporate: bool, seed: int = 0) -> np.ndarray:
    """Habits by UTC hour drawn by the twin's law (its curves and time zones): the ceiling's prior."""
    from adaptive_delivery.twin import population as pop

    rng = np.random.default_rng(seed)
    local = pop._open_curves(rng, PRIOR_HABITS, np.full(PRIOR_HABITS, corporate))
    tz = rng.choice(pop.TZ_OFFSETS, size=PRIOR_HABITS, p=pop.TZ_WEIGHTS / pop.TZ_WEIGHTS.sum())
    return local[np.arange(PRIOR_HABITS)[:, None], (np.arange(HOURS)[None, :] + tz[:, None]) % HOURS].astype(float)


def _open_time_weights(habits: np.ndarray) -> np.ndarray:
    """(habits, 24 delivery hours, WINDOW_H delays): the twin's odds of a first open k hours after a
    delivery at each UTC hour (the delivery hour itself counts half)."""
    k = np.arange(WINDOW_H)
    hours = (np.arange(HOURS)[:, None] + k[None, :]) % HOURS
    decay = np.exp(-k / OPEN_DECAY_H)
    decay[0] *= 0.5
    return habits[:, hours] * decay[None, None, :]


def history_ceiling(history: pd.DataFrame, campaign: pd.DataFrame) -> np.ndarray:
    """P(open) by UTC hour for each campaign row (rows x 24) from the posterior over the person's
    habit given their history (columns: subscriber_id, hour, delay_h (NaN: not opened), logit_base:
    the message's logit before the habit term) and their propensity (campaign: subscriber_id,
    corporate, propensity_logit)."""
    out = np.zeros((len(campaign), HOURS))
    grouped = history.groupby("subscriber_id")
    for corporate in (False, True):
        habits = prior_habits(corporate, seed=int(corporate))
        fresh = 0.45 * np.log(HOURS * habits + 0.3)  # (habits, 24)
        weights = _open_time_weights(habits)
        normaliser = weights.sum(axis=2)  # (habits, 24)
        for i in np.flatnonzero(campaign["corporate"].to_numpy() == corporate):
            sub = campaign["subscriber_id"].iat[i]
            loglik = np.zeros(PRIOR_HABITS)
            if sub in grouped.groups:
                past = grouped.get_group(sub)
                hour = past["hour"].to_numpy(dtype=int)
                p = 1 / (1 + np.exp(-(past["logit_base"].to_numpy()[None, :] + fresh[:, hour])))
                opened = past["delay_h"].notna().to_numpy()
                loglik += np.log(np.where(opened[None, :], p, 1 - p).clip(1e-12)).sum(axis=1)
                for h, delay in zip(hour[opened], past["delay_h"].to_numpy()[opened].astype(int), strict=True):
                    delay = min(delay, WINDOW_H - 1)
                    loglik += np.log((weights[:, h, delay] / normaliser[:, h]).clip(1e-12))
            post = np.exp(loglik - loglik.max())
            post /= post.sum()
            out[i] = post @ (1 / (1 + np.exp(-(campaign["propensity_logit"].iat[i] + fresh))))
    return out


def _ceiling_inputs(world: Path, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ceiling's history (each campaign subscriber's messages whose window had closed before
    the campaign's send, with their truth offsets) and the campaign rows' kind and propensity."""
    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.platform.training.truth import truth_columns
    from adaptive_delivery.twin.providers import PROVIDERS

    lake = EventsLake(world / "lake")
    sends = lake.read("sends", columns=["message_id", "subscriber_id", "send_ts"]).to_pandas()
    sends = sends[sends["subscriber_id"].isin(set(rows["subscriber_id"]))]
    engaged = lake.read("engagement", columns=["message_id", "event_type", "machine_open", "event_ts"]).to_pandas()
    opens = engaged[(engaged["event_type"] == "open") & ~engaged["machine_open"].astype(bool)]
    first = opens.groupby("message_id")["event_ts"].min().rename("open_ts")
    outcomes = lake.read("outcomes", columns=["message_id", "status"]).to_pandas()
    accepted = set(outcomes.loc[outcomes["status"] == "accepted", "message_id"])
    sends = sends[sends["message_id"].isin(accepted)].reset_index(drop=True)  # only mail that arrived could be opened
    truth = truth_columns(world / "truth", sends["message_id"],
                          ["subscriber_engagement", "content_quality", "seen_p_open_if_accepted", "p_open_inbox"])
    past = pd.concat([sends, truth.drop(columns="message_id")], axis=1).merge(first, on="message_id", how="left")
    cutoff = rows.set_index("subscriber_id")["event_timestamp"] - pd.Timedelta(hours=WINDOW_H)
    past = past[past["send_ts"] < past["subscriber_id"].map(cutoff)]
    engagement = np.clip(past["subscriber_engagement"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
    reach = (past["seen_p_open_if_accepted"] / past["p_open_inbox"]).clip(1e-6, 1).to_numpy(dtype=float)
    history = pd.DataFrame({
        "subscriber_id": past["subscriber_id"].to_numpy(), "hour": past["send_ts"].dt.hour.to_numpy(),
        # the spam folder's odds folded into the base: log(reach) shifts a small probability's logit
        "logit_base": np.log(engagement / (1 - engagement)) + 0.9 * (past["content_quality"].to_numpy() - 0.5)
        + np.log(reach),
        # hours from the delivery's hour to the open's (the law counts whole hours of the day)
        "delay_h": ((past["open_ts"].dt.floor("h") - past["send_ts"].dt.floor("h")).dt.total_seconds() / 3600).to_numpy()})
    subscribers = pq.read_table(world / "truth" / "subscribers.parquet",
                                columns=["subscriber_id", "engagement_propensity"]).to_pandas().set_index("subscriber_id")
    propensity = np.clip(subscribers.loc[rows["subscriber_id"], "engagement_propensity"].to_numpy(dtype=float), 1e-6,
                         1 - 1e-6)
    corporate = {p.name: p.category == "corporate" for p in PROVIDERS}
    campaign = pd.DataFrame({"subscriber_id": rows["subscriber_id"].to_numpy(),
                             "corporate": rows["provider"].map(corporate).fillna(False).to_numpy(dtype=bool),
                             "propensity_logit": np.log(propensity / (1 - propensity))})
    return history, campaign


def score_world(world: Path) -> dict[str, float]:
    """Each candidate's expected open rate for one campaign (`mdl002.campaign`), random's, and how
    far each one's P(open) by hour is from the truth (mean absolute error over the 24 hours)."""
    [run] = sorted((world / "kfp").glob("train-mdl-005-*"))[-1:]
    rows = stage1.campaign(pd.read_parquet(run / "load-training-set" / "holdout"))
    truth = pq.read_table(world / "truth" / "subscribers.parquet").to_pandas().set_index("subscriber_id")
    p_true = np.vstack(truth.loc[rows["subscriber_id"], "open_prob_by_utc_hour"].to_numpy())
    # MDL-002 trained on the same window as MDL-005 (its rows are MDL-005's, opened or not)
    frame = pd.read_parquet(run / "load-training-set" / "train")
    data = stage1.dataset_from_frame(frame.assign(label=(frame["label"] > 0).astype(int)))
    hours_model = stage1.HourModel().fit(data.X, data.y)
    X, _ = encode(rows, stage1.FEATURES, stage1.CATEGORICAL, data.categories)
    heat = np.nan_to_num(X[stage1.HEAT].to_numpy(dtype=float))
    campaign = stage1.campaign_hour(heat)
    scores = {"campaign_hour": np.tile(np.arange(HOURS) == campaign, (len(rows), 1)).astype(float),
              "most_frequent_open_hour": stage1.most_frequent_open_hour(X),
              "mdl005_by_hour": by_hour(TrainedModel.load(run / "train-model" / "model"), rows),
              "stage1": hours_model.schedule_scores(X),
              "history_ceiling": history_ceiling(*_ceiling_inputs(world, rows)),
              "oracle": p_true}
    n = np.arange(len(rows))
    out = {"subscribers": float(len(rows)), "random": float(p_true.mean()),
           "stage1_hour_weight": float(hours_model.weights[2]),
           # the flat answer: the person's open rate at every hour (what the best rule knows)
           "open_rate_mae": float(np.abs(stage1.open_rate(X)[:, None] - p_true).mean())}
    for weight in SWEEP:  # stage 2's hour weight: what the schedule wins with each
        chosen = sc.assign(hours_model.by_hour(X, weight)).hour
        out[f"stage1_weight_{weight:g}"] = float(p_true[n, chosen].mean())
    for name, score in scores.items():
        hours = (np.full(len(rows), campaign) if name == "campaign_hour" else sc.assign(score).hour)
        out[name] = float(p_true[n, hours].mean())
        out[f"{name}_max_hour_share"] = float(np.bincount(hours, minlength=HOURS).max() / len(rows))
        if name in PROBABILITIES:  # stage 1's answer is its calibrated P(open), not what stage 2 ranks by
            probability = hours_model.by_hour(X) if name == "stage1" else score
            out[f"{name}_mae"] = float(np.abs(probability - p_true).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluation", type=Path, required=True, help="a folder `model evaluate MDL-005` wrote")
    args = parser.parse_args()
    summary = json.loads((args.evaluation / worlds.SUMMARY_FILE).read_text())
    if args.evaluation.name.startswith("sealed-"):
        raise SystemExit("this measures candidates for MDL-002's design: validation worlds only")
    per_world = []
    for seed in summary["seeds"]:
        per_world.append({"seed": seed, **score_world(args.evaluation / f"world-{seed}")})
        print(json.dumps(per_world[-1]))
    frame = pd.DataFrame(per_world)
    lift = {name: interval((frame[name] / frame["random"] - 1).to_numpy()).to_dict() for name in CANDIDATES}
    result = {"worlds": "validation", "seeds": summary["seeds"], "world": summary["world"],
              "max_hour_share": sc.MAX_HOUR_SHARE, "open_rate_random": interval(frame["random"].to_numpy()).to_dict(),
              "lift_over_random": lift,
              "share_of_oracle_lift": {name: interval(((frame[name] - frame["random"]) /
                                                       (frame["oracle"] - frame["random"])).to_numpy()).to_dict()
                                       for name in CANDIDATES if name != "oracle"},
              "hour_weight_sweep": {f"{w:g}": interval((frame[f"stage1_weight_{w:g}"] / frame["random"] - 1).to_numpy())
                                    .to_dict() for w in SWEEP},
              "stage1_fitted_hour_weight": frame["stage1_hour_weight"].tolist(),
              # how far each P(open) by hour is from the truth; "open_rate": the same rate at every hour
              "mae": {name: interval(frame[f"{name}_mae"].to_numpy()).to_dict()
                      for name in (*PROBABILITIES, "open_rate")},
              "per_world": per_world, "provenance": provenance()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mdl002_send_time.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: round(v["mean"], 4) for k, v in lift.items()}))


if __name__ == "__main__":
    main()
