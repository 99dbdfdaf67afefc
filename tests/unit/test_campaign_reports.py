"""The marketing twin's hourly ad-platform reports: what they add up to, and that reporting
changes nothing the twin decides."""

from __future__ import annotations

import numpy as np
import pytest

from adaptive_delivery.marketing import events
from adaptive_delivery.marketing.bidding import BidOptimiser
from adaptive_delivery.twin.marketing import MarketingWorld, campaign_reports, run_day


@pytest.fixture(scope="module")
def world() -> MarketingWorld:
    return MarketingWorld.build(seed=21, n_campaigns=2, daily_opportunities=3_000)


def test_the_reports_add_up_to_what_the_days_bought_and_reporting_changes_nothing(world):
    days = 3
    rows = list(campaign_reports(world, days, lambda c: BidOptimiser(seed=0)))
    for k, c in enumerate(world.campaigns):
        bidder, totals = BidOptimiser(seed=0), np.zeros(4)
        auctions = 0
        for day in range(days):
            r = run_day(world, k, day, bidder)
            totals += (r.impressions, r.clicks, r.conversions, r.spend)
            auctions += sum(len(world.opportunities(k, day, h)) for h in range(24))
        mine = [r for r in rows if r["campaign_id"] == f"w21-{c.name}"]
        reported = np.array([sum(r[f] for r in mine) for f in ("impressions", "clicks", "conversions", "spend")])
        assert reported[:3] == pytest.approx(totals[:3])
        assert reported[3] == pytest.approx(totals[3], abs=5e-5 * len(mine))  # spend rounded per row
        assert sum(r["eligible_impressions"] for r in mine) == auctions


def test_report_rows_are_unique_valid_and_keyed_by_what_they_report(world):
    rows = list(campaign_reports(world, 2, lambda c: BidOptimiser(seed=1)))
    assert len({r["event_id"] for r in rows}) == len(rows)
    again = list(campaign_reports(world, 2, lambda c: BidOptimiser(seed=1)))
    assert [r["event_id"] for r in again] == [r["event_id"] for r in rows], "a report is the same report"
    assert all(r["clicks"] <= r["impressions"] <= r["eligible_impressions"] for r in rows)
    assert {r["device"] for r in rows} <= {"mobile", "desktop", "tablet"}
    assert set(rows[0]) == {f.name for f in events.CAMPAIGN_STATS}
