"""MDL-009 served: a plan record per IP from the exported actor or a rule champion, through the
rails; a resume or a stage jump waits for a human approval recorded in the ledger, which a plan then
consumes once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from adaptive_delivery.delivery.decisions.approvals import ApprovalLedger
from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl009_warmup.plan import FEATURE_NAMES
from adaptive_delivery.delivery.models.mdl009_warmup.policies import (
    RailedRule,
    WarmupState,
    run_warmup,
)
from adaptive_delivery.delivery.models.mdl009_warmup.service import (
    PLAN_COLUMNS,
    RulePlanner,
    check_actor,
    example_request,
    load_planner,
    plan_day,
)
from adaptive_delivery.delivery.schemas import WARMUP_ACTIONS
from adaptive_delivery.platform.rl.policy_export import MlpActor


def _always(action: str) -> MlpActor:
    """A discrete actor that always chooses `action` (its bias dominates)."""
    hidden = ((np.zeros((4, len(FEATURE_NAMES))), np.zeros(4)),)
    bias = np.full(len(WARMUP_ACTIONS), -5.0)
    bias[WARMUP_ACTIONS.index(action)] = 5.0
    return MlpActor(hidden, np.zeros((len(WARMUP_ACTIONS), 4)), bias, "discrete")


def _columns(frame):
    return {c: frame[c].to_numpy() for c in frame.columns}


def test_a_plan_record_per_ip_with_spec_fields_and_the_rails():
    out = plan_day(_always("increase_50"), _columns(example_request()), "7")
    assert list(out.columns) == list(PLAN_COLUMNS) and len(out) == 2
    clean, paused = out.iloc[0], out.iloc[1]
    assert clean.recommended_action == "increase_50_percent" and clean.new_daily_limit == 750
    assert clean.current_stage == "early" and clean.model_version == "7" and 0.99 < clean.confidence <= 1.0
    # the paused IP stays paused until a person approves the resume
    assert paused.new_daily_limit == 0 and "resume_needs_approval" in paused.rails_applied
    assert paused.needs_approval == "resume"


def test_an_approval_recorded_by_a_person_lets_the_resume_through_once(tmp_path):
    ledger = ApprovalLedger(tmp_path / "approvals.jsonl")
    ledger.record("192.0.2.11", "resume", "alex on call", note="bounces traced to one bad import")
    out = plan_day(_always("hold"), _columns(example_request()), "7", ledger)
    resumed = out.iloc[1]
    assert resumed.new_daily_limit == 4_000 and "resume_approved" in resumed.rails_applied
    assert resumed.approvals_used == "resume by alex on call"
    assert [e["event"] for e in ledger.history("192.0.2.11")] == ["approved", "used"]
    again = plan_day(_always("hold"), _columns(example_request()), "7", ledger).iloc[1]
    assert again.new_daily_limit == 0 and again.needs_approval == "resume"  # used approvals do not come back


def test_approvals_need_a_known_kind_a_name_and_an_ip(tmp_path):
    ledger = ApprovalLedger(tmp_path / "approvals.jsonl")
    with pytest.raises(ValueError, match="kind"):
        ledger.record("192.0.2.11", "skip_rails", "alex")
    with pytest.raises(ValueError, match="name"):
        ledger.record("192.0.2.11", "resume", "  ")
    with pytest.raises(ValueError, match="IP"):
        ledger.record(" ", "resume", "alex")
    assert ledger.history() == []


def test_the_rails_bound_whatever_the_policy_proposes():
    frame = example_request().iloc[[0]].assign(current_daily_limit=40_000.0)  # a bigger IP, +50% is allowed
    out = plan_day(_always("increase_50"), _columns(frame), "7").iloc[0]
    assert out.new_daily_limit == 50_000  # capped at the sender's volume, not 60,000
    spike = example_request().iloc[[0]].assign(bounce_rate=0.08)
    paused = plan_day(_always("increase_50"), _columns(spike), "7").iloc[0]
    assert paused.recommended_action == "pause_and_investigate" and "auto_pause" in paused.rails_applied


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.drop(columns=["postmaster_reputation"]), "missing inputs: postmaster_reputation"),
    (lambda f: f.assign(bounce_rate=-0.1), "bounce_rate"),
    (lambda f: f.assign(complaint_rate=2.0), "complaint_rate is a share"),
    (lambda f: f.assign(current_daily_limit=0.0), "current_daily_limit"),
    (lambda f: f.assign(postmaster_reputation=np.inf), "postmaster_reputation"),
    (lambda f: f.assign(postmaster_reputation=2.5), "reputation-feed reading"),
    (lambda f: f.assign(postmaster_reputation=5), "reputation-feed reading"),
    (lambda f: f.assign(sent="many"), "'sent' must be numeric"),
    (lambda f: f.iloc[0:0], "empty request"),
])
def test_bad_requests_get_a_reason(change, message):
    with pytest.raises(RequestError, match=message):
        plan_day(_always("hold"), _columns(change(example_request())), "7")


def test_an_actor_of_another_shape_is_refused():
    check_actor(_always("hold"))
    wrong = MlpActor(((np.zeros((4, 3)), np.zeros(4)),), np.zeros((len(WARMUP_ACTIONS), 4)),
                     np.zeros(len(WARMUP_ACTIONS)), "discrete")
    with pytest.raises(ValueError, match="retrain MDL-009"):
        check_actor(wrong)


@dataclass
class _Recording(RailedRule):
    """A railed rule that remembers each morning's state and what it proposed."""

    seen: list[tuple[WarmupState, float]] = field(default_factory=list)

    def propose(self, state: WarmupState) -> float:
        proposed = super().propose(state)
        self.seen.append((state, proposed))
        return proposed


