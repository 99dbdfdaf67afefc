"""The marketing twin: an advertiser's campaigns in a search-ad auction, with the truth hidden.

Each campaign has creatives whose click propensity depends on the searcher's segment, device, hour
and day (a creative that suits one segment may not suit another), a conversion propensity per click
that depends on the segment and device (what a click is worth), and a value per conversion. Every impression opportunity is an auction against competing
advertisers: ads are ranked by bid x click propensity (the platform's quality-weighted rank), the
winner pays per click either what it would have needed to keep its rank (second price) or its own
bid (first price). A day's budget caps what a campaign may spend; how a bidder spreads it over the
day (pacing) is up to the bidder.

Calibrated so that a bidder near its value lands on the search averages WordStream publishes
across industries (Google Ads Benchmarks, 2019): click-through 3.17%, conversion 3.75% of clicks,
$2.69 per click; traffic by hour follows the usual search curve (quiet at night, peaks at midday
and in the evening) and mobile carries about 60% of it.

The oracle knows each opportunity's true value and the competitors' ranks: the most value a
campaign's budget could buy that day, choosing opportunities in hindsight (`oracle_value`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from adaptive_delivery.marketing.bidding import DEVICES, SEGMENTS  # what the ad platform reports

SEGMENT_SHARES = (0.40, 0.30, 0.12, 0.18)
DEVICE_SHARES = (0.60, 0.35, 0.05)
DEVICE_CTR = (-0.25, 0.25, 0.0)  # logit offsets: desktop searchers click ads more than mobile ones
DEVICE_CVR = (-0.35, 0.3, 0.0)  # ... and convert more after the click
HOURLY_TRAFFIC = np.array([1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.4, 3.6, 4.4, 4.8, 5.0,
                           5.4, 5.2, 4.8, 4.6, 4.4, 4.4, 4.8, 5.4, 5.6, 5.0, 3.6, 2.0])
HOURLY_TRAFFIC = HOURLY_TRAFFIC / HOURLY_TRAFFIC.sum()
WEEKEND_TRAFFIC = 0.8  # searches on Saturdays and Sundays, against a weekday
PUBLISHED = {"ctr": 0.0317, "cvr": 0.0375, "cpc": 2.69}  # WordStream, Google Ads search, 2019 averages
PRICE_RULES = ("second", "first")
# Set so that bidding the value per click with no budget lands on the published averages
# (`calibration` measures it; tests/unit/test_marketing_twin.py holds it within a band).
CTR_SELECTION = 0.62
COMPETITION_SHIFT = 0.8


@dataclass
class Campaign:
    name: str
    daily_opportunities: int  # auctions a weekday brings
    ctr_logit: np.ndarray  # (creatives, segments) base click logit
    cvr_logit: np.ndarray  # (segments,) P(conversion | click) by segment, before the device's offset
    value: float  # dollars per conversion
    hour_ctr: np.ndarray  # (24,) logit offsets: intent by hour
    weekend_ctr: float
    competition: float  # median competitor rank score (dollars per impression)
    competition_spread: float  # lognormal sigma of the best competitor's rank score
    hour_competition: np.ndarray  # (24,) multipliers: more advertisers in business hours
    budget: float  # dollars per day

    @property
    def n_creatives(self) -> int:
        return self.ctr_logit.shape[0]


@dataclass
class Opportunities:
    """One hour's auctions for one campaign: the context a bidder sees, and the truth it does not."""

    day: int
    hour: int
    segment: np.ndarray
    device: np.ndarray
    competitor: np.ndarray  # the best competitor's rank score (hidden)
    ctr: np.ndarray  # (n, creatives) true click propensity (hidden)
    cvr: np.ndarray  # (n,) true conversion propensity of a click (hidden)

    def __len__(self) -> int:
        return len(self.segment)

    @property
    def weekday(self) -> int:
        return self.day % 7


