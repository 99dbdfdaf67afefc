"""MDL-009's harness and baselines: spec §3.5 criteria, the rails on every railed policy's whole
warm-up, the on-call approval to resume, full-capacity accounting and the plan record."""

import math

import numpy as np
import pytest

from adaptive_delivery.delivery.decisions.rails import DayMetrics, RailedVolume
from adaptive_delivery.delivery.models.mdl009_warmup.plan import (
    action_for,
    action_volume,
    warmup_plan,
)
from adaptive_delivery.delivery.models.mdl009_warmup.policies import (
    AUDIENCES,
    ON_CALL,
    FixedDoubling,
    RuleEscalation,
    WarmupOracle,
    carried_full_volume,
    meets_criteria,
    run_warmup,
)
from adaptive_delivery.delivery.models.mdl009_warmup.report import evaluate, policy_metrics, table
from adaptive_delivery.twin.envs import WarmupEnv


def _day(**kw) -> DayMetrics:
    base = {"sent": 10_000, "bounce_rate": 0.005, "complaint_rate": 0.0001, "block_rate": 0.005,
            "rate_limit_refusal_rate": 0.0, "deferral_rate": 0.01, "baseline_block_rate": 0.005}
    return DayMetrics(**(base | kw))


def test_criteria_tighten_with_the_stage():
    day = _day(bounce_rate=0.012, complaint_rate=0.00025)
    assert meets_criteria(day, 1)  # early: bounce < 2%, complaint < 0.05%
    assert meets_criteria(day, 2)  # mid: bounce < 1.5%, complaint < 0.03%
    assert not meets_criteria(_day(complaint_rate=0.00035), 2)
    assert not meets_criteria(_day(deferral_rate=0.06), 2)  # mid adds deferral < 5%
    assert not meets_criteria(_day(bounce_rate=0.012), 3)  # late: bounce < 1%
    assert not meets_criteria(_day(rate_limit_refusal_rate=0.002), 1)  # a block event fails every stage
    assert not meets_criteria(None, 1)


def test_a_refusal_jump_is_a_block_event_but_a_new_ips_steady_refusals_are_not():
    assert not _day(block_rate=0.06, baseline_block_rate=0.05).pause_reasons()
    assert _day(block_rate=0.09, baseline_block_rate=0.05).pause_reasons()
    assert _day(block_rate=0.04).pause_reasons()  # no history: the absolute 3% applies


def test_rules_hold_on_a_bad_day_and_need_seven_clean_days_to_leave_late_warmup():
    from adaptive_delivery.delivery.models.mdl009_warmup.policies import WarmupState

    env = WarmupEnv(seed=0)
    state = WarmupState(day=3, limit=1_000, paused=False, stage=1, days_in_stage=2, clean_streak=1,
                        last=_day(complaint_rate=0.0008), rolling_bounce=0.01, rolling_complaint=0.0008,
                        postmaster_reputation=3, target=50_000, env=env)
    rules = RuleEscalation(0.25)
    assert rules.propose(state) == 1_000
    state.last = _day()
    assert rules.propose(state) == pytest.approx(1_250)
    state.limit, state.stage, state.clean_streak = 450_000, 3, 6
    assert rules.propose(state) == 450_000  # 562,500 would leave late warm-up after 6 clean days
    state.clean_streak = 7
    assert rules.propose(state) == pytest.approx(562_500)


@pytest.mark.parametrize("policy", [RuleEscalation(0.25), RuleEscalation(0.5), WarmupOracle()], ids=lambda p: p.name)
@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_railed_warmups_never_grow_over_50_percent_and_pause_when_triggered(policy, audience):
    trace = run_warmup(policy, seed=7, days=30, audience=AUDIENCES[audience])
    last_volume = 500.0
    for i, volume in enumerate(trace.volume):
        if volume > 0:
            assert volume <= last_volume * 1.5 + 1e-6
            last_volume = volume
        if i > 0 and trace.pause_reasons[i - 1]:
            assert volume == 0 and "auto_pause" in trace.rails[i]
        if volume > 0 and i > 0 and trace.volume[i - 1] == 0:
            assert "resume_approved" in trace.rails[i]
    assert all(a.approved_by == ON_CALL and a.kind == "resume" for a in trace.approvals)
    assert len(trace.approvals) == sum(1 for r in trace.rails if "resume_approved" in r)


def test_the_fixed_schedule_doubles_whatever_happens_up_to_the_senders_volume():
    trace = run_warmup(FixedDoubling(), seed=3, days=14)
    assert trace.volume[:5] == [50, 100, 200, 400, 800]
    assert max(trace.volume) == trace.target and not any(trace.rails)


def test_the_oracle_reaches_full_capacity_on_a_clean_list_within_three_weeks():
    trace = run_warmup(WarmupOracle(), seed=11, days=30, audience=AUDIENCES["clean"])
    assert trace.reached_day is not None and trace.reached_day <= 21
    assert trace.summary()["block_event_days"] == 0


