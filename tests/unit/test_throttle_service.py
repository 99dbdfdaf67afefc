"""MDL-003's rate requests: validation with messages a caller can act on, unknown providers served
with a cautious default that says so, and the rails bounding every answer whatever the policy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.decisions.rails import known_limit_per_min
from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl003_throttle.features import FEATURE_NAMES
from adaptive_delivery.delivery.models.mdl003_throttle.service import (
    REQUIRED,
    action_name,
    check_actor,
    recommend,
)
from adaptive_delivery.delivery.models.mdl003_throttle.training import example_request
from adaptive_delivery.platform.rl.policy_export import MlpActor


def _actor(scale: float, discrete: bool = False) -> MlpActor:
    rng = np.random.default_rng(0)
    hidden = ((rng.normal(size=(8, len(FEATURE_NAMES))), rng.normal(size=8)),)
    out = 6 if discrete else 1
    return MlpActor(hidden, rng.normal(size=(out, 8)) * scale, np.zeros(out), "discrete" if discrete else "continuous",
                    None if discrete else np.array([-1.0]))


def _columns(frame):
    return {c: frame[c].to_numpy() for c in frame.columns}


def test_a_valid_request_gets_a_railed_rate_action_and_confidence():
    req = example_request()
    out = recommend(_actor(1.0), _columns(req), "7")
    assert list(out.provider) == list(req.provider) and set(out.model_version) == {"7"}
    assert np.all((out.confidence > 0) & (out.confidence < 1))
    ratio = out.recommended_rate_per_min / req.current_send_rate
    assert np.all((ratio >= 0.5 - 1e-9) & (ratio <= 1.5 + 1e-9))
    assert all(a == "hold" or a.startswith(("increase_", "decrease_")) for a in out.action)


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.pop("smtp_latency_ms"), "missing inputs: smtp_latency_ms"),
    (lambda c: c.__setitem__("success_rate_1m", np.array([np.nan, 1, 1])), "must be finite"),
    (lambda c: c.__setitem__("queue_depth", np.array([-1.0, 1, 1])), ">= 0"),
    (lambda c: c.__setitem__("current_send_rate", np.array([0.0, 1, 1])), "> 0"),
    (lambda c: c.__setitem__("hour_of_day", np.array([1.0, 2.0])), "2 values for 3 rows"),
    (lambda c: c.__setitem__("postmaster_reputation", np.array(["high", "x", "y"], dtype=object)), "must be numeric"),
    (lambda c: c.__setitem__("postmaster_reputation", np.array([7.0, 1, 1])), "reputation-feed reading"),
])
def test_malformed_requests_say_what_to_fix(change, message):
    columns = _columns(example_request())
    change(columns)
    with pytest.raises(RequestError, match=message):
        recommend(_actor(1.0), columns, "1")


def test_an_oversized_batch_is_refused():
    req = example_request(("gmail",))
    columns = {k: np.repeat(v, 10_001) for k, v in _columns(req).items()}
    with pytest.raises(RequestError, match="exceeds"):
        recommend(_actor(1.0), columns, "1")


def test_an_unknown_provider_gets_the_cautious_default_and_says_so():
    columns = _columns(example_request(("gmail",)))
    columns["provider"] = np.array(["mx.unheard-of.example"], dtype=object)
    columns["current_send_rate"] = np.array([500.0])
    out = recommend(_actor(1.0), columns, "1")
    assert "unknown provider" in out.note[0]
    assert out.recommended_rate_per_min[0] <= known_limit_per_min("corporate")


@settings(max_examples=60, deadline=None)
@given(scale=st.floats(-50, 50), rate=st.floats(0.01, 5_000), provider=st.sampled_from(["gmail", "yahoo", "corporate", "aol"]))
def test_whatever_the_policy_says_the_answer_stays_on_the_rails(scale, rate, provider):
    columns = _columns(example_request((provider,)))
    columns["current_send_rate"] = np.array([rate])
    out = recommend(_actor(scale), columns, "1")
    r = float(out.recommended_rate_per_min[0])
    limit = known_limit_per_min(provider)
    assert 10.0 - 1e-9 <= r <= limit + 1e-9
    if rate * 1.5 <= limit and rate * 0.5 >= 10:
        assert rate * 0.5 - 1e-9 <= r <= rate * 1.5 + 1e-9


def test_action_names_read_like_the_spec():
    assert action_name(1.0) == "hold" and action_name(1.5) == "increase_50_percent"
    assert action_name(0.75) == "decrease_25_percent"


def test_the_service_reads_every_observation_the_env_produces():
    assert set(REQUIRED) <= set(example_request().columns)


def test_a_discrete_actor_reports_its_choice_probability():
    actions, confidence = _actor(1.0, discrete=True).act(np.zeros((3, len(FEATURE_NAMES))))
    assert actions.shape == (3,) and np.all((confidence >= 1 / 6) & (confidence <= 1))


def test_a_policy_trained_on_another_feature_set_is_refused_with_the_reason():
    rng = np.random.default_rng(0)
    old = MlpActor(((rng.normal(size=(8, 10)), rng.normal(size=8)),), rng.normal(size=(1, 8)), np.zeros(1),
                   "continuous", np.array([-1.0]))
    with pytest.raises(ValueError, match="reads 10 features.*retrain MDL-003"):
        check_actor(old)
    assert check_actor(_actor(1.0)) is not None


def test_mdl004_reading_holds_the_rate_where_it_is():
    columns = _columns(example_request())
    hidden = ((np.zeros((4, len(FEATURE_NAMES))), np.zeros(4)),)
    actor = MlpActor(hidden, np.zeros((1, 4)), np.array([10.0]), "continuous", np.array([-2.0]))  # always +50%
    free = recommend(actor, columns, "1")
    held = recommend(actor, {**columns, "reputation_health": np.array([20.0, np.nan, 95.0]),
                             "reputation_alert": np.array([0.0, 0.0, 1.0])}, "1")
    assert (free.multiplier > 1.4).all()
    assert list(held.multiplier.round(6)) == [1.0, round(free.multiplier[1], 6), 1.0]
    assert ["reputation_hold" in r for r in held.rails_applied] == [True, False, True]
    with pytest.raises(RequestError, match="between 0 and 100"):
        recommend(actor, {**columns, "reputation_health": np.array([-3.0, 1, 1])}, "1")
