"""The three senders of the KPI run, built from six parts a sender decides with every morning:

- **hygiene** (which addresses get no marketing mail): the best rule (stop after one hard bounce,
  hold for `soft_hold_days` after a soft bounce: mdl010_in_loop.json's cheapest rule under 1%),
  MDL-010's policy, or the truth (dead, full or a trap);
- **engagement** (who is not mailed for not opening): a sunset rule (`sunset_days` without a human
  open), or the sunset's budget (as many of the day's marketing messages as it would hold) spent on
  the messages least likely to be opened: by MDL-005's P(open), or by the twin's propensity. The
  adaptive sender keeps the sunset (MDL-005 did worse than it on the validation worlds) and tries
  MDL-005 as a challenger;
- **risk** (who is mailed less for the complaints and unsubscribes they bring): nothing (business
  as usual runs no such model), MDL-006's list policy, or the truth (the habitual complainers);
- **timing** (each campaign message's hour): the campaign's best hour (spec §3.3's baseline, the
  campaign moved whole), MDL-002's schedule under the 15% cap, or each person's true best hours
  under the same cap;
- **content** (the pre-send check): none, or MDL-007's gate (suggestions applied, held when still
  too risky); the oracle uses MDL-007's gate too, as the twin has no truer rewrite;
- **delivery** (each planned message): sent as planned, or MDL-001's decision service (a message
  it would skip or defer is held back). The oracle uses MDL-001 too: the twin's per-message law
  depends on the day's own traffic, which no one knows before the day's decisions.

A part's model is served only where its pipeline's gate promoted it; a part whose gate stopped
its model runs as business as usual runs it (`served`), as the deployed system would.

Every learned part reads only the sender's own records: the subscriber features the feature store
would hold that morning, computed by the reference feature build (held equal to the Spark job by
the parity test) from the sender's own lake: the shared history and the days this sender ran.
MDL-001 reads every feature table so described, joined per message as the rollout scenario joins
them (`scenarios.rollout.decision_rows`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.delivery.features import reference
from adaptive_delivery.delivery.models.mdl002_send_time import model as mdl002
from adaptive_delivery.delivery.models.mdl002_send_time import schedule
from adaptive_delivery.delivery.models.mdl006_churn_risk import model as mdl006
from adaptive_delivery.delivery.models.mdl006_churn_risk import policy as risk_policy
from adaptive_delivery.delivery.models.mdl010_list_hygiene import model as mdl010
from adaptive_delivery.delivery.models.mdl010_list_hygiene import policy as hygiene_policy
from adaptive_delivery.delivery.models.mdl010_list_hygiene.address import check_addresses
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.twin.population import NEVER
from adaptive_delivery.twin.simulator import DayResult, World, write_day

S = "subscriber_features__"
PARTS = ("hygiene", "engagement", "risk", "timing", "content", "delivery")
RULE, MODEL, TRUTH, NONE = "rule", "model", "truth", "none"
# which model each part's learned form is
PART_MODEL = {"hygiene": "MDL-010", "engagement": "MDL-005", "risk": "MDL-006", "timing": "MDL-002", "content": "MDL-007",
              "delivery": "MDL-001"}
HOURS = 24

ContentGate = Callable  # twin content -> twin content | None (mdl007_content.twin_gate)


@dataclass(frozen=True)
class Rules:
    """The business-as-usual knobs (named settings; see the module's docstring for their source)."""

    soft_hold_days: float = 2.0  # mdl010_in_loop.json: the cheapest rule under 1% bounces (rule_inf_2)
    sunset_days: float = 30.0  # no human open in 30 days (never: since joining); shorter sunsets lose most opens


@dataclass(frozen=True)
class Design:
    """Which form each part takes: RULE, MODEL or TRUTH (risk, content and delivery: NONE for none)."""

    name: str
    hygiene: str
    engagement: str
    risk: str
    timing: str
    content: str
    delivery: str

    def without(self, part: str, usual: Design) -> Design:
        """This design with one part as `usual` has it (an ablation)."""
        return replace(self, name=f"{self.name}{WITHOUT}{PART_MODEL[part]}", **{part: getattr(usual, part)})

    def with_model(self, part: str) -> Design:
        """This design with one part's model in the rule's place (a challenger's trial)."""
        return replace(self, name=f"{self.name}{WITH}{PART_MODEL[part]}", **{part: MODEL})


WITHOUT, WITH = "_without_", "_with_"
BUSINESS_AS_USUAL = Design("business_as_usual", RULE, RULE, NONE, RULE, NONE, NONE)
# Engagement keeps the sunset: on the validation worlds MDL-005's budget did worse than the sunset it
# replaced (bounce and open rate; kpi_validation.json of version 4e79674d). It runs as a challenger.
ADAPTIVE = Design("adaptive", MODEL, RULE, MODEL, MODEL, MODEL, MODEL)
ORACLE = Design("oracle", TRUTH, TRUTH, TRUTH, TRUTH, MODEL, MODEL)


def designs(ablations: bool, with_content: bool) -> list[Design]:
    """The senders of one run: the three, then the adaptive sender less each learned part in turn
    and with each challenger (a part whose model it does not ship) in the rule's place."""
    found = [BUSINESS_AS_USUAL, ADAPTIVE, ORACLE]
    if not with_content:
        found = [replace(d, content=NONE) for d in found]
    if ablations:
        adaptive = found[1]
        found += [adaptive.without(p, found[0]) for p in PARTS if getattr(adaptive, p) == MODEL]
        found += [adaptive.with_model(p) for p in challengers(adaptive, with_content)]
    return found


def challengers(design: Design, with_content: bool) -> list[str]:
    """The parts whose model `design` does not ship (content only where a scorer is given)."""
    return [p for p in PARTS if getattr(design, p) != MODEL and (p != "content" or with_content)]


@dataclass(frozen=True)
class Models:
    """The learned parts: each trained by its own pipeline on the world's history."""

    hygiene: TrainedModel | None = None  # MDL-010
    engagement: TrainedModel | None = None  # MDL-005
    risk: TrainedModel | None = None  # MDL-006
    timing: TrainedModel | None = None  # MDL-002
    content: ContentGate | None = None  # MDL-007's twin gate
    delivery: TrainedModel | None = None  # MDL-001


def served(design: Design, models: Models) -> Design:
    """The design as the system can serve it: a part whose model is missing (its gate stopped it,
    or no scorer was given) runs as business as usual runs it."""
    missing = {p: getattr(BUSINESS_AS_USUAL, p) for p in PARTS if getattr(design, p) == MODEL and getattr(models, p) is None}
    return replace(design, **missing)


# ---- the sender's records --------------------------------------------------------------------
class Records:
    """One sender's own lake (the shared history, then its own days) and what the feature store
    would hold of its subscribers at any morning."""

    def __init__(self, lake_root: Path, truth_dir: Path, address_checks: dict[object, str] | None = None) -> None:
        self.lake = EventsLake(lake_root)
        self.truth_dir = truth_dir
        # each address is checked once, not every morning (senders of one world may share the verdicts)
        self.address_checks: dict[object, str] = address_checks if address_checks is not None else {}

    def write(self, result: DayResult, world: World) -> None:
        write_day(result, self.lake, self.truth_dir)
        for kind, table in world.dimension_tables().items():
            self.lake.write_dimension(kind, table)

    def morning(self, at: datetime) -> dict[str, pd.DataFrame]:
        """Every feature table as the store would hold it at `at` (the reference build)."""
        return reference.build_all(self.lake.root, fd.Instant(at))

    def subscribers(self, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """Every subscriber who had joined by the morning, with their features (named as the models
        read them), the provider, acquisition source and address check of their record."""
        frame = tables["subscriber"].drop(columns="event_timestamp").set_index("subscriber_id")
        frame = frame.rename(columns={c: c if c == "provider" else f"{S}{c}" for c in frame.columns})
        people = self.lake.read("subscribers", columns=["subscriber_id", "email", mdl010.ACQUISITION]).to_pandas()
        people = people.set_index("subscriber_id").reindex(frame.index)
        frame[mdl010.ACQUISITION] = people[mdl010.ACQUISITION].to_numpy()
        frame[mdl010.ADDRESS_CHECK] = check_addresses(people["email"], self.address_checks)
        return frame


# ---- the parts -------------------------------------------------------------------------------
def recipients(sends: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Each planned message's subscriber, and whether it is marketing mail (transactional mail is owed)."""
    ids = sends.column("subscriber_id").to_numpy(zero_copy_only=False)
    marketing = sends.column("campaign_type").to_numpy(zero_copy_only=False) == "marketing"
    return ids, marketing


def _rows(ids: np.ndarray) -> np.ndarray:
    return np.array([int(s[1:]) for s in ids], dtype=np.int64)


def hygiene_held(kind: str, features: pd.DataFrame, ids: np.ndarray, rules: Rules, model: TrainedModel | None,
                 world: World, day: int) -> np.ndarray:
    """Per planned message: its address gets no marketing mail today."""
    if kind == TRUTH:
        pop, rows = world.pop, _rows(ids)
        return ((pop.invalid_from[rows] <= day) & (pop.invalid_from[rows] != NEVER)) | pop.mailbox_full[rows] | pop.trap[rows]
    f = features.reindex(ids)
    hard = f[mdl010.HARD_TOTAL].fillna(0.0).to_numpy(dtype=float) >= 1  # the floor every sender runs
    if kind == RULE:
        soft = f[mdl010.SOFT_TOTAL].fillna(0.0).to_numpy(dtype=float) > 0
        recent = f[mdl010.SINCE_BOUNCE].fillna(fd.NEVER_DAYS).to_numpy(dtype=float) < rules.soft_hold_days
        return hard | (soft & recent)
    proba = model.predict_proba(f.reset_index(drop=True))
    action = hygiene_policy.decide(proba[:, mdl010.HARD], proba[:, mdl010.SOFT], f[mdl010.ADDRESS_CHECK].to_numpy())
    return hard | (action != hygiene_policy.SEND)


def sunset(features: pd.DataFrame, ids: np.ndarray, rules: Rules) -> np.ndarray:
    """Per planned message: its person has gone `sunset_days` without a human open (one who never
    opened: since joining)."""
    f = features.reindex(ids)
    return mdl006.days_since_open(f.fillna({mdl006.TENURE: 0.0})) >= rules.sunset_days


def engagement_held(kind: str, features: pd.DataFrame, tables: dict[str, pd.DataFrame], sends: pa.Table,
                    candidate: np.ndarray, rules: Rules, model: TrainedModel | None, world: World) -> np.ndarray:
    """Per planned message: held for its person's lack of engagement. Only `candidate` messages
    (marketing mail the earlier parts let through) are considered; the model and the truth hold as
    many as the sunset would, the least likely to be opened."""
    ids = sends.column("subscriber_id").to_numpy(zero_copy_only=False)
    quiet = candidate & sunset(features, ids, rules)
    budget = int(quiet.sum())
    if kind == RULE or budget == 0:
        return quiet
    where = np.flatnonzero(candidate)
    if kind == MODEL:
        from adaptive_delivery.delivery.models.mdl005_engagement.model import CLASSES
        from adaptive_delivery.delivery.scenarios.rollout import decision_rows

        proba = model.predict_proba(decision_rows(tables, sends.take(where).to_pandas()))
        p_open = 1.0 - proba[:, CLASSES.index("not_opened")]
    else:
        truth = world.subscriber_truth().select(["subscriber_id", "engagement_propensity"]).to_pandas()
        p_open = truth.set_index("subscriber_id")["engagement_propensity"].reindex(ids[where]).fillna(0.0).to_numpy()
    held = np.zeros(len(ids), dtype=bool)
    held[where[np.argsort(p_open, kind="stable")[:budget]]] = True
    return held


class Risk:
    """The risk part's state over the run (MDL-006's list policy remembers who it asked and when)."""

    def __init__(self, kind: str, model: TrainedModel | None, world: World) -> None:
        self.kind, self.model = kind, model
        self.plan = risk_policy.ListPolicy() if kind == MODEL else None
        if kind == TRUTH:
            truth = world.subscriber_truth().select(["subscriber_id", "complainer"]).to_pandas()
            self.complainers = set(truth.loc[truth["complainer"].astype(bool), "subscriber_id"])

    def keep(self, features: pd.DataFrame, day: int, ids: np.ndarray, marketing: np.ndarray) -> np.ndarray:
        """Which of these planned messages go out (transactional ones always)."""
        if self.kind == NONE:
            return np.ones(len(ids), dtype=bool)
        if self.kind == TRUTH:
            return ~marketing | ~pd.Series(ids).isin(self.complainers).to_numpy()
        rows = features.reset_index(drop=True)
        proba = self.model.predict_proba(rows)
        history = np.clip(features[mdl006.TENURE].to_numpy(dtype=float), 1.0, 30.0)
        cadence = features[mdl006.RECEIVED].to_numpy(dtype=float) * 30.0 / history
        unsubscribe = risk_policy.thirty_day_risk(proba[:, mdl006.UNSUBSCRIBED], cadence)
        complaint = risk_policy.complaints_per_open(proba[:, mdl006.COMPLAINED], mdl006.open_rate(rows))
        self.plan.set_actions(features.index, risk_policy.decide(unsubscribe, complaint))
        return self.plan.keep(day, ids, marketing)

    def opened(self, subscriber_ids) -> None:
        if self.plan is not None:
            self.plan.opened(subscriber_ids)


def _mdl002_rows(features: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    rows = features.reindex(ids)
    heat = [v if isinstance(v, list | np.ndarray) else np.zeros(HOURS) for v in rows[mdl002.OPEN_HEATMAP]]
    return pd.DataFrame({mdl002.OPEN_HEATMAP: heat, mdl002.OPENS: rows[mdl002.OPENS].fillna(0.0).to_numpy(),
                         mdl002.RECEIVED: rows[mdl002.RECEIVED].fillna(0.0).to_numpy(),
                         mdl002.KIND: rows[mdl002.KIND].to_numpy(), mdl002.SEND_HOUR: 0.0, "is_transactional": 0.0})


def send_hours(kind: str, features: pd.DataFrame, sends: pa.Table, model: TrainedModel | None,
               world: World) -> np.ndarray:
    """Each planned message's UTC hour (nan: as planned; transactional mail is never moved)."""
    frame = sends.select(["subscriber_id", "campaign_id", "campaign_type", "send_ts"]).to_pandas()
    hours = np.full(len(frame), np.nan)
    marketing = frame["campaign_type"].to_numpy() == "marketing"
    where = np.flatnonzero(marketing)
    truth = None
    if kind == TRUTH:
        table = world.subscriber_truth().select(["subscriber_id", "open_prob_by_utc_hour"]).to_pandas()
        truth = table.set_index("subscriber_id")["open_prob_by_utc_hour"]
    for _, members in frame.iloc[where].groupby("campaign_id").indices.items():
        pos = where[members]
        ids = frame["subscriber_id"].iloc[pos].to_numpy()
        if kind == RULE:  # the campaign moved whole to its audience's most common open hour, its pace kept
            heat = np.vstack(_mdl002_rows(features, ids)[mdl002.OPEN_HEATMAP].to_numpy()).astype(float)
            planned = frame["send_ts"].iloc[pos].dt.hour.to_numpy()
            hours[pos] = (mdl002.campaign_hour(np.nan_to_num(heat)) + planned - planned.min()) % HOURS
            continue
        if kind == TRUTH:
            scores = np.vstack(truth.loc[ids].to_numpy()).astype(float)
        else:
            scores = model.model.schedule_scores(model.encode(_mdl002_rows(features, ids)))
        hours[pos] = schedule.assign(scores).hour
    return hours


def delivery_held(tables: dict[str, pd.DataFrame], sends: pa.Table, model: TrainedModel) -> tuple[np.ndarray, np.ndarray]:
    """Per planned message: MDL-001's decision holds it back (skip or defer), and its most likely
    class (an index into the model's classes: what §11's prediction accuracy is measured on)."""
    from adaptive_delivery.delivery.decisions.actions import decide
    from adaptive_delivery.delivery.scenarios.rollout import SENT_ACTIONS, decision_rows

    frame = sends.to_pandas()
    proba = model.predict_proba(decision_rows(tables, frame))
    action = decide(proba).action
    return ~np.isin(action, SENT_ACTIONS), proba.argmax(axis=1)
