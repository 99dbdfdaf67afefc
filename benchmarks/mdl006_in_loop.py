"""MDL-006 in the twin's sending loop: each world is simulated again from its first day, bit for bit
as `model evaluate` built it, up to the first day of its holdout; from there it goes on for
LOOP_DAYS days once per candidate (a copy of the same world each time), the candidate deciding
every morning which of the day's marketing messages go out (the twin's `send_filter` hook;
transactional mail always goes). What each candidate knows is what the sender saw: the subscriber
features of the loop's first morning (`features/subscriber`), brought forward each morning with the
loop's own sends and human opens (`advance`).

Candidates:
- `none`: every planned message goes.
- `sunset_N`: stop mailing a person once N days have passed without a human open (a person who never
  opened: since they joined), N over SUNSET_DAYS (what senders run; N is the rule's knob).
- `mdl006_qK`: MDL-006 (the version `model evaluate MDL-006` trained on that world) suppresses the
  K% of people whose mail draws the most complaints per open (its P(complaint) over their open
  rate) on the first morning, and from then on whoever's score, recomputed each morning, passes
  that bar (recorded: the threshold `suppress_complaints_per_open` that K% means); K over SHARES
  traces its frontier as N does the rule's.
- `mdl006_policy`: the registered policy as shipped (`policy.RiskThresholds`: suppress,
  re-permission, reduce frequency), carried out by `policy.ListPolicy`.
- `oracle_qK`: the twin's truth suppresses the K% whose complaints above the target cost the fewest
  opens (it knows who is a habitual complainer and each person's propensity).

Measured per world and candidate, over all mail sent in the loop: the complaint rate and the
unsubscribe rate per message sent (what happened, and the law's expectation on what was sent: the
rate a provider would see without the noise of a few dozen events), the expected human opens, and
the share of `none`'s opens lost. The rule and the model are compared at equal opens lost (the
sunset frontier interpolated at the model's point) and on the target (spec §11: < 0.02%).

Run: `.venv/bin/python benchmarks/mdl006_in_loop.py --evaluation DIR` where DIR is what
`adaptive-delivery model evaluate MDL-006 --out DIR` wrote on validation worlds ->
benchmarks/results/mdl006_in_loop.json (`--evaluation` of a sealed folder:
mdl006_in_loop_sealed.json); the docs plot the frontiers from it.
"""

from __future__ import annotations

import argparse
import copy
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from provenance import RESULTS, provenance

from adaptive_delivery.delivery.jobs import worlds
from adaptive_delivery.delivery.models.mdl006_churn_risk import model as mdl
from adaptive_delivery.delivery.models.mdl006_churn_risk import policy
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.spec import get
from adaptive_delivery.twin import dynamics
from adaptive_delivery.twin.simulator import World

LOOP_DAYS = 10
TARGET_COMPLAINT_RATE = 0.0002  # spec §11: < 0.02%
SUNSET_DAYS = (2, 4, 7, 10, 14)
SHARES = (5, 10, 20, 35, 50)
TYPICAL_SPAMMINESS = 0.3  # the oracle's order reads a person's reaction to an ordinary campaign
SUBSCRIBER = worlds.SUBSCRIBER


def morning_features(world_dir: Path, day) -> pd.DataFrame:
    """The subscriber features of the snapshot at `day`'s midnight, named as MDL-006's inputs."""
    return worlds.subscriber_morning(world_dir, day, mdl.FEATURES)


