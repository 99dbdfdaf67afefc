"""The knowledge base's rates as the controllers' start and the rails' ceiling: learned facts used
where they are fresh estimates, spec §6.2's defaults and the published limit otherwise, every answer
within the rails' bounds (a property over any facts), and the same limits reaching MDL-003's service,
its online controller and the harness."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.decisions.rails import (
    MIN_RATE_PER_MIN,
    known_limit_per_min,
    static_rate_per_min,
)
from adaptive_delivery.delivery.knowledge.limits import CEILING_HEADROOM, KnownLimits
from adaptive_delivery.delivery.knowledge.store import Fact, KnowledgeBase
from adaptive_delivery.delivery.models.mdl003_throttle.policies import Oracle, run_policy
from adaptive_delivery.delivery.models.mdl003_throttle.service import recommend
from adaptive_delivery.platform.rl.policy_export import MlpActor
from adaptive_delivery.twin.envs import ThrottleEnv

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def rate_facts(safe: float | None, optimal: float | None, kind: str = "estimate", age_days: float = 1.0) -> dict:
    at = (NOW - timedelta(days=age_days)).isoformat()
    return {"safe_max_rate_per_hour": {"value": safe, "evidence": {"kind": kind}, "learned_at": at, "version": 3},
            "optimal_rate_per_hour": {"value": optimal, "evidence": {"kind": kind}, "learned_at": at, "version": 3}}


def test_nothing_learned_is_spec_defaults_and_the_published_limit():
    limit = KnownLimits.none().limit("gmail")
    assert limit.start_rate_per_min == static_rate_per_min("gmail")
    assert limit.ceiling_per_min == known_limit_per_min("gmail")
    assert "spec §6.2" in limit.start_source and limit.ceiling_source == "published limit"


def test_a_fresh_estimate_sets_the_start_and_lowers_the_ceiling():
    limits = KnownLimits({"gmail": rate_facts(safe=12_000, optimal=9_600)}, now=NOW)
    limit = limits.limit("gmail")
    assert limit.start_rate_per_min == pytest.approx(160.0)
    assert limit.ceiling_per_min == pytest.approx(CEILING_HEADROOM * 200.0)
    assert "knowledge base v3" in limit.start_source and "learned allowance" in limit.ceiling_source
    assert limits.throttle_rails("gmail").max_rate_per_min == limit.ceiling_per_min


def test_an_allowance_above_the_published_limit_leaves_the_published_limit():
    limit = KnownLimits({"corporate": rate_facts(safe=60_000, optimal=48_000)}, now=NOW).limit("corporate")
    assert limit.ceiling_per_min == known_limit_per_min("corporate")
    assert limit.start_rate_per_min == known_limit_per_min("corporate")  # the start stays under the ceiling


def test_a_lower_bound_starts_the_rate_but_never_lowers_the_ceiling():
    limit = KnownLimits({"yahoo": rate_facts(safe=3_000, optimal=3_000, kind="lower_bound")}, now=NOW).limit("yahoo")
    assert limit.start_rate_per_min == pytest.approx(50.0)
    assert limit.ceiling_per_min == known_limit_per_min("yahoo")


@pytest.mark.parametrize("facts", [rate_facts(12_000, 9_600, age_days=30), rate_facts(None, None),
                                   rate_facts(0.0, 0.0), rate_facts(float("nan"), float("nan")),
                                   rate_facts({"per": "hour"}, "fast")])
def test_stale_missing_or_unusable_facts_fall_back_to_the_defaults(facts):
    limit = KnownLimits({"outlook": facts}, now=NOW).limit("outlook")
    assert limit.start_rate_per_min == static_rate_per_min("outlook")
    assert limit.ceiling_per_min == known_limit_per_min("outlook")
    assert "spec §6.2" in limit.start_source


@given(safe=st.one_of(st.none(), st.floats()),
       optimal=st.one_of(st.none(), st.floats()),
       kind=st.sampled_from(["estimate", "lower_bound", "unknown"]), age=st.floats(0, 60),
       provider=st.sampled_from(["gmail", "yahoo", "outlook", "corporate", "disposable", "nobody"]))
@settings(max_examples=300, deadline=None)
def test_every_answer_stays_inside_the_rails(safe, optimal, kind, age, provider):
    limit = KnownLimits({provider: rate_facts(safe, optimal, kind, age)}, now=NOW).limit(provider)
    assert MIN_RATE_PER_MIN <= limit.start_rate_per_min <= limit.ceiling_per_min <= known_limit_per_min(provider)


def test_limits_read_from_the_store_and_its_export(tmp_path):
    store = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    facts = {"gmail": {"safe_max_rate_per_hour": Fact(12_000, {"kind": "estimate"}, NOW),
                       "optimal_rate_per_hour": Fact(9_600, {"kind": "estimate"}, NOW)}}
    store.record(facts, source="test")
    from_store = KnownLimits.from_store(store.url, now=NOW).limit("gmail")
    assert from_store.start_rate_per_min == pytest.approx(160.0)
    assert "v1" in from_store.start_source
    (tmp_path / "kb.json").write_text(__import__("json").dumps(store.export()))
    assert KnownLimits.from_file(tmp_path / "kb.json", now=NOW).limit("gmail") == from_store
    with pytest.raises(ValueError, match="providers"):
        KnownLimits.from_export({"versions": []})


def _pushing_actor(n_features: int) -> MlpActor:
    """A policy that always asks for +50% (its output saturates at the top action)."""
    hidden = ((np.zeros((4, n_features)), np.zeros(4)),)
    return MlpActor(hidden, np.zeros((1, 4)), np.array([10.0]), "continuous", np.array([-2.0]))


def test_the_service_holds_the_knowledge_base_ceiling():
    from adaptive_delivery.delivery.models.mdl003_throttle.features import FEATURE_NAMES
    from adaptive_delivery.delivery.models.mdl003_throttle.training import example_request

    request = example_request(("gmail",))
    request["current_send_rate"] = 290.0
    columns = {c: request[c].to_numpy() for c in request.columns}
    actor = _pushing_actor(len(FEATURE_NAMES))
    free = recommend(actor, columns, "1").iloc[0]
    held = recommend(actor, columns, "1", KnownLimits({"gmail": rate_facts(12_000, 9_600, age_days=0)})).iloc[0]
    assert free.recommended_rate_per_min > 300.0 and free.ceiling_source == "published limit"
    assert held.recommended_rate_per_min == pytest.approx(300.0)
    assert "provider_limit" in held.rails_applied and "learned allowance" in held.ceiling_source


def test_the_harness_runs_a_railed_policy_behind_the_given_rails():
    limits = KnownLimits({"gmail": rate_facts(6_000, 4_800)}, now=NOW)
    env = ThrottleEnv("gmail", episode_steps=30, start_rate_per_min=limits.start_rate_per_min("gmail"),
                      limit_scale=3.0)
    trace = run_policy(Oracle(), env, seed=1, steps=20, rails=limits.throttle_rails("gmail"))
    assert max(trace.rate) <= limits.limit("gmail").ceiling_per_min + 1e-9 < max(trace.limit)
    assert any("provider_limit" in r for r in trace.rails)


def test_a_runtime_reads_the_export_then_the_store_then_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("AD_KNOWLEDGE_EXPORT", raising=False)
    monkeypatch.delenv("AD_KNOWLEDGE_URL", raising=False)
    assert KnownLimits.from_environment() == KnownLimits.none()
    store = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    store.record({"gmail": {"optimal_rate_per_hour": Fact(9_600, {"kind": "estimate"})}}, source="test")
    monkeypatch.setenv("AD_KNOWLEDGE_URL", store.url)
    assert KnownLimits.from_environment().start_rate_per_min("gmail") == pytest.approx(160.0)
    (tmp_path / "kb.json").write_text('{"providers": {}}')
    monkeypatch.setenv("AD_KNOWLEDGE_EXPORT", str(tmp_path / "kb.json"))
    assert KnownLimits.from_environment().start_rate_per_min("gmail") == static_rate_per_min("gmail")


def with_share(facts: dict, share: float) -> dict:
    return {**facts, "mail_share": {"value": share, "evidence": {}, "learned_at": NOW.isoformat(), "version": 3}}


def test_the_daily_ceiling_is_where_the_first_provider_runs_out():
    limits = KnownLimits({"gmail": with_share(rate_facts(12_000, 9_600), 0.5),   # 12,000 x 4 / 0.5 = 96,000
                          "yahoo": with_share(rate_facts(3_000, 2_400), 0.2),    # 3,000 x 4 / 0.2 = 60,000
                          "tiny": with_share(rate_facts(10, 8), 0.005),          # too little of the mail to bound it
                          "aol": with_share(rate_facts(100, 100, kind="lower_bound"), 0.3)}, now=NOW)
    ceiling, source = limits.daily_ceiling(send_hours=4.0)
    assert ceiling == pytest.approx(60_000.0) and source.startswith("yahoo's learned allowance at 20%")
    assert KnownLimits.none().daily_ceiling() == (float("inf"), "nothing learned bounds it")
    assert KnownLimits({"gmail": rate_facts(12_000, 9_600)}, now=NOW).daily_ceiling()[0] == float("inf")  # no share


def test_the_warmup_plan_stops_at_the_learned_daily_ceiling():
    from adaptive_delivery.delivery.models.mdl009_warmup.plan import FEATURE_NAMES
    from adaptive_delivery.delivery.models.mdl009_warmup.service import example_request, plan_day
    from adaptive_delivery.delivery.schemas import WARMUP_ACTIONS

    hidden = ((np.zeros((4, len(FEATURE_NAMES))), np.zeros(4)),)
    bias = np.full(len(WARMUP_ACTIONS), -5.0)
    bias[WARMUP_ACTIONS.index("increase_50")] = 5.0
    actor = MlpActor(hidden, np.zeros((len(WARMUP_ACTIONS), 4)), bias, "discrete")
    frame = example_request().iloc[[0]].assign(current_daily_limit=30_000.0)
    columns = {c: frame[c].to_numpy() for c in frame.columns}
    free = plan_day(actor, columns, "1").iloc[0]
    limits = KnownLimits({"gmail": with_share(rate_facts(3_000, 2_400, age_days=0), 0.3)})  # 40,000 a day
    capped = plan_day(actor, columns, "1", limits=limits).iloc[0]
    assert free.new_daily_limit == 45_000
    assert capped.new_daily_limit == 40_000 and "learned_capacity" in capped.rails_applied
    assert "gmail's learned allowance" in capped.risk_factors
