"""MDL-009 as a service: one row per IP (its plan in force and yesterday's observed outcomes, and
optionally MDL-004's reading of it: `decisions.service.REPUTATION_INPUTS`) in,
the day's plan record of spec §3.5 out, with the rails applied and any human approval recorded
through the command line consumed. Pure numpy: the serving runtime and the pyfunc model both answer
with it. The champion proposing the volumes is either the learned policy (its exported actor) or,
while no learned policy beats it, the best railed rule (`RulePlanner`, a JSON file)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.decisions.approvals import ApprovalLedger
from adaptive_delivery.delivery.decisions.rails import DayMetrics, WarmupRails
from adaptive_delivery.delivery.decisions.service import (
    MAX_BATCH,
    RequestError,
    check_reading,
    non_negative_numbers,
    reputation_readings,
)
from adaptive_delivery.delivery.features.definitions import warmup_stage
from adaptive_delivery.delivery.knowledge.limits import KnownLimits
from adaptive_delivery.delivery.models.mdl009_warmup.plan import (
    FEATURE_NAMES,
    ObservedState,
    action_for,
    action_volume,
    railed_rule_volume,
    warmup_features,
    warmup_plan,
)
from adaptive_delivery.delivery.schemas import (
    WARMUP_ACTIONS,
    WARMUP_DAY_SOURCES,
    WARMUP_KEYS,
    WARMUP_STATE_SOURCES,
)
from adaptive_delivery.platform.rl.policy_export import MlpActor

KEYS = WARMUP_KEYS
# The IP's plan in force, and yesterday's outcomes as the sender's logs show them (sent 0: no day yet).
STATE = tuple(WARMUP_STATE_SOURCES)
DAY = tuple(WARMUP_DAY_SOURCES)
REQUIRED = (*KEYS, *STATE, *DAY)
PLAN_COLUMNS = ("ip", "domain", "current_stage", "current_daily_limit", "recommended_action", "new_daily_limit",
                "next_evaluation", "confidence", "risk_factors", "rails_applied", "needs_approval",
                "approvals_used", "model_version")


def check_actor(actor: MlpActor) -> MlpActor:
    """Refuse a policy trained on another feature set or action space before it plans a day."""
    if actor.kind != "discrete" or actor.n_features != len(FEATURE_NAMES) or len(actor.b_out) != len(WARMUP_ACTIONS):
        raise ValueError(f"the policy reads {actor.n_features} features into {len(actor.b_out)} {actor.kind} actions; "
                         f"this version computes {len(FEATURE_NAMES)} features and {len(WARMUP_ACTIONS)} actions: "
                         "retrain MDL-009")
    return actor


class Planner(Protocol):
    """Whatever proposes tomorrow's volumes before the rails bound them."""

    kind: ClassVar[str]  # "learned" | "rule"

    def propose(self, states: Sequence[ObservedState]) -> tuple[np.ndarray, np.ndarray]:
        """(proposed volume per IP, confidence of each proposal)."""
        ...


@dataclass(frozen=True)
class ActorPlanner:
    """The learned policy: its exported actor picks one of spec §3.5's actions per IP."""

    actor: MlpActor
    kind: ClassVar[str] = "learned"

    def propose(self, states: Sequence[ObservedState]) -> tuple[np.ndarray, np.ndarray]:
        actions, confidence = self.actor.act(np.stack([warmup_features(s) for s in states]))
        volumes = [action_volume(int(a), s.limit) for a, s in zip(actions, states, strict=True)]
        return np.asarray(volumes, dtype=np.float64), np.asarray(confidence, dtype=np.float64)


