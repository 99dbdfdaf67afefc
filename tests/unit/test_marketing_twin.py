"""The marketing twin and the bidders on small worlds: calibrated to the published search averages,
auctions priced as their rule says, budgets never overspent, bidders shown only what an advertiser
sees, the optimiser buying more than a weak fixed bid, and the hindsight oracle above everyone."""

from __future__ import annotations

import numpy as np
import pytest

from adaptive_delivery.marketing import bidding as bd
from adaptive_delivery.twin import marketing as tw

OBSERVABLE = {"day", "hour", "weekday", "segment", "device", "budget", "budget_left", "value_per_conversion"}


@pytest.fixture(scope="module")
def world() -> tw.MarketingWorld:
    return tw.MarketingWorld.build(1001, n_campaigns=2, daily_opportunities=6_000)


def test_bidding_a_clicks_value_lands_on_the_published_averages():
    rates = [tw.calibration(tw.MarketingWorld.build(seed, daily_opportunities=6_000), days=2) for seed in (1, 2, 3)]
    for name, published in tw.PUBLISHED.items():
        assert np.mean([r[name] for r in rates]) == pytest.approx(published, rel=0.25), name


def test_auctions_are_priced_as_their_rule_says():
    bids, quality, competitor = np.array([2.0, 2.0, 1.0]), np.array([0.05, 0.02, 0.05]), np.array([0.06, 0.06, 0.06])
    won, price = tw.auction(bids, quality, competitor, "second")
    assert won.tolist() == [True, False, False]
    assert price[0] == pytest.approx(0.06 / 0.05) and price[0] <= bids[0]
    _, first = tw.auction(bids, quality, competitor, "first")
    assert first[0] == bids[0]
    with pytest.raises(ValueError, match="price rule"):
        tw.auction(bids, quality, competitor, "third")


def test_two_bidders_meet_the_same_auctions(world):
    a, b = world.opportunities(0, 3, 12), world.opportunities(0, 3, 12)
    assert np.array_equal(a.competitor, b.competitor) and np.array_equal(a.ctr, b.ctr)


class Spy:
    def __init__(self, bid: float) -> None:
        self.bid, self.contexts, self.results = bid, [], []

    def bids(self, context):
        self.contexts.append(set(context))
        return np.full(len(context["segment"]), self.bid)

    def observe(self, context, result):
        self.results.append(set(result))


def test_a_bidder_sees_only_what_an_advertiser_sees_and_never_overspends(world):
    spy = Spy(bid=1_000.0)  # wins everything it can
    result = tw.run_day(world, 0, 0, spy)
    assert all(keys == OBSERVABLE for keys in spy.contexts)
    assert all(keys == {"won", "clicks", "conversions", "cost"} for keys in spy.results)
    assert result.spend <= world.campaigns[0].budget + 1e-9
    assert result.exhausted_hour is not None and result.exhausted_hour < 23


def _campaign_value(world, bidder_for, days: int = 7) -> tuple[float, float, float]:
    value = oracle = spend = 0.0
    for k, c in enumerate(world.campaigns):
        bidder = bidder_for(c)
        for day in range(days):
            r = tw.run_day(world, k, day, bidder)
            value += r.expected_value
            spend += r.spend / (c.budget * days * len(world.campaigns))
            oracle += tw.oracle_value(world, k, day, np.zeros(1, int))
    return value, oracle, spend


def test_the_optimiser_buys_more_than_a_weak_bid_and_the_oracle_more_than_both(world):
    weak, oracle, _ = _campaign_value(world, lambda c: bd.FixedBid(0.3 * bd.PRIOR_CVR * c.value))
    ours, _, used = _campaign_value(world, lambda c: bd.BidOptimiser(pacing_gain=0.5))
    assert weak < ours < oracle
    assert used > 0.8  # it paces the budget into the day instead of leaving it


def test_the_optimisers_answer_carries_a_confidence_and_reasons(world):
    opt = bd.BidOptimiser()
    tw.run_day(world, 0, 0, opt)
    opp = world.opportunities(0, 1, 10)
    context = {"day": 1, "hour": 10, "weekday": 1, "segment": opp.segment, "device": opp.device,
               "budget": 100.0, "budget_left": 5.0, "value_per_conversion": 80.0}
    answer = opt.answer(context)
    assert (answer.bid >= 0).all() and len(answer.reasons) == len(opp)
    assert ((answer.confidence >= 0) & (answer.confidence <= 1)).all()
    assert "little budget left today" in answer.reasons[0]


def test_conversion_rates_are_learned_by_segment_and_device():
    rng = np.random.default_rng(0)
    truth = np.array([[0.02, 0.04, 0.03], [0.06, 0.08, 0.07], [0.02, 0.02, 0.02], [0.05, 0.05, 0.05]])
    seg, dev = rng.integers(0, 4, 200_000), rng.integers(0, 3, 200_000)
    conv = (rng.random(200_000) < truth[seg, dev]).astype(float)
    clicks = np.column_stack([np.zeros(200_000), np.zeros(200_000), seg, dev, np.zeros(200_000), conv])
    assert np.allclose(bd.segment_device_cvr(clicks), truth, atol=0.006)
    assert bd.pooled_cvr(np.zeros((0, 6))) == pytest.approx(bd.PRIOR_CVR)
