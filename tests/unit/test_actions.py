"""The spec §6.1 action policy as invariants over any probability vector."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.decisions.actions import (
    ACTIONS,
    CONTENT_HELD,
    ActionThresholds,
    decide,
)

probabilities = st.lists(st.floats(0, 1), min_size=5, max_size=5).filter(lambda v: sum(v) > 0).map(
    lambda v: np.array(v) / sum(v))


@settings(max_examples=500, deadline=None)
@given(st.lists(probabilities, min_size=1, max_size=20))
def test_policy_invariants(rows):
    p = np.stack(rows)
    d = decide(p)
    assert set(d.action) <= set(ACTIONS)
    skip = (p[:, 3] > 0.5) | (p[:, 4] > 0.3)
    assert (d.action[skip] == "skip").all()  # a likely hard bounce or block is never sent
    assert ((d.action == "defer") == (~skip & (p[:, 1] > 0.6))).all()
    assert ((d.action == "send") == (~skip & (p[:, 1] <= 0.6) & (p[:, 0] > 0.7))).all()
    assert np.allclose(d.risk_score[skip], p[skip, 3] + p[skip, 4])
    assert (d.confidence == p.max(axis=1)).all()


def test_spec_examples_and_configurable_thresholds():
    p = np.array([[0.9, 0.05, 0.02, 0.02, 0.01], [0.2, 0.7, 0.05, 0.03, 0.02], [0.3, 0.1, 0.0, 0.55, 0.05],
                  [0.5, 0.3, 0.1, 0.05, 0.05]])
    assert list(decide(p).action) == ["send", "defer", "skip", "send_monitored"]
    strict = ActionThresholds(send_inbox=0.95)
    assert decide(p, strict).action[0] == "send_monitored"


@pytest.mark.parametrize("bad", [np.ones((2, 4)), np.array([[0.5, np.nan, 0, 0, 0.5]]), np.array([[-0.1, 0.5, 0.2, 0.2, 0.2]])])
def test_bad_input_is_refused_with_a_message(bad):
    with pytest.raises(ValueError):
        decide(bad)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(probabilities, st.one_of(st.just(-1.0), st.floats(0, 1))), min_size=1, max_size=20))
def test_content_the_gate_holds_is_never_sent_and_the_rest_decide_as_before(rows):
    p = np.stack([r[0] for r in rows])
    risk = np.array([r[1] for r in rows])
    t = ActionThresholds()
    d, plain = decide(p, t, risk), decide(p, t)
    held = risk >= t.hold_content_spam_risk
    assert (d.action[held] == "defer").all() and (d.reason[held] == CONTENT_HELD).all()
    assert np.allclose(d.risk_score[held], risk[held])
    assert (d.action[~held] == plain.action[~held]).all() and (d.reason[~held] == plain.reason[~held]).all()
    assert (d.confidence == plain.confidence).all()


def test_an_unscored_content_is_never_held_and_a_scored_one_at_the_bar_is():
    p = np.array([[0.9, 0.05, 0.02, 0.02, 0.01]] * 3)
    d = decide(p, ActionThresholds(), np.array([-1.0, 0.94, 0.95]))
    assert list(d.action) == ["send", "send", "defer"]
    with pytest.raises(ValueError, match="one number per message"):
        decide(p, ActionThresholds(), np.array([0.5, np.nan, 0.1]))