@dataclass(frozen=True)
class RulePlanner:
    """The best railed rule as champion (`policies.RailedRule.config()` written as JSON): the same
    arithmetic as the rule the evaluation measured, so what is served is what was judged."""

    step: float
    raise_unseen: bool
    name: str
    kind: ClassVar[str] = "rule"

    def propose(self, states: Sequence[ObservedState]) -> tuple[np.ndarray, np.ndarray]:
        volumes = [railed_rule_volume(s.limit, s.last, self.step, self.raise_unseen) for s in states]
        return np.asarray(volumes, dtype=np.float64), np.ones(len(states))

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> RulePlanner:
        """Refuse a file that is not a railed rule's, or one whose step is not a raise."""
        if config.get("rule") != "railed":
            raise ValueError(f"not a railed warm-up rule: {dict(config)}")
        step = config.get("step")
        if not isinstance(step, int | float) or not 0 < step <= 1:
            raise ValueError(f"a railed rule's step is a raise in (0, 1], got {step!r}")
        return cls(step=float(step), raise_unseen=bool(config.get("raise_unseen", False)),
                   name=str(config.get("name", f"railed rule +{step:.0%}")))


def load_planner(path: Path) -> Planner:
    """The champion's file: an exported actor (*.npz) or a railed rule (*.json)."""
    if path.suffix == ".json":
        return RulePlanner.from_config(json.loads(path.read_text()))
    return ActorPlanner(check_actor(MlpActor.load(path)))


def as_planner(champion: Planner | MlpActor) -> Planner:
    return ActorPlanner(check_actor(champion)) if isinstance(champion, MlpActor) else champion


def validate(columns: Mapping[str, np.ndarray]) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """Columns -> (ips, domains, numeric columns); RequestError on anything a caller must fix."""
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RequestError(f"missing inputs: {', '.join(missing)}")
    ips = [str(v) for v in np.asarray(columns["ip"], dtype=object).reshape(-1)]
    n = len(ips)
    if n == 0:
        raise RequestError("empty request")
    if n > MAX_BATCH:
        raise RequestError(f"batch of {n} rows exceeds {MAX_BATCH}")
    if any(not ip.strip() for ip in ips):
        raise RequestError("every row needs its ip")
    domains = [str(v) for v in np.asarray(columns["domain"], dtype=object).reshape(-1)]
    if len(domains) != n:
        raise RequestError(f"input 'domain' has {len(domains)} values for {n} rows")
    numbers = {name: non_negative_numbers(columns, name, n) for name in (*STATE, *DAY)}
    if (numbers["current_daily_limit"] <= 0).any() or (numbers["target_daily_volume"] <= 0).any():
        raise RequestError("current_daily_limit and target_daily_volume must be > 0 messages/day")
    for rate in ("rolling_bounce_rate", "rolling_complaint_rate", "bounce_rate", "complaint_rate", "deferral_rate",
                 "block_rate", "baseline_block_rate", "rate_limit_refusal_rate"):
        if (numbers[rate] > 1).any():
            raise RequestError(f"{rate} is a share of the day's mail: between 0 and 1")
    check_reading(numbers["postmaster_reputation"], "postmaster_reputation")
    return ips, domains, numbers


def ip_state(numbers: dict[str, np.ndarray], i: int) -> ObservedState:
    sent = float(numbers["sent"][i])
    last = None if sent <= 0 else DayMetrics(
        sent=sent, bounce_rate=float(numbers["bounce_rate"][i]), complaint_rate=float(numbers["complaint_rate"][i]),
        block_rate=float(numbers["block_rate"][i]), rate_limit_refusal_rate=float(numbers["rate_limit_refusal_rate"][i]),
        deferral_rate=float(numbers["deferral_rate"][i]), baseline_block_rate=float(numbers["baseline_block_rate"][i]))
    limit = float(numbers["current_daily_limit"][i])
    return ObservedState(limit=limit, target=float(numbers["target_daily_volume"][i]), paused=bool(numbers["paused"][i] > 0),
                   stage=warmup_stage(limit), days_in_stage=int(numbers["days_in_stage"][i]),
                   clean_streak=int(numbers["clean_streak"][i]), last=last,
                   rolling_bounce=float(numbers["rolling_bounce_rate"][i]),
                   rolling_complaint=float(numbers["rolling_complaint_rate"][i]),
                   postmaster_reputation=int(numbers["postmaster_reputation"][i]))