@dataclass
class MarketingWorld:
    seed: int
    campaigns: list[Campaign] = field(default_factory=list)

    @classmethod
    def build(cls, seed: int, n_campaigns: int = 4, creatives: int = 3, daily_opportunities: int = 20_000
              ) -> MarketingWorld:
        rng = np.random.default_rng(seed)
        campaigns = []
        # auctions are won more often where clicks are likelier (rank = bid x quality), so the clicks
        # a campaign sees run above the population's rate: the base sits below the published one
        base_ctr = PUBLISHED["ctr"] * CTR_SELECTION
        base_logit = np.log(base_ctr / (1 - base_ctr))
        for k in range(n_campaigns):
            campaign_logit = base_logit + rng.normal(0, 0.3)
            creative = rng.normal(0, 0.25, (creatives, 1))  # one creative is simply better ...
            fit = rng.normal(0, 0.35, (creatives, len(SEGMENTS)))  # ... and each suits some segments
            cvr_base = np.log(PUBLISHED["cvr"] / (1 - PUBLISHED["cvr"])) + rng.normal(0, 0.2)
            cvr_logit = cvr_base + np.array([-0.3, 0.1, 0.6, -0.2]) + rng.normal(0, 0.2, len(SEGMENTS))
            value = float(np.exp(rng.normal(np.log(80.0), 0.35)))
            hour_ctr = 0.15 * np.sin((np.arange(24) - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.05, 24)
            competition = PUBLISHED["cpc"] * base_ctr * float(np.exp(rng.normal(COMPETITION_SHIFT, 0.2)))
            hour_competition = 1.0 + 0.25 * np.clip(HOURLY_TRAFFIC * 24 - 1, -1, 1)
            opportunities = int(daily_opportunities * np.exp(rng.normal(0, 0.2)))
            campaigns.append(Campaign(
                name=f"campaign-{k}", daily_opportunities=opportunities, ctr_logit=campaign_logit + creative + fit,
                cvr_logit=cvr_logit, value=value, hour_ctr=hour_ctr, weekend_ctr=float(rng.normal(-0.1, 0.05)),
                competition=competition, competition_spread=0.45, hour_competition=hour_competition,
                budget=0.0))
        world = cls(seed, campaigns)
        for c in campaigns:  # a budget that buys about 40% of what bidding the value would, all day
            c.budget = 0.4 * world.unpaced_spend(c)
        return world

    def rng(self, campaign: int, day: int, hour: int, stream: int = 0) -> np.random.Generator:
        """Randomness keyed by what it draws, so two bidders in the same world meet the same auctions."""
        return np.random.default_rng([self.seed, campaign, day, hour, stream])

    def opportunities(self, campaign: int, day: int, hour: int) -> Opportunities:
        c = self.campaigns[campaign]
        rng = self.rng(campaign, day, hour)
        mean = c.daily_opportunities * HOURLY_TRAFFIC[hour] * (WEEKEND_TRAFFIC if day % 7 >= 5 else 1.0)
        n = int(rng.poisson(mean))
        segment = rng.choice(len(SEGMENTS), n, p=SEGMENT_SHARES)
        device = rng.choice(len(DEVICES), n, p=DEVICE_SHARES)
        competitor = c.competition * c.hour_competition[hour] * np.exp(rng.normal(0, c.competition_spread, n))
        logit = (c.ctr_logit[:, segment].T + np.asarray(DEVICE_CTR)[device][:, None] + c.hour_ctr[hour]
                 + (c.weekend_ctr if day % 7 >= 5 else 0.0))
        cvr_logit = c.cvr_logit[segment] + np.asarray(DEVICE_CVR)[device]
        return Opportunities(day, hour, segment, device, competitor, 1.0 / (1.0 + np.exp(-logit)),
                             1.0 / (1.0 + np.exp(-cvr_logit)))

    def outcomes(self, campaign: int, opp: Opportunities, won: np.ndarray, creative: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Clicks and conversions of the won impressions (their creatives shown)."""
        rng = self.rng(campaign, opp.day, opp.hour, stream=1)
        u_click, u_conv = rng.random(len(opp)), rng.random(len(opp))  # drawn for every auction: bidders share luck
        p = opp.ctr[np.arange(len(opp)), creative]
        clicks = won & (u_click < p)
        conversions = clicks & (u_conv < opp.cvr)
        return clicks, conversions

    def unpaced_spend(self, c: Campaign, days: int = 7) -> float:
        """A weekday's mean spend of bidding the value per click on every auction, no budget."""
        k = self.campaigns.index(c)
        total = 0.0
        for day in range(days):
            for hour in range(24):
                opp = self.opportunities(k, day, hour)
                won = opp.cvr * c.value * opp.ctr[:, 0] > opp.competitor
                total += float(opp.competitor[won].sum())  # expected cost per impression: the rank it beat
        return total / days


def auction(bids: np.ndarray, quality: np.ndarray, competitor: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """(won, price per click): ranked by bid x quality against the best competitor's rank score;
    second price pays the per-click bid that would just keep the rank, first price pays the bid."""
    if rule not in PRICE_RULES:
        raise ValueError(f"unknown price rule {rule!r}; expected one of {PRICE_RULES}")
    won = bids * quality > competitor
    price = np.where(won, competitor / np.maximum(quality, 1e-12) if rule == "second" else bids, 0.0)
    return won, price


def oracle_value(world: MarketingWorld, campaign: int, day: int, creative: np.ndarray | None = None) -> float:
    """The most conversion value the day's budget could buy in hindsight: every auction's expected
    value (its best creative's click propensity x conversion x value) and cost (expected clicks x the
    price that wins it), bought best ratio first until the budget is spent (the fractional
    knapsack's bound; the last item is taken in part)."""
    c = world.campaigns[campaign]
    values, costs = [], []
    for hour in range(24):
        opp = world.opportunities(campaign, day, hour)
        ctr = opp.ctr.max(axis=1) if creative is None else opp.ctr[np.arange(len(opp)), creative]
        values.append(ctr * opp.cvr * c.value)
        costs.append(opp.competitor)  # win at the competitor's rank: its score per impression
    value, cost = np.concatenate(values), np.concatenate(costs)
    order = np.argsort(-value / cost)
    spent = np.cumsum(cost[order])
    inside = spent <= c.budget
    total = float(value[order][inside].sum())
    k = int(inside.sum())
    if k < len(order):
        left = c.budget - (spent[k - 1] if k else 0.0)
        total += float(value[order][k] * left / cost[order][k])
    return total


@dataclass
class DayResult:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    spend: float = 0.0
    value: float = 0.0  # conversions x value per conversion
    expected_value: float = 0.0  # what the won impressions were worth in truth (the referee's, less noisy)
    expected_conversions: float = 0.0
    exhausted_hour: int | None = None  # the hour the budget ran out, if it did


def run_day(world: MarketingWorld, campaign: int, day: int, bidder, rule: str = "second",
            creative: int = 0) -> DayResult:
    """One day of a campaign's auctions with `bidder` deciding. The bidder sees what an advertiser
    sees: each auction's hour, weekday, segment and device, its budget and what is left, its value
    per conversion; after each hour, which auctions it won and what they cost, and its clicks and
    conversions. `bidder.bids(context) -> per-click bids`, `bidder.observe(context, result)`. Spend
    stops at the budget: auctions after it is gone are lost."""
    c = world.campaigns[campaign]
    out = DayResult()
    left = c.budget
    for hour in range(24):
        opp = world.opportunities(campaign, day, hour)
        context = {"day": day, "hour": hour, "weekday": day % 7, "segment": opp.segment, "device": opp.device,
                   "budget": c.budget, "budget_left": left, "value_per_conversion": c.value}
        bids = np.maximum(np.nan_to_num(np.asarray(bidder.bids(context), dtype=float)), 0.0)
        if bids.shape != (len(opp),):
            raise ValueError(f"a bidder must bid once per auction: {bids.shape} for {len(opp)}")
        shown = np.full(len(opp), creative)
        won, price = auction(bids, opp.ctr[np.arange(len(opp)), shown], opp.competitor, rule)
        if left <= 0:
            won[:] = False
        clicks, conversions = world.outcomes(campaign, opp, won, shown)
        cost = np.where(clicks, price, 0.0)
        over = np.cumsum(cost) > left
        if over.any():  # the budget runs out inside this hour: later auctions are not entered
            out.exhausted_hour = hour if out.exhausted_hour is None else out.exhausted_hour
            won, clicks, conversions, cost = won & ~over, clicks & ~over, conversions & ~over, np.where(over, 0.0, cost)
        left -= float(cost.sum())
        bidder.observe(context, {"won": won, "clicks": clicks, "conversions": conversions, "cost": cost})
        out.impressions += int(won.sum())
        out.clicks += int(clicks.sum())
        out.conversions += int(conversions.sum())
        out.spend += float(cost.sum())
        out.expected_conversions += float((opp.ctr[won, creative] * opp.cvr[won]).sum())
    out.expected_value = out.expected_conversions * c.value
    out.value = out.conversions * c.value
    return out


def calibration(world: MarketingWorld, days: int = 7) -> dict[str, float]:
    """Click-through, conversion and cost per click of bidding each click's expected value with no
    budget, over every campaign: the rates the twin is calibrated to (`PUBLISHED`)."""
    class _Value:
        def __init__(self, campaign: Campaign) -> None:
            self.value = campaign.value

        def bids(self, context: dict) -> np.ndarray:
            return np.full(len(context["segment"]), PUBLISHED["cvr"] * self.value)

        def observe(self, context: dict, result: dict) -> None:
            pass

    totals = DayResult()
    for k, c in enumerate(world.campaigns):
        budget, c.budget = c.budget, float("inf")
        try:
            for day in range(days):
                r = run_day(world, k, day, _Value(c))
                totals.impressions += r.impressions
                totals.clicks += r.clicks
                totals.conversions += r.conversions
                totals.spend += r.spend
        finally:
            c.budget = budget
    return {"ctr": totals.clicks / max(totals.impressions, 1), "cvr": totals.conversions / max(totals.clicks, 1),
            "cpc": totals.spend / max(totals.clicks, 1)}


# ---- what the ad platform reports ------------------------------------------------------------
# An ad platform's hourly report splits a campaign's traffic by keyword and location as well as
# device. The twin draws each auction's keyword and location from a stream of its own (so every
# other draw, and every result above, is unchanged); its propensities do not depend on them.
KEYWORDS = ("brand", "generic", "competitor", "long-tail")
KEYWORD_SHARES = (0.25, 0.45, 0.10, 0.20)
LOCATIONS = ("north", "south", "east", "west", "central")
LOCATION_SHARES = (0.22, 0.24, 0.20, 0.18, 0.16)
REPORT_START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday: the twin's day 0 (weekday = day % 7)
_REPORT_STREAM = 2


class _Reporter:
    """Passes a bidder's bids through and keeps the hour's report rows of what it won."""

    def __init__(self, world: MarketingWorld, campaign: int, bidder, start: datetime) -> None:
        self.world, self.campaign, self.bidder, self.start = world, campaign, bidder, start
        self.campaign_id = f"w{world.seed}-{world.campaigns[campaign].name}"
        self.rows: list[dict] = []

    def bids(self, context: dict) -> np.ndarray:
        return self.bidder.bids(context)

    def observe(self, context: dict, result: dict) -> None:
        self.bidder.observe(context, result)
        n = len(context["segment"])
        rng = self.world.rng(self.campaign, context["day"], context["hour"], stream=_REPORT_STREAM)
        keyword = rng.choice(len(KEYWORDS), n, p=KEYWORD_SHARES)
        location = rng.choice(len(LOCATIONS), n, p=LOCATION_SHARES)
        cell = (context["device"] * len(KEYWORDS) + keyword) * len(LOCATIONS) + location
        when = self.start + timedelta(days=context["day"], hours=context["hour"])
        sums = {name: np.bincount(cell, weights=np.asarray(result[name], dtype=float),
                                  minlength=len(DEVICES) * len(KEYWORDS) * len(LOCATIONS))
                for name in ("won", "clicks", "conversions", "cost")}
        eligible = np.bincount(cell, minlength=len(DEVICES) * len(KEYWORDS) * len(LOCATIONS))
        for code in np.flatnonzero(eligible):
            device, rest = divmod(int(code), len(KEYWORDS) * len(LOCATIONS))
            kw, loc = divmod(rest, len(LOCATIONS))
            row = {"event_ts": when.isoformat(), "campaign_id": self.campaign_id,
                   "ad_group_id": f"{self.campaign_id}-ag0", "keyword": KEYWORDS[kw],
                   "device": DEVICES[device], "location": LOCATIONS[loc],
                   "spend": round(float(sums["cost"][code]), 4), "impressions": int(sums["won"][code]),
                   "clicks": int(sums["clicks"][code]), "conversions": int(sums["conversions"][code]),
                   "eligible_impressions": int(eligible[code]), "source": "twin"}
            key = "|".join(str(row[k]) for k in ("campaign_id", "ad_group_id", "event_ts", "keyword", "device",
                                                 "location"))
            self.rows.append({"event_id": hashlib.sha256(key.encode()).hexdigest()[:24], **row})


def campaign_reports(world: MarketingWorld, days: int, bidder_for, rule: str = "second",
                     start: datetime = REPORT_START) -> Iterator[dict]:
    """The hourly report rows an ad platform would send for each campaign's days with the bidder
    `bidder_for(campaign)` deciding (spec 003's raw campaign data, with the auctions each cell
    was eligible for): one row per hour, device, keyword and location that had auctions."""
    for k, c in enumerate(world.campaigns):
        bidder = bidder_for(c)
        for day in range(days):
            reporter = _Reporter(world, k, bidder, start)
            run_day(world, k, day, reporter, rule)
            yield from reporter.rows
