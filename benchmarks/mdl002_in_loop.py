"""MDL-002 in the twin's sending loop: each world is simulated again from its first day, bit for bit
as `model evaluate` built it, up to the first day of its holdout; from there it goes on for
LOOP_DAYS days once per candidate (a copy of the same world each time), the candidate scheduling
every campaign message of every day (the twin's `send_hours` hook, under spec §3.3's cap of 15% of
a campaign in any hour), and the opens each schedule actually won are counted.

Candidates, all from what the sender knew on the loop's first morning (the subscriber features of
that day's snapshot, `features/subscriber`): each sender's usual hour (the world as planned, a
campaign sent at its own pace: the cap does not hold), and the same hour spread to its nearest
hours under the cap; a random hour; the campaign's best hour (the audience's most common open hour, the campaign moved
there whole at its own pace); each person's most frequent past open hour (the best rule); MDL-002
(the version `model evaluate MDL-002` trained on that world); the oracle (each person's true
P(open) by hour, read from the twin at the moment of sending).

Measured per world on campaign mail: the twin's expected opens per message sent (P(open) given
where each message actually went, so blocks and the spam folder count) and the opens that
happened, the acceptance rate, and the largest share of a campaign any hour carried.

Run: `.venv/bin/python benchmarks/mdl002_in_loop.py --evaluation DIR` where DIR is what
`adaptive-delivery model evaluate MDL-002 --out DIR` wrote on validation worlds ->
benchmarks/results/mdl002_in_loop.json.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from provenance import RESULTS, provenance

from adaptive_delivery.delivery.jobs import worlds
from adaptive_delivery.delivery.models.mdl002_send_time import model as mdl
from adaptive_delivery.delivery.models.mdl002_send_time import schedule as sc
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.spec import get
from adaptive_delivery.twin.simulator import World

LOOP_DAYS = 5
HOURS = 24
CANDIDATES = ("as_planned", "usual_hour_capped", "random", "campaign_hour", "most_frequent_open_hour", "mdl002",
              "oracle")
SUBSCRIBER_COLUMNS = {"open_hour_heatmap": mdl.OPEN_HEATMAP, "opens_30d": mdl.OPENS,
                      "emails_received_30d": mdl.RECEIVED, "domain_category": mdl.KIND}
Scores = Callable[[World, pd.DataFrame], np.ndarray]  # (world, the campaign's rows of features) -> rows x 24


def morning_features(world_dir: Path, day) -> pd.DataFrame:
    """The subscriber features of the snapshot at `day`'s midnight (built from the events before
    it), named as the feature service names them, indexed by subscriber."""
    table = pd.read_parquet(world_dir / "features" / "subscriber",
                            columns=["subscriber_id", "event_timestamp", *SUBSCRIBER_COLUMNS])
    at = pd.Timestamp(day).tz_localize("UTC")
    rows = table[table["event_timestamp"] == at]
    if rows.empty:
        raise SystemExit(f"{world_dir}: no subscriber snapshot at {at}")
    return rows.drop(columns="event_timestamp").rename(columns=SUBSCRIBER_COLUMNS).set_index("subscriber_id")


def _true_by_hour(world: World, subscriber_ids: pd.Series) -> np.ndarray:
    """Each person's true P(open) by UTC hour now (the twin's truth: habit, time zone, propensity)."""
    truth = world.subscriber_truth().select(["subscriber_id", "open_prob_by_utc_hour"]).to_pandas()
    by_id = truth.set_index("subscriber_id")["open_prob_by_utc_hour"]
    return np.vstack(by_id.loc[subscriber_ids].to_numpy()).astype(float)


def scorers(features: pd.DataFrame, bundle: TrainedModel) -> dict[str, Scores]:
    """Each per-person candidate's hour scores for a campaign's rows."""
    def encoded(rows: pd.DataFrame) -> pd.DataFrame:
        frame = rows.assign(**{mdl.OPEN_HEATMAP: [np.zeros(HOURS) if not isinstance(v, list | np.ndarray) else v
                                                 for v in rows[mdl.OPEN_HEATMAP]],
                               mdl.SEND_HOUR: 0.0, "is_transactional": 0.0})
        return bundle.encode(frame)

    return {"most_frequent_open_hour": lambda world, rows: mdl.most_frequent_open_hour(encoded(rows)),
            "mdl002": lambda world, rows: bundle.model.schedule_scores(encoded(rows)),
            "oracle": lambda world, rows: _true_by_hour(world, rows.index.to_series())}


def send_hours(kind: str, world: World, features: pd.DataFrame, bundle: TrainedModel, seed: int):
    """The twin's `send_hours` hook for one candidate (None: as planned)."""
    if kind == "as_planned":
        return None
    rng = np.random.default_rng(seed)
    score = scorers(features, bundle).get(kind)
    usual = mdl.campaign_hour(np.vstack([v for v in features[mdl.OPEN_HEATMAP] if isinstance(v, list | np.ndarray)]))

    def hook(day: int, sends: pa.Table) -> np.ndarray:
        frame = sends.select(["subscriber_id", "campaign_id", "campaign_type", "send_ts"]).to_pandas()
        hours = np.full(len(frame), np.nan)
        marketing = frame["campaign_type"].to_numpy() == "marketing"
        for _, where in frame[marketing].groupby("campaign_id").indices.items():
            pos = np.flatnonzero(marketing)[where]
            if kind == "random":
                hours[pos] = rng.integers(0, HOURS, pos.size)
            elif kind == "campaign_hour":  # the campaign moved whole: its start at the best hour, its pace kept
                planned = frame["send_ts"].iloc[pos].dt.hour.to_numpy()
                hours[pos] = (usual + planned - planned.min()) % HOURS
            elif kind == "usual_hour_capped":  # the sender's own hour, spread to the nearest hours under the cap
                planned = frame["send_ts"].iloc[pos].dt.hour.to_numpy()
                gap = np.abs(np.arange(HOURS)[None, :] - planned[:, None])
                hours[pos] = sc.assign(-np.minimum(gap, HOURS - gap).astype(float)).hour
            else:
                rows = features.reindex(frame["subscriber_id"].iloc[pos])
                hours[pos] = sc.assign(score(world, rows)).hour
        return hours

    return hook