def plan_day(champion: Planner | MlpActor, columns: Mapping[str, np.ndarray], model_version: str,
             ledger: ApprovalLedger | None = None, limits: KnownLimits | None = None) -> pd.DataFrame:
    """Tomorrow's plan per IP: the champion proposes, the rails bound it (below what the knowledge
    base learned one of the sender's IPs may carry in a day, where `limits` knows), approvals
    recorded for the IP (and still pending) let a stage jump or a resume through, and are then
    marked used."""
    ips, domains, numbers = validate(columns)
    readings = reputation_readings(columns, len(ips))
    states = [ip_state(numbers, i) for i in range(len(ips))]
    volumes, confidence = as_planner(champion).propose(states)
    ceiling, ceiling_source = (limits or KnownLimits.none()).daily_ceiling()
    rails = WarmupRails(max_volume=max(ceiling, WarmupRails.min_volume))
    rows = []
    for i, (ip, state) in enumerate(zip(ips, states, strict=True)):
        proposed = min(float(volumes[i]), state.target)
        approvals = ledger.approvals_for(ip) if ledger is not None else ()
        decision = rails.apply(proposed, state.limit, state.last, paused=state.paused, approvals=approvals,
                               reputation=readings[i])
        plan = warmup_plan(ip=ip, domain=domains[i], current_limit=state.limit, decision=decision,
                           action=action_for(proposed, state.limit), confidence=float(confidence[i]), last=state.last)
        if ledger is not None:
            ledger.mark_used(ip, decision.approvals_used, plan=f"{model_version}:{plan['recommended_action']}")
        if "learned_capacity" in decision.rails:
            plan["risk_factors"] = [*plan["risk_factors"], f"capped at {ceiling:,.0f} a day: {ceiling_source}"]
        if readings[i] is not None and readings[i].holds:
            plan["risk_factors"] = [*plan["risk_factors"], f"MDL-004 health {readings[i].health_score:.0f}"
                                    + (" with an alert" if readings[i].alert else "")]
        rows.append({**plan, "approvals_used": [f"{a.kind} by {a.approved_by}" for a in decision.approvals_used],
                     "model_version": model_version})
    frame = pd.DataFrame(rows, columns=list(PLAN_COLUMNS))
    for col in ("risk_factors", "rails_applied", "needs_approval", "approvals_used"):
        frame[col] = frame[col].map(lambda v: ";".join(map(str, v)))
    return frame


def example_request() -> pd.DataFrame:
    """Two IPs: a cold one after a clean first day, and one paused on a bounce spike."""
    return pd.DataFrame([
        {"ip": "192.0.2.10", "domain": "mail.example.com", "current_daily_limit": 500.0, "target_daily_volume": 50_000.0,
         "paused": 0.0, "days_in_stage": 1.0, "clean_streak": 1.0, "rolling_bounce_rate": 0.008,
         "rolling_complaint_rate": 0.0001, "postmaster_reputation": 3, "sent": 500.0, "bounce_rate": 0.008,
         "complaint_rate": 0.0001, "deferral_rate": 0.01, "block_rate": 0.004, "baseline_block_rate": 0.004,
         "rate_limit_refusal_rate": 0.0},
        {"ip": "192.0.2.11", "domain": "mail.example.com", "current_daily_limit": 4_000.0,
         "target_daily_volume": 50_000.0, "paused": 1.0, "days_in_stage": 3.0, "clean_streak": 0.0,
         "rolling_bounce_rate": 0.03, "rolling_complaint_rate": 0.0004, "postmaster_reputation": 0, "sent": 0.0,
         "bounce_rate": 0.0, "complaint_rate": 0.0, "deferral_rate": 0.0, "block_rate": 0.0, "baseline_block_rate": 0.0,
         "rate_limit_refusal_rate": 0.0},
    ])
