"""MDL-002 (in progress): what a per-subscriber send hour is worth in the twin, before MDL-002's own
stage 1 exists. One campaign per world (every subscriber's latest held-out marketing message, with
the features the sender had then), scheduled by each candidate under the 15%-an-hour cap of spec
§3.3 (`mdl002_send_time.schedule.assign`), and valued by the twin's truth: each subscriber's true
P(open) for a send at the chosen UTC hour (`truth/subscribers.parquet`). Candidates:

- random hour; the campaign's best hour chosen from data (the audience's most common open hour;
  spec §3.3's baseline); the most frequent past open hour of each subscriber (what commercial
  send-time optimisation does; the campaign's hour where a person has none);
- MDL-005 asked for each hour (the hour features changed, everything else as sent): a stand-in
  stage 1, to see whether an engagement model that saw mail sent at each sender's usual hour ranks
  the other hours;
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
from adaptive_delivery.delivery.models.mdl002_send_time import schedule as sc
from adaptive_delivery.delivery.models.mdl005_engagement import model as mdl
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.protocol import interval

HOURS = 24
CANDIDATES = ("campaign_hour", "most_frequent_open_hour", "mdl005_by_hour", "oracle")


def _heatmaps(rows: pd.DataFrame) -> np.ndarray:
    return np.vstack([np.zeros(HOURS) if v is None else np.asarray(v, dtype=float) for v in rows[mdl.OPEN_HEATMAP]])


def by_hour(bundle: TrainedModel, rows: pd.DataFrame) -> np.ndarray:
    """MDL-005's P(open) for each row sent at each UTC hour (rows x 24)."""
    out = np.zeros((len(rows), HOURS))
    for h in range(HOURS):
        proba = bundle.predict_proba(rows.assign(temporal_features__hour_of_day=h))
        out[:, h] = mdl.open_and_click(proba)[0]
    return out


def score_world(world: Path) -> dict[str, float]:
    """Each candidate's expected open rate for one campaign, and random's."""
    [run] = sorted((world / "kfp").glob("train-mdl-005-*"))[-1:]
    holdout = pd.read_parquet(run / "load-training-set" / "holdout")
    marketing = holdout[holdout["is_transactional"] == 0].sort_values("event_timestamp", kind="stable")
    rows = marketing.groupby("subscriber_id").tail(1).reset_index(drop=True)
    truth = pq.read_table(world / "truth" / "subscribers.parquet").to_pandas().set_index("subscriber_id")
    p_true = np.vstack(truth.loc[rows["subscriber_id"], "open_prob_by_utc_hour"].to_numpy())
    heat = _heatmaps(rows)
    campaign = int(heat.sum(axis=0).argmax())
    own = np.where(heat.sum(axis=1, keepdims=True) > 0, heat, 0.0) + 1e-6 * (np.arange(HOURS) == campaign)
    scores = {"campaign_hour": np.tile(np.arange(HOURS) == campaign, (len(rows), 1)).astype(float),
              "most_frequent_open_hour": own,
              "mdl005_by_hour": by_hour(TrainedModel.load(run / "train-model" / "model"), rows),
              "oracle": p_true}
    n = np.arange(len(rows))
    out = {"subscribers": float(len(rows)), "random": float(p_true.mean())}
    for name, score in scores.items():
        hours = (np.full(len(rows), campaign) if name == "campaign_hour" else sc.assign(score).hour)
        out[name] = float(p_true[n, hours].mean())
        out[f"{name}_max_hour_share"] = float(np.bincount(hours, minlength=HOURS).max() / len(rows))
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
              "per_world": per_world, "provenance": provenance()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mdl002_send_time.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: round(v["mean"], 4) for k, v in lift.items()}))


if __name__ == "__main__":
    main()
