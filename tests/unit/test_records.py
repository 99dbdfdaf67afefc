"""The records oracle: the hidden address states as far as a sender's own records show them."""

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from adaptive_delivery.twin import records as rec
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.dynamics import CLASS_NAMES
from adaptive_delivery.twin.population import FILTER_STANDING_SD
from adaptive_delivery.twin.simulator import World

HARD, SOFT = CLASS_NAMES.index("hard_bounce"), CLASS_NAMES.index("soft_bounce")


def test_earlier_same_day_sees_only_earlier_messages_to_the_same_address():
    sub = np.array([7, 3, 7, 7, 3, 9])
    flags = np.array([False, True, True, False, False, True])
    assert rec._earlier_same_day(sub, flags).tolist() == [False, False, False, True, True, False]


class _Recording(World):
    """A world that keeps each day's fates next to the records' knowledge before the day."""

    def __init__(self, config):
        super().__init__(config)
        self.days: list[dict] = []

    def _decide_fates(self, rng, d, m):
        seen_dead_before = self.records.seen_dead[m["sub"]].copy()
        alive_day_before = self.records.alive_day[m["sub"]].copy()
        fate = super()._decide_fates(rng, d, m)
        self.days.append(dict(fate, seen_dead_before=seen_dead_before, alive_day_before=alive_day_before, day=d,
                              sub=m["sub"].copy()))
        return fate


@pytest.fixture(scope="module")
def recorded():
    world = _Recording(WorldConfig(subscribers=8_000, days=10, seed=11))
    for _ in range(10):
        world.step_day()
    cat = {k: np.concatenate([np.asarray(day[k]) for day in world.days]) for k in
           ("matrix", "seen_matrix", "standing_blind_matrix", "cls", "seen_dead_before", "alive_day_before", "sub")}
    return world, cat


def test_the_records_oracle_is_a_calibrated_posterior_where_records_know_nothing(recorded):
    _, c = recorded
    unknown = ~c["seen_dead_before"]  # the sender has not seen these addresses bounce hard
    for cls in (HARD, SOFT):
        p = c["seen_matrix"][unknown, cls]
        realised = (c["cls"][unknown] == cls).sum()
        expected, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
        assert abs(realised - expected) < 4 * sd + 3, (CLASS_NAMES[cls], realised, expected)
        # a posterior, not the hidden state: strictly between the clairvoyant's zeros and ones
        assert 0.0 < np.median(p[p > 0]) < 0.5


def test_what_the_records_show_is_known_exactly(recorded):
    _, c = recorded
    dead = c["seen_dead_before"]
    assert dead.sum() > 0
    np.testing.assert_allclose(c["seen_matrix"][dead], c["matrix"][dead], atol=1e-9)
    assert (c["cls"][dead] == HARD).mean() > 0.5  # dead stays dead: most are hard bounces again


def test_the_records_oracle_is_below_the_clairvoyant_and_above_chance(recorded):
    _, c = recorded
    y = c["cls"]
    seen, full = c["seen_matrix"], c["matrix"]
    assert log_loss(y, seen, labels=range(5)) > log_loss(y, full, labels=range(5))
    for cls in (HARD, SOFT):
        assert 0.75 < roc_auc_score(y == cls, seen[:, cls]) < roc_auc_score(y == cls, full[:, cls])


def test_the_standing_blind_oracle_differs_only_in_the_subscribers_filter_standing(recorded):
    world, c = recorded
    seen, blind = c["seen_matrix"], c["standing_blind_matrix"]
    inbox, spam = CLASS_NAMES.index("inbox"), CLASS_NAMES.index("spam")
    # where a message ends is the same law: only the split of accepted mail into inbox and spam moves
    np.testing.assert_allclose(blind[:, inbox] + blind[:, spam], seen[:, inbox] + seen[:, spam], rtol=1e-9)
    np.testing.assert_allclose(blind[:, 2:], seen[:, 2:], rtol=1e-9)
    # the law with the standing averaged over its spread (checked here by a finer quadrature), so the
    # blind oracle is calibrated over subscribers though it knows no one's standing
    accepted = seen[:, inbox] + seen[:, spam]
    can = accepted > 1e-6
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    without = logit(seen[can, inbox] / accepted[can]) - world.pop.noise[c["sub"][can]]
    nodes, weights = np.polynomial.hermite.hermgauss(40)
    shifts = np.sqrt(2.0) * FILTER_STANDING_SD * nodes
    expected = (1 / (1 + np.exp(-(without[:, None] + shifts))) * weights).sum(axis=1) / np.sqrt(np.pi)
    np.testing.assert_allclose(blind[can, inbox] / accepted[can], expected, atol=1e-4)
    assert can.mean() > 0.9
    realised = (c["cls"] == inbox).sum()
    p = blind[:, inbox]
    assert abs(realised - p.sum()) < 4 * np.sqrt((p * (1 - p)).sum()) + 3
    # and knowing the standing is worth something: the blind oracle ranks placement worse
    truly = np.isin(c["cls"], (inbox, spam))
    is_spam = c["cls"][truly] == spam
    assert roc_auc_score(is_spam, seen[truly, spam] / accepted[truly]) > \
        roc_auc_score(is_spam, blind[truly, spam] / accepted[truly]) + 0.01


def test_keeping_records_changes_no_draw():
    class Forgetful(World):
        def __init__(self, config):
            super().__init__(config)
            self.records.observe = lambda *a, **k: None

    cfg = WorldConfig(subscribers=1_500, days=4, seed=3)
    a, b = World(cfg), Forgetful(cfg)
    for _ in range(4):
        ra, rb = a.step_day(), b.step_day()
        for kind in ra.events:
            assert ra.events[kind].equals(rb.events[kind]), kind
        assert ra.truth["messages"].column("true_class").equals(rb.truth["messages"].column("true_class"))