def advance(features: pd.DataFrame, sends: pd.DataFrame, opens: pd.Series) -> pd.DataFrame:
    """The next morning's features from today's: a day older, today's messages received and human
    opens counted (the loop stays inside the first 30 days of history, so nothing ages out)."""
    out = features.copy()
    for c in ("days_since_last_open", "days_since_last_click", "days_since_last_delivery", "tenure_days"):
        col = f"{SUBSCRIBER}{c}"
        out[col] = np.where(out[col] >= mdl.NEVER_DAYS, out[col], out[col] + 1.0)
    received = sends["subscriber_id"].value_counts().reindex(out.index, fill_value=0)
    for c in ("emails_received_30d", "emails_received_total"):
        out[f"{SUBSCRIBER}{c}"] = out[f"{SUBSCRIBER}{c}"] + received.to_numpy()
    opened = opens.value_counts().reindex(out.index, fill_value=0)
    out[f"{SUBSCRIBER}opens_30d"] = out[f"{SUBSCRIBER}opens_30d"] + opened.to_numpy()
    out.loc[opened.to_numpy() > 0, f"{SUBSCRIBER}days_since_last_open"] = 0.5
    return out


def model_risk(bundle: TrainedModel, features: pd.DataFrame) -> pd.DataFrame:
    """MDL-006's risks per person: P(unsubscribe within 30 days) at their cadence (their last 30
    days' messages, scaled to 30 days where the history is shorter) and the complaints per open
    their mail draws (what the policy suppresses by)."""
    rows = features.reset_index(drop=True)
    proba = bundle.predict_proba(rows)
    history = np.clip(features[f"{SUBSCRIBER}tenure_days"].to_numpy(dtype=float), 1.0, 30.0)
    cadence = features[mdl.RECEIVED].to_numpy(dtype=float) * 30.0 / history
    return pd.DataFrame({"unsubscribe": policy.thirty_day_risk(proba[:, mdl.UNSUBSCRIBED], cadence),
                         "complaint": policy.complaints_per_open(proba[:, mdl.COMPLAINED], mdl.open_rate(rows))},
                        index=features.index)