def run_candidate(world: World, hook, days: int) -> dict[str, float]:
    """`days` days of the world under one schedule: campaign mail's sends, acceptances, expected
    and realised opens, and the largest share of a campaign in one hour."""
    sent = accepted = expected = opened = 0.0
    largest = 0.0
    for _ in range(days):
        result = world.step_day(send_hours=hook)
        if not result.events:
            continue
        sends = result.events["sends"].select(["message_id", "campaign_id", "campaign_type", "send_ts"]).to_pandas()
        truth = result.truth["messages"].select(["message_id", "true_class", "p_open", "human_open"]).to_pandas()
        rows = sends[sends["campaign_type"] == "marketing"].merge(truth, on="message_id")
        sent += len(rows)
        accepted += float(rows["true_class"].isin(["inbox", "spam"]).sum())
        expected += float(rows["p_open"].sum())
        opened += float(rows["human_open"].sum())
        by_hour = rows.groupby(["campaign_id", rows["send_ts"].dt.hour]).size()
        largest = max(largest, float((by_hour / by_hour.groupby(level=0).transform("sum")).max()))
    return {"sent": sent, "accepted_rate": accepted / sent, "expected_open_rate": expected / sent,
            "open_rate": opened / sent, "max_hour_share": largest}


def score_world(world_dir: Path, seed: int, size: worlds.WorldSize, holdout_days: int) -> dict[str, object]:
    bundle = worlds.trained_bundle(world_dir, get("MDL-002"))
    world, first = worlds.replay_to_holdout(seed, size, holdout_days)
    features = morning_features(world_dir, world.config.start + timedelta(days=first))
    out: dict[str, object] = {"seed": seed, "loop_from_day": first}
    for kind in CANDIDATES:
        copy_of = copy.deepcopy(world)
        metrics = run_candidate(copy_of, send_hours(kind, copy_of, features, bundle, seed), LOOP_DAYS)
        out |= {f"{kind}_{k}": v for k, v in metrics.items()}
        print(f"  world {seed} {kind}: {json.dumps({k: round(v, 4) for k, v in metrics.items()})}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluation", type=Path, required=True, help="a folder `model evaluate MDL-002` wrote")
    args = parser.parse_args()
    if args.evaluation.name.startswith("sealed-"):
        raise SystemExit("this measures MDL-002 against the rules on validation worlds; the headline is model evaluate's")
    summary = json.loads((args.evaluation / worlds.SUMMARY_FILE).read_text())
    size = worlds.WorldSize(subscribers=summary["world"]["subscribers"], days=summary["world"]["days"])
    frame = pd.DataFrame([score_world(args.evaluation / f"world-{s}", s, size, summary["world"]["holdout_days"])
                          for s in summary["seeds"]])
    rate = {k: frame[f"{k}_expected_open_rate"] for k in CANDIDATES}
    result = {
        "worlds": "validation", "seeds": summary["seeds"], "world": summary["world"], "loop_days": LOOP_DAYS,
        "max_hour_share_cap": sc.MAX_HOUR_SHARE,
        "expected_open_rate": {k: interval(v.to_numpy()).to_dict() for k, v in rate.items()},
        "open_rate": {k: interval(frame[f"{k}_open_rate"].to_numpy()).to_dict() for k in CANDIDATES},
        "accepted_rate": {k: interval(frame[f"{k}_accepted_rate"].to_numpy()).to_dict() for k in CANDIDATES},
        "lift_over_random": {k: interval((rate[k] / rate["random"] - 1).to_numpy()).to_dict() for k in CANDIDATES},
        "lift_over_campaign_hour": {k: interval((rate[k] / rate["campaign_hour"] - 1).to_numpy()).to_dict()
                                    for k in CANDIDATES},
        "mdl002_over_best_rule": interval((rate["mdl002"] - rate["most_frequent_open_hour"]).to_numpy()).to_dict(),
        "share_of_oracle_lift": {k: interval(((rate[k] - rate["random"]) / (rate["oracle"] - rate["random"])).to_numpy())
                                 .to_dict() for k in CANDIDATES},
        "per_world": frame.to_dict("records"), "provenance": provenance(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mdl002_in_loop.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: round(v["mean"], 4) for k, v in result["lift_over_random"].items()}))


if __name__ == "__main__":
    main()