def test_full_capacity_needs_the_whole_volume_clean():
    day = {"sent": 50_000, "bounce_rate": 0.01, "complaint_rate": 0.0002, "block_rate": 0.01, "rate_limit_refusal_rate": 0.0,
           "deferral_rate": 0.01, "baseline_block_rate": 0.01}
    assert carried_full_volume(50_000, day, 50_000)
    assert not carried_full_volume(40_000, day, 50_000)
    assert not carried_full_volume(50_000, day | {"deferral_rate": 0.08}, 50_000)
    assert not carried_full_volume(50_000, day | {"complaint_rate": 0.002}, 50_000)


def test_the_report_ranks_policies_on_the_same_worlds():
    df, traces = evaluate([FixedDoubling(), RuleEscalation(0.5), WarmupOracle()], seeds=[1001, 1002], days=20)
    assert len(df) == 2 * 3 * 2 and set(traces) == set(AUDIENCES)
    tab = table(df, 20)
    assert set(tab.policy) == {"fixed 50/day doubling", "rules +50%", "oracle"}
    m = policy_metrics(df, "oracle", 20)
    assert 0 <= m["reached_share"] <= 1 and 1 <= m["days_to_full"] <= 21
    with pytest.raises(KeyError):
        policy_metrics(df, "nobody", 20)


def test_the_plan_record_has_spec_fields_and_says_what_bound_it():
    decision = RailedVolume(31_250.0, False, 40_000.0, ("max_daily_increase",))
    plan = warmup_plan(ip="192.0.2.10", domain="mail.example.com", current_limit=25_000, decision=decision,
                       action="increase_50", confidence=0.8512, last=_day())
    assert plan["current_stage"] == "mid" and plan["new_daily_limit"] == 31_250
    assert plan["recommended_action"] == "increase_50_percent" and plan["rails_applied"] == ["max_daily_increase"] and plan["next_evaluation"] == "24 hours"
    assert set(plan) >= {"ip", "domain", "current_daily_limit", "recommended_action", "confidence", "risk_factors"}
    paused = warmup_plan(ip="x", domain="y", current_limit=1_000, decision=RailedVolume(0.0, True, 1.0, ("auto_pause",), ("bounce",)),
                         action="hold", confidence=0.5, last=None)
    assert paused["recommended_action"] == "pause_and_investigate" and paused["risk_factors"] == ["bounce"]


def test_actions_map_to_volumes_and_back():
    assert action_volume(0, 1_000) == 1_000 and action_volume(3, 1_000) == 1_500
    assert action_for(1_500, 1_000) == "increase_50" and action_for(0, 1_000) == "pause"
    assert action_for(5_000, 1_000) == "increase_50" and action_for(760, 1_000) == "decrease_25"
    assert action_volume(6, 1_000) == 0.0 and math.isclose(action_volume(5, 1_000), 750)


def test_the_env_judges_block_jumps_against_the_trailing_week():
    env = WarmupEnv(seed=0)
    _, _, _, _, info = env.step_volume(500)
    assert info["day"]["baseline_block_rate"] == info["day"]["block_rate"]  # first day: its own level
    _, _, _, _, info = env.step_volume(600)
    assert np.isclose(info["day"]["baseline_block_rate"], env.history[0]["block_rate"])
    assert env.carryable_per_day() > 0


def test_escalation_is_paid_per_half_again_of_clean_growth_and_only_once():
    from adaptive_delivery.twin.envs import escalation_steps

    assert escalation_steps(1_000, 1_500) == pytest.approx(1.0)
    assert escalation_steps(1_000, 2_250) == pytest.approx(2.0)
    assert escalation_steps(1_000, 1_000) == 0.0 and escalation_steps(1_000, 800) == 0.0
    env = WarmupEnv(seed=0, audience=AUDIENCES["clean"])
    rewards = [env.step_volume(v)[1] for v in (750, 750)]
    assert rewards[0] > rewards[1]  # holding a level already reached earns no escalation again


def test_a_rule_held_only_to_the_rails_warms_a_typical_ip_and_the_oracle_is_not_slower():
    from adaptive_delivery.delivery.models.mdl009_warmup.policies import (
        RailedRule,
        WarmupOracle,
        run_warmup,
    )

    for seed in (1001, 1002, 1003):
        rule = run_warmup(RailedRule(0.5), seed=seed, days=40).summary()
        oracle = run_warmup(WarmupOracle(), seed=seed, days=40).summary()
        assert rule["days_to_full"] is not None and rule["block_event_days"] == 0, seed
        assert oracle["days_to_full"] is not None and oracle["days_to_full"] <= rule["days_to_full"], seed
    slow = run_warmup(RailedRule(0.25), seed=1001, days=40).summary()["days_to_full"]
    assert slow > run_warmup(RailedRule(0.5), seed=1001, days=40).summary()["days_to_full"]