def oracle_order(world: World, ids: pd.Index) -> pd.Series:
    """The oracle's score: expected complaints per message above the target, per expected open
    (who pushes the rate over the target most for the least engagement)."""
    truth = world.subscriber_truth().select(["subscriber_id", "engagement_propensity", "complainer"]).to_pandas()
    truth = truth.set_index("subscriber_id").reindex(ids)
    engagement = truth["engagement_propensity"].fillna(0.2).to_numpy(dtype=float)
    complainer = truth["complainer"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    n = len(ids)
    complaints = dynamics.complaint_probability(engagement, complainer, np.full(n, TYPICAL_SPAMMINESS), np.ones(n, bool))
    return pd.Series((complaints - TARGET_COMPLAINT_RATE) / (engagement + 1e-9), index=ids)


class Candidate:
    """One way of choosing the day's marketing messages, and the features it brings forward."""

    def __init__(self, kind: str, knob: float, features: pd.DataFrame, bundle: TrainedModel, world: World) -> None:
        self.kind, self.knob, self.features, self.bundle = kind, knob, features, bundle
        self.suppressed: set[str] = set()
        self.threshold = np.inf  # MDL-006's bar on complaints per open (none for the others)
        self.plan = policy.ListPolicy() if kind == "mdl006_policy" else None
        if kind == "mdl006":  # the first morning's top K% sets the bar the loop keeps
            self.threshold = float(np.quantile(model_risk(bundle, features)["complaint"], 1.0 - knob / 100.0))
        elif kind == "oracle":
            score = oracle_order(world, features.index)
            self.suppressed = set(score.index[score >= np.quantile(score, 1.0 - knob / 100.0)])

    def send_filter(self, day: int, sends: pa.Table) -> np.ndarray:
        """The twin's hook: which of the day's planned messages go out (this morning's decisions)."""
        ids = sends.column("subscriber_id").to_numpy(zero_copy_only=False)
        marketing = sends.column("campaign_type").to_numpy(zero_copy_only=False) == "marketing"
        if self.kind == "none":
            return np.ones(len(ids), bool)
        if self.kind == "mdl006_policy":
            risk = model_risk(self.bundle, self.features)
            self.plan.set_actions(self.features.index, policy.decide(risk["unsubscribe"], risk["complaint"]))
            return self.plan.keep(day, ids, marketing)
        if self.kind == "sunset":
            self.suppressed = set(self.features.index[mdl.days_since_open(self.features) >= self.knob])
        elif self.kind == "mdl006":
            risk = model_risk(self.bundle, self.features)["complaint"]
            self.suppressed = set(risk.index[risk >= self.threshold])
        return ~marketing | ~pd.Series(ids).isin(self.suppressed).to_numpy()

    def saw(self, sends: pd.DataFrame, opens: pd.Series) -> None:
        self.features = advance(self.features, sends, opens)
        if self.plan is not None:
            self.plan.opened(opens.unique())


def expected(truth: pd.DataFrame, sends: pd.DataFrame, complainer: pd.Series) -> dict[str, float]:
    """The law's expected complaints and unsubscribes of what was sent (the placement as it fell),
    and the expected human opens."""
    rows = sends[["message_id", "subscriber_id"]].merge(truth, on="message_id")
    delivered = rows["true_class"].isin(["inbox", "spam"]).to_numpy() & ~rows["spam_trap"].to_numpy(dtype=bool)
    inbox = (rows["true_class"] == "inbox").to_numpy()
    engagement = rows["subscriber_engagement"].to_numpy(dtype=float)
    spam = rows["content_spamminess"].to_numpy(dtype=float)
    trait = complainer.reindex(rows["subscriber_id"], fill_value=False).to_numpy(dtype=bool)
    unsub = delivered * dynamics.unsubscribe_probability(engagement, spam, inbox)
    complaints = delivered * (1 - unsub) * dynamics.complaint_probability(engagement, trait, spam, inbox)
    return {"expected_complaints": float(complaints.sum()), "expected_unsubscribes": float(unsub.sum()),
            "expected_opens": float(rows["p_open"].sum())}


def run_candidate(world: World, candidate: Candidate, days: int) -> dict[str, float]:
    """`days` days of the world under one candidate: what was sent and what it drew."""
    totals = dict.fromkeys(("sent", "complaints", "unsubscribes", "opens", "expected_complaints",
                            "expected_unsubscribes", "expected_opens"), 0.0)
    complainer = world.subscriber_truth().select(["subscriber_id", "complainer"]).to_pandas().set_index(
        "subscriber_id")["complainer"]
    for _ in range(days):
        result = world.step_day(send_filter=candidate.send_filter)
        if not result.events:
            continue
        sends = result.events["sends"].select(["message_id", "subscriber_id", "campaign_type"]).to_pandas()
        engaged = result.events["engagement"].select(["subscriber_id", "event_type", "machine_open"]).to_pandas()
        truth = result.truth["messages"].select(["message_id", "true_class", "spam_trap", "subscriber_engagement",
                                                 "content_spamminess", "p_open", "complained", "human_open"]).to_pandas()
        human = engaged[(engaged["event_type"] == "open") & ~engaged["machine_open"].astype(bool)]
        totals["sent"] += len(sends)
        totals["complaints"] += float(truth["complained"].sum())
        totals["unsubscribes"] += float((engaged["event_type"] == "unsubscribe").sum())
        totals["opens"] += float(truth["human_open"].sum())
        for k, v in expected(truth, sends, complainer).items():
            totals[k] += v
        candidate.saw(sends, human["subscriber_id"])
    sent = max(totals["sent"], 1.0)
    return {**totals, "complaint_rate": totals["complaints"] / sent, "unsubscribe_rate": totals["unsubscribes"] / sent,
            "expected_complaint_rate": totals["expected_complaints"] / sent,
            "expected_unsubscribe_rate": totals["expected_unsubscribes"] / sent}


def candidates() -> list[tuple[str, str, float]]:
    return ([("none", "none", 0.0)] + [(f"sunset_{n}", "sunset", float(n)) for n in SUNSET_DAYS]
            + [(f"mdl006_q{k}", "mdl006", float(k)) for k in SHARES] + [("mdl006_policy", "mdl006_policy", 0.0)]
            + [(f"oracle_q{k}", "oracle", float(k)) for k in SHARES])


def score_world(world_dir: Path, seed: int, size: worlds.WorldSize, holdout_days: int) -> dict[str, object]:
    bundle = worlds.trained_bundle(world_dir, get("MDL-006"))
    world, first = worlds.replay_to_holdout(seed, size, holdout_days)
    features = morning_features(world_dir, world.config.start + timedelta(days=first))
    out: dict[str, object] = {"seed": seed, "loop_from_day": first}
    for name, kind, knob in candidates():
        copy_of = copy.deepcopy(world)
        candidate = Candidate(kind, knob, features, bundle, copy_of)
        metrics = run_candidate(copy_of, candidate, LOOP_DAYS)
        out |= {f"{name}_{k}": v for k, v in metrics.items()} | {f"{name}_bar": candidate.threshold if np.isfinite(candidate.threshold) else np.nan}
        print(f"  world {seed} {name}: sent {metrics['sent']:.0f}, complaints/msg "
              f"{metrics['expected_complaint_rate']:.6f}, opens {metrics['expected_opens']:.0f}", flush=True)
    for name, _, _ in candidates():
        out[f"{name}_opens_lost"] = 1.0 - out[f"{name}_expected_opens"] / out["none_expected_opens"]
    return out


def at_equal_opens_lost(row: pd.Series, name: str) -> float:
    """The sunset frontier's complaint rate at `name`'s opens lost (linear between its points;
    `none` is the frontier's point at zero)."""
    points = sorted((row[f"{k}_opens_lost"], row[f"{k}_expected_complaint_rate"])
                    for k in ["none", *(f"sunset_{n}" for n in SUNSET_DAYS)])
    lost, rate = zip(*points, strict=True)
    return float(np.interp(row[f"{name}_opens_lost"], lost, rate))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluation", type=Path, required=True, help="a folder `model evaluate MDL-006` wrote")
    args = parser.parse_args()
    summary = json.loads((args.evaluation / worlds.SUMMARY_FILE).read_text())
    sealed = args.evaluation.name.startswith("sealed-")
    size = worlds.WorldSize(subscribers=summary["world"]["subscribers"], days=summary["world"]["days"])
    frame = pd.DataFrame([score_world(args.evaluation / f"world-{s}", s, size, summary["world"]["holdout_days"])
                          for s in summary["seeds"]])
    names = [name for name, _, _ in candidates()]
    model_points = [f"mdl006_q{k}" for k in SHARES] + ["mdl006_policy"]
    result = {
        "worlds": "sealed" if sealed else "validation", "seeds": summary["seeds"], "world": summary["world"],
        "loop_days": LOOP_DAYS, "target_complaint_rate": TARGET_COMPLAINT_RATE,
        "thresholds": vars(policy.RiskThresholds()),
        "bars": {f"mdl006_q{k}": interval(frame[f"mdl006_q{k}_bar"].to_numpy()).to_dict() for k in SHARES},
        **{metric: {k: interval(frame[f"{k}_{metric}"].to_numpy()).to_dict() for k in names}
           for metric in ("expected_complaint_rate", "complaint_rate", "expected_unsubscribe_rate", "unsubscribe_rate",
                          "opens_lost", "sent")},
        "mdl006_minus_sunset_at_equal_opens_lost": {
            k: interval((frame[f"{k}_expected_complaint_rate"]
                         - frame.apply(at_equal_opens_lost, axis=1, name=k)).to_numpy()).to_dict() for k in model_points},
        "reaches_target": {k: float((frame[f"{k}_expected_complaint_rate"] < TARGET_COMPLAINT_RATE).mean()) for k in names},
        "per_world": frame.to_dict("records"), "provenance": provenance(),
    }
    RESULTS.mkdir(exist_ok=True)
    stem = "mdl006_in_loop_sealed" if sealed else "mdl006_in_loop"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: round(v["mean"], 6) for k, v in result["expected_complaint_rate"].items()}))
    print(json.dumps({k: round(v["mean"], 4) for k, v in result["opens_lost"].items()}))


if __name__ == "__main__":
    main()
