"""MDL-010 in the twin's sending loop: each world is simulated again from its first day, bit for bit
as `model evaluate` built it, up to the first day of its holdout; from there it goes on for
LOOP_DAYS days once per candidate (a copy of the same world each time), the candidate deciding
every morning which of the day's marketing messages go out (the twin's `send_filter` hook;
transactional mail always goes). What each candidate knows is what the sender saw: the subscriber
features of the loop's first morning (`features/subscriber`), brought forward each morning with the
loop's own sends, deliveries, bounces and human opens (`advance`); an address that joins during the
loop starts with no history. Every candidate but `none` stops mailing an address once it has
hard-bounced (the floor every sender runs).

Candidates:
- `none`: the world's own sender (stops after three hard bounces).
- `rule_N_D`: the best rule of its kind: one hard bounce, plus sunset (no human open for N days; a
  person who never opened: since they joined; N=inf: no sunset), plus holding mail for D days after
  a soft bounce (a full mailbox stays full for days), over RULE_GRID.
- `mdl010_qK`: holds the K% of the addresses the floor leaves with the highest P(bounce) (P(hard) +
  P(soft), MDL-010 as `model evaluate MDL-010` trained it on that world) on the first morning, and
  from then on any address whose score, recomputed each morning, passes that bar; K over SHARES.
- `mdl010_hH_sS`: MDL-010's policy with other thresholds (suppress at P(hard) >= H, hold at
  P(soft) >= S), over POLICY_GRID: its frontier, where the registered defaults are chosen.
- `mdl010_policy`: the registered policy as shipped (`policy.HygieneThresholds`: suppress, hold).
- `oracle`: the twin's truth holds exactly the addresses that are dead or full that morning.

Measured per world and candidate over the loop: messages sent, hard and soft bounces per message
sent (the bounce rate is both: spec §11, < 1%), spam-trap hits, expected human opens and the share
of `none`'s lost, and the good addresses withheld (alive, not a trap, mailbox not full that morning,
and at least one marketing message held back), of which suppressed (held back for good: the
hard-bounce floor, a sunset, MDL-010's suppress action; a hold after a soft bounce or on a soft
risk is for the day). The claim (issue: bounce rate under 1% while
withholding fewer good addresses than the rule does to get there) is read on the cheapest rule and
the cheapest MDL-010 point whose mean bounce rate is under the target.

Run: `.venv/bin/python benchmarks/mdl010_in_loop.py --evaluation DIR` where DIR is what
`adaptive-delivery model evaluate MDL-010 --out DIR` wrote on validation worlds ->
benchmarks/results/mdl010_in_loop.json (`--evaluation` of a sealed folder: mdl010_in_loop_sealed.json).
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
from adaptive_delivery.delivery.models.mdl006_churn_risk.model import days_since_open
from adaptive_delivery.delivery.models.mdl010_list_hygiene import model as mdl
from adaptive_delivery.delivery.models.mdl010_list_hygiene import policy
from adaptive_delivery.delivery.models.mdl010_list_hygiene.address import check_addresses
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.spec import get
from adaptive_delivery.twin.population import NEVER
from adaptive_delivery.twin.simulator import World

LOOP_DAYS = 10
TARGET_BOUNCE_RATE = 0.01  # spec §11: < 1%
# (a sunset of 7 days withheld about 14,000 of 20,000 addresses in a first validation run, at bounce
# rates no lower than 30 days' or none; 30 days' withheld about 5,500, the hold alone a few hundred)
RULE_GRID = tuple((np.inf, d) for d in (0, 1, 2, 3, 5, 7, 14)) + ((30.0, 0), (30.0, 3))
SHARES = (2,)
# MDL-010's policy at other thresholds (suppress P(hard), hold P(soft)): its frontier, and the
# validation worlds' choice of the registered defaults
POLICY_GRID = tuple((0.3, s) for s in (0.3, 0.45, 0.6, 0.75, 0.9)) + tuple((h, 0.6) for h in (0.1, 0.2, 0.5))
S = worlds.SUBSCRIBER
# what a feature store says of an address with no history yet
FRESH = {**{f"{S}{c}": mdl.NEVER_DAYS for c in ("days_since_last_open", "days_since_last_click", "days_since_last_bounce",
                                                 "days_since_last_delivery")},
         **{f"{S}{c}": 0.0 for c in ("opens_30d", "clicks_30d", "emails_received_30d", "emails_received_total",
                                      "hard_bounces_total", "soft_bounces_total", "complaints_total", "tenure_days")},
         f"{S}engagement_score": 50.0}
AGES = ("days_since_last_open", "days_since_last_click", "days_since_last_bounce", "days_since_last_delivery", "tenure_days")


_PEOPLE: dict[tuple[int, int], pd.DataFrame] = {}


def people(world: World) -> pd.DataFrame:
    """The request inputs a sender holds for every address: provider, acquisition source, the
    address's check, and its domain category. What an address is does not change once it joined,
    and every candidate's copy of a world signs up the same people: one table per world and list
    size, not one per candidate and call."""
    key = (world.config.seed, world.pop.size)
    if key not in _PEOPLE:
        subs = world.dimension_tables()["subscribers"].select(
            ["subscriber_id", "email", "provider", "domain_category", mdl.ACQUISITION]).to_pandas()
        subs[mdl.ADDRESS_CHECK] = check_addresses(subs["email"])
        _PEOPLE[key] = subs.rename(columns={"domain_category": f"{S}domain_category"}).set_index(
            "subscriber_id").drop(columns="email")
    return _PEOPLE[key]


def with_newcomers(features: pd.DataFrame, world: World) -> pd.DataFrame:
    """`features` with a fresh row for every address that joined since (and its request inputs)."""
    known = people(world)
    new = known.index.difference(features.index)
    if len(new):
        fresh = pd.DataFrame(FRESH, index=new)
        features = pd.concat([features, fresh])
    out = features.drop(columns=[c for c in known.columns if c in features.columns])
    return out.join(known, how="left")


def advance(features: pd.DataFrame, sends: pd.DataFrame, final: pd.DataFrame, opens: pd.Series) -> pd.DataFrame:
    """The next morning's features from today's: a day older; today's messages received; the
    deliveries, hard and soft bounces and human opens the sender saw (`final`: subscriber_id and
    each message's last status and bounce class)."""
    out = features.copy()
    for c in AGES:
        col = f"{S}{c}"
        out[col] = np.where(out[col] >= mdl.NEVER_DAYS, out[col], out[col] + 1.0) if c != "tenure_days" else out[col] + 1.0

    def count(ids: pd.Series) -> np.ndarray:
        return ids.value_counts().reindex(out.index, fill_value=0).to_numpy()

    received = count(sends["subscriber_id"])
    for c in ("emails_received_30d", "emails_received_total"):
        out[f"{S}{c}"] = out[f"{S}{c}"] + received
    delivered = count(final.loc[final["status"] == "accepted", "subscriber_id"])
    hard = count(final.loc[(final["status"] == "bounced") & (final["bounce_class"] == "hard"), "subscriber_id"])
    soft = count(final.loc[(final["status"] == "bounced") & (final["bounce_class"] == "soft"), "subscriber_id"])
    opened = count(opens)
    out[f"{S}hard_bounces_total"] += hard
    out[f"{S}soft_bounces_total"] += soft
    out[f"{S}opens_30d"] += opened
    out.loc[delivered > 0, f"{S}days_since_last_delivery"] = 0.5
    out.loc[(hard + soft) > 0, f"{S}days_since_last_bounce"] = 0.5
    out.loc[opened > 0, f"{S}days_since_last_open"] = 0.5
    return out


def bounce_risk(bundle: TrainedModel, features: pd.DataFrame) -> pd.DataFrame:
    proba = bundle.predict_proba(features.reset_index(drop=True))
    return pd.DataFrame({"hard": proba[:, mdl.HARD], "soft": proba[:, mdl.SOFT]}, index=features.index)


def soft_within(features: pd.DataFrame, days: float) -> np.ndarray:
    """Addresses that soft-bounced within the last `days` days (the last bounce was soft)."""
    soft = features[f"{S}soft_bounces_total"].to_numpy(dtype=float) > 0
    since = features[f"{S}days_since_last_bounce"].to_numpy(dtype=float)
    return soft & (since < days)


class Candidate:
    """One way of choosing the day's marketing messages, and the features it brings forward."""

    def __init__(self, kind: str, knobs: tuple[float, float], features: pd.DataFrame, bundle: TrainedModel,
                 world: World) -> None:
        self.kind, self.knobs, self.bundle, self.world = kind, knobs, bundle, world
        self.features = with_newcomers(features, world)
        self.bar = np.inf
        self.withheld: set[str] = set()
        self.suppressed: set[str] = set()
        if kind == "mdl010":  # the top K% of the addresses the hard-bounce floor leaves
            risk = bounce_risk(bundle, self.features)
            left = self.features[f"{S}hard_bounces_total"].to_numpy(dtype=float) < 1
            self.bar = float(np.quantile((risk["hard"] + risk["soft"])[left], 1.0 - knobs[0] / 100.0))

    def held(self) -> tuple[pd.Index, pd.Index]:
        """The addresses whose marketing mail is held this morning: (suppressed for good, held for
        the day)."""
        f = self.features
        floor = f[f"{S}hard_bounces_total"].to_numpy(dtype=float) >= 1
        if self.kind == "rule":
            sunset, soft_days = self.knobs
            stop, hold = floor | (days_since_open(f) >= sunset), soft_within(f, soft_days)
        elif self.kind == "mdl010":
            risk = bounce_risk(self.bundle, f)
            stop, hold = floor, (risk["hard"] + risk["soft"]).to_numpy() >= self.bar
        elif self.kind == "mdl010_policy":
            risk = bounce_risk(self.bundle, f)
            thresholds = policy.HygieneThresholds(*self.knobs) if any(self.knobs) else policy.HygieneThresholds()
            action = policy.decide(risk["hard"].to_numpy(), risk["soft"].to_numpy(), f[mdl.ADDRESS_CHECK].to_numpy(),
                                   thresholds)
            stop, hold = floor | (action == policy.SUPPRESS), action == policy.HOLD
        else:
            raise ValueError(self.kind)
        return f.index[stop], f.index[hold & ~stop]

    def send_filter(self, day: int, sends: pa.Table) -> np.ndarray:
        """The twin's hook: which of the day's planned messages go out (this morning's decisions)."""
        ids = sends.column("subscriber_id").to_numpy(zero_copy_only=False)
        marketing = sends.column("campaign_type").to_numpy(zero_copy_only=False) == "marketing"
        if self.kind == "none":
            return np.ones(len(ids), bool)
        rows = np.array([int(s[1:]) for s in ids], dtype=np.int64)
        if self.kind == "oracle":
            pop = self.world.pop
            stop = (pop.invalid_from[rows] <= day) & (pop.invalid_from[rows] != NEVER)
            blocked = stop | pop.mailbox_full[rows]
        else:
            self.features = with_newcomers(self.features, self.world)
            suppressed, held = self.held()
            stop = pd.Series(ids).isin(suppressed).to_numpy()
            blocked = stop | pd.Series(ids).isin(held).to_numpy()
        keep = ~marketing | ~blocked
        fine = good(self.world, rows, day)
        self.withheld |= set(ids[~keep & fine])
        self.suppressed |= set(ids[marketing & stop & fine])
        return keep

    def saw(self, sends: pd.DataFrame, final: pd.DataFrame, opens: pd.Series) -> None:
        if self.kind not in ("none", "oracle"):
            self.features = advance(with_newcomers(self.features, self.world), sends, final, opens)


def good(world: World, rows: np.ndarray, day: int) -> np.ndarray:
    """Addresses that are alive, not traps and whose mailbox is not full on `day`."""
    pop = world.pop
    return (pop.invalid_from[rows] > day) & ~pop.trap[rows] & ~pop.mailbox_full[rows]


def run_candidate(world: World, candidate: Candidate, days: int) -> dict[str, float]:
    """`days` days of the world under one candidate: what was sent and what came of it."""
    totals = dict.fromkeys(("sent", "hard_bounces", "soft_bounces", "trap_hits", "opens", "expected_opens"), 0.0)
    for _ in range(days):
        result = world.step_day(send_filter=candidate.send_filter)
        if not result.events:
            continue
        sends = result.events["sends"].select(["message_id", "subscriber_id"]).to_pandas()
        outcomes = result.events["outcomes"].select(["message_id", "subscriber_id", "event_ts", "status",
                                                     "bounce_class"]).to_pandas()
        final = outcomes.sort_values(["message_id", "event_ts"]).groupby("message_id").tail(1)
        engaged = result.events["engagement"].select(["subscriber_id", "event_type", "machine_open"]).to_pandas()
        truth = result.truth["messages"].select(["true_class", "spam_trap", "p_open", "human_open"]).to_pandas()
        human = engaged[(engaged["event_type"] == "open") & ~engaged["machine_open"].astype(bool)]
        totals["sent"] += len(sends)
        totals["hard_bounces"] += float((truth["true_class"] == "hard_bounce").sum())
        totals["soft_bounces"] += float((truth["true_class"] == "soft_bounce").sum())
        totals["trap_hits"] += float(truth["spam_trap"].sum())
        totals["opens"] += float(truth["human_open"].sum())
        totals["expected_opens"] += float(truth["p_open"].sum())
        candidate.saw(sends, final, human["subscriber_id"])
    sent = max(totals["sent"], 1.0)
    return {**totals, "hard_bounce_rate": totals["hard_bounces"] / sent, "soft_bounce_rate": totals["soft_bounces"] / sent,
            "bounce_rate": (totals["hard_bounces"] + totals["soft_bounces"]) / sent,
            "good_withheld": float(len(candidate.withheld)),
            "good_withheld_share": len(candidate.withheld) / max(world.pop.size, 1),
            "good_suppressed": float(len(candidate.suppressed))}


def rule_name(n: float, d: float) -> str:
    return f"rule_{'inf' if not np.isfinite(n) else int(n)}_{int(d)}"


def candidates() -> list[tuple[str, str, tuple[float, float]]]:
    return ([("none", "none", (0.0, 0.0))] + [(rule_name(n, d), "rule", (n, d)) for n, d in RULE_GRID]
            + [(f"mdl010_q{k:g}", "mdl010", (float(k), 0.0)) for k in SHARES]
            + [(f"mdl010_h{h:g}_s{s:g}", "mdl010_policy", (h, s)) for h, s in POLICY_GRID]
            + [("mdl010_policy", "mdl010_policy", (0.0, 0.0)), ("oracle", "oracle", (0.0, 0.0))])


def score_world(world_dir: Path, seed: int, size: worlds.WorldSize, holdout_days: int) -> dict[str, object]:
    bundle = worlds.trained_bundle(world_dir, get("MDL-010"))
    world, first = worlds.replay_to_holdout(seed, size, holdout_days)
    features = worlds.subscriber_morning(world_dir, world.config.start + timedelta(days=first), mdl.FEATURES)
    out: dict[str, object] = {"seed": seed, "loop_from_day": first}
    for name, kind, knobs in candidates():
        copy_of = copy.deepcopy(world)
        candidate = Candidate(kind, knobs, features, bundle, copy_of)
        metrics = run_candidate(copy_of, candidate, LOOP_DAYS)
        out |= {f"{name}_{k}": v for k, v in metrics.items()} | {f"{name}_bar": candidate.bar}
        print(f"  world {seed} {name}: sent {metrics['sent']:.0f}, bounces/msg {metrics['bounce_rate']:.4f} "
              f"(hard {metrics['hard_bounce_rate']:.4f}), traps {metrics['trap_hits']:.0f}, "
              f"good withheld {metrics['good_withheld']:.0f} (suppressed {metrics['good_suppressed']:.0f}), "
              f"opens {metrics['expected_opens']:.0f}", flush=True)
    for name, _, _ in candidates():
        out[f"{name}_opens_lost"] = 1.0 - out[f"{name}_expected_opens"] / out["none_expected_opens"]
    return out


def cheapest_under_target(means: dict[str, dict], names: list[str]) -> str | None:
    """Of `names`, the one withholding the fewest good addresses whose mean bounce rate is under
    the target (None where none is)."""
    under = [n for n in names if means["bounce_rate"][n]["mean"] < TARGET_BOUNCE_RATE]
    return min(under, key=lambda n: means["good_withheld"][n]["mean"]) if under else None


def rule_needs(row: pd.Series, bounce_rate: float, rules: list[str]) -> float:
    """The fewest good addresses any rule withheld in this world to bring the bounce rate to
    `bounce_rate` or under (inf where none did)."""
    reached = [row[f"{r}_good_withheld"] for r in rules if row[f"{r}_bounce_rate"] <= bounce_rate]
    return float(min(reached)) if reached else float("inf")


def versus_rule(frame: pd.DataFrame, name: str, rules: list[str]) -> dict[str, object]:
    """Per world, `name`'s good addresses withheld minus the fewest any rule withheld to reach
    `name`'s bounce rate: its mean and interval over the worlds where a rule got there."""
    needs = frame.apply(lambda row: rule_needs(row, row[f"{name}_bounce_rate"], rules), axis=1).to_numpy()
    reached = np.isfinite(needs)
    gap = frame[f"{name}_good_withheld"].to_numpy()[reached] - needs[reached]
    return {"worlds_a_rule_reached": int(reached.sum()),
            "difference": interval(gap).to_dict() if reached.sum() >= 2 else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluation", type=Path, required=True, help="a folder `model evaluate MDL-010` wrote")
    args = parser.parse_args()
    summary = json.loads((args.evaluation / worlds.SUMMARY_FILE).read_text())
    sealed = args.evaluation.name.startswith("sealed-")
    size = worlds.WorldSize(subscribers=summary["world"]["subscribers"], days=summary["world"]["days"])
    frame = pd.DataFrame([score_world(args.evaluation / f"world-{s}", s, size, summary["world"]["holdout_days"])
                          for s in summary["seeds"]])
    names = [name for name, _, _ in candidates()]
    metrics = ("bounce_rate", "hard_bounce_rate", "soft_bounce_rate", "trap_hits", "good_withheld",
               "good_withheld_share", "good_suppressed", "opens_lost", "sent")
    means = {m: {k: interval(frame[f"{k}_{m}"].to_numpy()).to_dict() for k in names} for m in metrics}
    rule = cheapest_under_target(means, [n for n in names if n.startswith("rule_")])
    model = cheapest_under_target(means, [n for n in names if n.startswith("mdl010")])
    result = {
        "worlds": "sealed" if sealed else "validation", "seeds": summary["seeds"], "world": summary["world"],
        "loop_days": LOOP_DAYS, "target_bounce_rate": TARGET_BOUNCE_RATE,
        "thresholds": vars(policy.HygieneThresholds()),
        **means,
        "reaches_target": {k: float((frame[f"{k}_bounce_rate"] < TARGET_BOUNCE_RATE).mean()) for k in names},
        "cheapest_rule_under_target": rule, "cheapest_mdl010_under_target": model,
        "mdl010_minus_rule_good_withheld": (interval((frame[f"{model}_good_withheld"] - frame[f"{rule}_good_withheld"])
                                                     .to_numpy()).to_dict() if rule and model else None),
        # each model point against the cheapest rule that reached its bounce rate, world by world
        "mdl010_minus_rule_at_equal_bounce_rate": {
            k: versus_rule(frame, k, [n for n in names if n.startswith("rule_")]) for k in names if k.startswith("mdl010")},
        "per_world": frame.to_dict("records"), "provenance": provenance(),
    }
    RESULTS.mkdir(exist_ok=True)
    stem = "mdl010_in_loop_sealed" if sealed else "mdl010_in_loop"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2, default=float))
    for m in ("bounce_rate", "good_withheld", "good_suppressed", "trap_hits", "opens_lost"):
        print(m, json.dumps({k: round(v["mean"], 5) for k, v in means[m].items()}))
    print("cheapest under target: rule", rule, "model", model)


if __name__ == "__main__":
    main()