def test_the_headline_compares_every_run_with_the_fastest_railed_rule_ip_by_ip():
    import pandas as pd

    from adaptive_delivery.delivery.models.mdl009_warmup import report

    fast, slow = (r.name for r in report.RAILED_RULES[1:3]), report.RAILED_RULES[0].name
    fast_rule, bold_rule = fast
    rows = []
    for audience in ("typical", "clean"):
        for seed in (1, 2, 3):
            common = {"audience": audience, "seed": seed, "block_event_days": 0, "pause_days": 0, "delivered_total": 1.0,
                      "reputation_damage": 0.0}
            rows += [common | {"policy": slow, "run": 0, "days_to_full": 20.0},
                     common | {"policy": fast_rule, "run": 0, "days_to_full": 15.0},
                     common | {"policy": bold_rule, "run": 0, "days_to_full": 12.0 + seed},
                     common | {"policy": "oracle", "run": 0, "days_to_full": 12.0},
                     common | {"policy": report.LEARNED, "run": 1, "days_to_full": 13.0},
                     common | {"policy": report.LEARNED, "run": 2, "days_to_full": None}]  # never got there
    df = pd.DataFrame(rows)
    assert report.best_railed_rule(df, 40) == bold_rule
    found = report.intervals(df, 40)
    assert found["typical"][report.LEARNED]["days_to_full"]["runs"] == 2
    assert found["typical"][report.LEARNED]["days_vs_best_rule"]["mean"] == pytest.approx((13 + 41) / 2 - 14)
    verdict = report.targets(found, report.best_railed_rule(df, 40))
    assert verdict["best_railed_rule"] == bold_rule and not verdict["all_met"]
    assert report.registry_metrics(df, 40)["days_vs_best_rule"] == pytest.approx(13.0)


def test_training_credits_progress_only_on_days_the_rails_let_through():
    from adaptive_delivery.delivery.models.mdl009_warmup.training import (
        railed_progress,
        railed_upkeep,
    )

    day = {"sent": 1_500, "bounce_rate": 0.01, "complaint_rate": 0.0006, "block_rate": 0.01,
           "rate_limit_refusal_rate": 0.0, "deferral_rate": 0.01, "baseline_block_rate": 0.01}
    assert railed_progress(1_000, 1_500, day) == pytest.approx(10.0)  # complaints over the spec's 0.05%, no trigger
    assert railed_progress(1_000, 1_500, day | {"complaint_rate": 0.002}) == 0.0  # a pause trigger
    assert railed_progress(1_000, 1_500, day | {"deferral_rate": 0.08}) == 0.0
    assert railed_progress(1_500, 1_500, day) == 0.0 and railed_progress(1_000, 0.0, day) == 0.0
    assert railed_upkeep(25_000, 50_000, day) == pytest.approx(0.5) and railed_upkeep(60_000, 50_000, day) == 1.0
    assert railed_upkeep(50_000, 50_000, day | {"complaint_rate": 0.002}) == 0.0


def test_training_pays_the_railed_credits_in_place_of_the_spec_ones_and_keeps_its_penalties():
    from adaptive_delivery.delivery.models.mdl009_warmup.training import (
        RailedWarmupEnv,
        railed_progress,
        railed_upkeep,
    )
    from adaptive_delivery.twin.envs import WARMUP_REWARD

    env = RailedWarmupEnv(seed=3)
    paid_by_spec = 0.0
    for _ in range(12):
        best = env.best_railed_volume
        _, reward, *_ = env.step(3)  # +50% a day
        spec = env.run.reward_parts
        day = env.run.days[-1]
        volume = env.run.limit if day["sent"] > 0 else 0.0  # what was decided (0: paused)
        penalties = sum(v for k, v in spec.items() if k not in ("escalation", "good"))
        expected = railed_progress(best, volume, day) + railed_upkeep(volume, env.target, day)
        assert reward == pytest.approx(penalties + expected)  # the spec's credits are not on top
        paid_by_spec += spec["escalation"] + spec["good"]
    assert paid_by_spec >= 0 and set(spec) == set(WARMUP_REWARD)


def test_the_bold_railed_rule_raises_on_a_morning_without_a_day_to_read():
    from adaptive_delivery.delivery.models.mdl009_warmup.policies import RailedRule, WarmupState

    state = WarmupState(day=0, limit=500, paused=False, stage=0, days_in_stage=0, clean_streak=0, last=None,
                        rolling_bounce=0.0, rolling_complaint=0.0, postmaster_reputation=0, target=50_000,
                        env=WarmupEnv(seed=0))
    assert RailedRule(0.5).propose(state) == 500 and RailedRule(0.5, raise_unseen=True).propose(state) == 750