@pytest.mark.parametrize("rule", [RailedRule(0.25), RailedRule(0.5, raise_unseen=True)])
def test_a_served_rule_champion_proposes_what_the_evaluated_rule_proposed_every_morning(rule, tmp_path):
    recording = _Recording(rule.step, rule.raise_unseen)
    run_warmup(recording, seed=1001, days=20)
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(rule.config()))
    served = load_planner(path)
    assert isinstance(served, RulePlanner) and served.name == rule.name
    volumes, confidence = served.propose([state for state, _ in recording.seen])
    np.testing.assert_allclose(volumes, [proposed for _, proposed in recording.seen])
    assert (confidence == 1.0).all() and len({round(v) for v in volumes}) > 3  # the IP did grow


def test_a_rule_champions_plan_records():
    bold, cautious = RulePlanner(0.5, True, "bold"), RulePlanner(0.25, False, "cautious")
    frame = example_request().assign(paused=0.0)
    frame.loc[1, "sent"] = 0.0  # no day to read: the bold rule raises, the cautious one holds
    assert list(plan_day(bold, _columns(frame), "3").new_daily_limit) == [750, 6_000]
    assert list(plan_day(cautious, _columns(frame), "3").new_daily_limit) == [625, 4_000]
    degraded = frame.iloc[[0]].assign(deferral_rate=0.15)
    out = plan_day(bold, _columns(degraded), "3").iloc[0]
    assert out.new_daily_limit == 375 and out.recommended_action == "decrease_25_percent" and out.confidence == 1.0


@pytest.mark.parametrize(("config", "message"), [
    ({"rule": "fixed", "step": 0.5}, "not a railed"),
    ({"rule": "railed", "step": 2.0}, "step"),
    ({"rule": "railed", "step": "fast"}, "step"),
])
def test_a_rule_file_that_is_not_a_railed_rule_is_refused(config, message, tmp_path):
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        load_planner(path)


def test_mdl004_reading_holds_the_volume_and_says_why():
    frame = example_request().iloc[[0]]
    ok = plan_day(_always("increase_50"), _columns(frame.assign(reputation_health=92.0)), "7").iloc[0]
    assert ok.new_daily_limit == 750 and "reputation_hold" not in ok.rails_applied
    for reading in ({"reputation_health": 31.0}, {"reputation_health": 92.0, "reputation_alert": 1.0}):
        held = plan_day(_always("increase_50"), _columns(frame.assign(**reading)), "7").iloc[0]
        assert held.new_daily_limit == 500 and "reputation_hold" in held.rails_applied
        assert "MDL-004 health" in held.risk_factors
    no_reading = plan_day(_always("increase_50"), _columns(frame.assign(reputation_health=np.nan)), "7").iloc[0]
    assert no_reading.new_daily_limit == 750


@pytest.mark.parametrize(("reading", "message"), [
    ({"reputation_health": 140.0}, "between 0 and 100"),
    ({"reputation_health": "good"}, "reputation_health"),
    ({"reputation_health": 50.0, "reputation_alert": 0.5}, "reputation_alert"),
    ({"reputation_alert": 1.0}, "needs 'reputation_health'"),
])
def test_a_bad_mdl004_reading_gets_a_reason(reading, message):
    with pytest.raises(RequestError, match=message):
        plan_day(_always("hold"), _columns(example_request().assign(**reading)), "7")
