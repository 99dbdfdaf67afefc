"""Bidding for a campaign's search-ad auctions, per click, from what an advertiser observes: each
auction's hour, weekday, segment and device, the budget and what is left of it, and the clicks,
conversions and costs of the auctions it won.

In an auction ranked by bid x click propensity, a click is worth bidding its value: the conversion
rate after the click times the value of a conversion. With a budget, the best a campaign can do is
to bid a constant fraction of that value all day, the fraction that spends the budget exactly
(the budget-constrained bid of the hindsight optimum). So the optimiser learns what a click is
worth in each context and paces the fraction; the rules an operator would run instead are a fixed
bid, bidding the value (no pacing), and linear bidding (a base bid scaled by the context's
predicted value against the average), their settings tuned on validation worlds.

The optimiser is the marketing spec's: gradient boosting (LightGBM) on the history of clicks, from
the hour, the weekday, the segment and device, their historical conversion rate, the campaign's age
and the prices paid, predicting a click's conversion; the bid is that value times the pacing
multiplier, with a confidence and the reasons for it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PRIOR_CVR = 0.0375  # the published search conversion rate: the belief before any click
PRIOR_CLICKS = 200.0  # ... worth this many clicks
PACING_GAIN = 2.0  # how hard the multiplier reacts to spend ahead of or behind the plan
MIN_MULTIPLIER = 0.05
MAX_MULTIPLIER = 3.0
MAX_STEP = 0.3  # log of the largest change of the multiplier in one hour
MIN_TRAINING_CONVERSIONS = 30  # fewer in the history: the optimiser keeps the rates by segment and device


class History:
    """What the advertiser has seen: one row per click (its context and whether it converted), and
    the auctions and spend per hour."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []  # per hour: (clicks, 6) hour, weekday, segment, device, day, converted
        self.hourly_auctions = np.zeros(24)
        self.hourly_cost: list[float] = []
        self.days_seen: set[int] = set()

    def add(self, context: dict, result: dict) -> None:
        clicks = np.asarray(result["clicks"], bool)
        if clicks.any():
            n = int(clicks.sum())
            self.rows.append(np.column_stack([
                np.full(n, context["hour"]), np.full(n, context["weekday"]), context["segment"][clicks],
                context["device"][clicks], np.full(n, context["day"]), np.asarray(result["conversions"])[clicks]]))
        self.hourly_auctions[context["hour"]] += len(context["segment"])
        cost = float(np.sum(result["cost"]))
        self.hourly_cost.append(cost / max(int(clicks.sum()), 1))
        self.days_seen.add(context["day"])

    def clicks(self) -> np.ndarray:
        return np.vstack(self.rows) if self.rows else np.zeros((0, 6))

    def traffic_share(self) -> np.ndarray:
        """The share of a day's auctions each hour brings, as seen so far (uniform before any)."""
        total = self.hourly_auctions.sum()
        return self.hourly_auctions / total if total else np.full(24, 1 / 24)


def pooled_cvr(clicks: np.ndarray) -> float:
    conversions = clicks[:, 5].sum() if len(clicks) else 0.0
    return float((conversions + PRIOR_CVR * PRIOR_CLICKS) / (len(clicks) + PRIOR_CLICKS))


def segment_device_cvr(clicks: np.ndarray, segments: int = 4, devices: int = 3) -> np.ndarray:
    """(segments, devices) conversion rates, each shrunk to the pooled rate by PRIOR_CLICKS."""
    prior = pooled_cvr(clicks)
    conv = np.zeros((segments, devices))
    n = np.zeros((segments, devices))
    if len(clicks):
        np.add.at(conv, (clicks[:, 2].astype(int), clicks[:, 3].astype(int)), clicks[:, 5])
        np.add.at(n, (clicks[:, 2].astype(int), clicks[:, 3].astype(int)), 1.0)
    return (conv + prior * PRIOR_CLICKS) / (n + PRIOR_CLICKS)


@dataclass
class FixedBid:
    """The same per-click bid on every auction (tuned on validation worlds)."""

    bid: float

    def bids(self, context: dict) -> np.ndarray:
        return np.full(len(context["segment"]), self.bid)

    def observe(self, context: dict, result: dict) -> None:
        pass


@dataclass
class ValueBid:
    """Bid what a click is worth (the campaign's conversion rate so far x the value of a
    conversion), with no pacing: what an advertiser does who trusts the auction to price clicks."""

    history: History = field(default_factory=History)

    def bids(self, context: dict) -> np.ndarray:
        return np.full(len(context["segment"]), pooled_cvr(self.history.clicks()) * context["value_per_conversion"])

    def observe(self, context: dict, result: dict) -> None:
        self.history.add(context, result)


@dataclass
class LinearBid:
    """A base bid scaled by the context's conversion rate against the campaign's (Perlich et al.,
    2012: bid = base x predicted rate / average rate), the base tuned on validation worlds."""

    base: float
    history: History = field(default_factory=History)
    _rates: np.ndarray | None = None

    def bids(self, context: dict) -> np.ndarray:
        if self._rates is None:
            clicks = self.history.clicks()
            self._rates = segment_device_cvr(clicks) / pooled_cvr(clicks)
        return self.base * self._rates[context["segment"], context["device"]]

    def observe(self, context: dict, result: dict) -> None:
        self.history.add(context, result)
        if context["hour"] == 23:
            self._rates = None  # learn from the day's clicks before the next


@dataclass
class BidAnswer:
    bid: np.ndarray
    confidence: np.ndarray
    reasons: list[list[str]]


class BidOptimiser:
    """Value per click from a gradient-boosting model of conversion, times a pacing multiplier that
    keeps the day's spend on the plan (the budget spread as the hours' auctions are)."""

    FEATURES = ("hour", "weekday", "segment", "device", "historical_cvr", "campaign_age", "hour_cpc")

    def __init__(self, seed: int = 0, pacing_gain: float = PACING_GAIN) -> None:
        self.history = History()
        self.multiplier = 1.0
        self.pacing_gain = pacing_gain
        self.seed = seed
        self.model = None
        self.rates = segment_device_cvr(np.zeros((0, 6)))
        self.hour_cpc = np.zeros(24)
        self.spent_today = 0.0
        self.day: int | None = None

    # -- learning, once a day on the history of clicks --------------------------------------------
    def _features(self, hour, weekday, segment, device, age: float) -> np.ndarray:
        n = len(segment)
        return np.column_stack([np.full(n, hour) if np.ndim(hour) == 0 else hour,
                                np.full(n, weekday) if np.ndim(weekday) == 0 else weekday,
                                segment, device, self.rates[segment, device], np.full(n, age),
                                self.hour_cpc[np.full(n, hour, int) if np.ndim(hour) == 0 else hour.astype(int)]])

    def learn(self) -> None:
        clicks = self.history.clicks()
        self.rates = segment_device_cvr(clicks)
        costs = np.asarray(self.history.hourly_cost[-24 * 7:])
        if len(costs) >= 24:
            self.hour_cpc = costs[-24:]
        if len(clicks) == 0 or clicks[:, 5].sum() < MIN_TRAINING_CONVERSIONS:
            self.model = None
            return
        import lightgbm as lgb

        x = self._features(clicks[:, 0], clicks[:, 1], clicks[:, 2].astype(int), clicks[:, 3].astype(int),
                           float(len(self.history.days_seen)))
        self.model = lgb.LGBMClassifier(n_estimators=100, max_depth=6, learning_rate=0.1, subsample=0.8,
                                        subsample_freq=1, min_child_samples=50, random_state=self.seed, verbose=-1)
        self.model.fit(x, clicks[:, 5].astype(int))

    def value_per_click(self, context: dict) -> np.ndarray:
        segment, device = context["segment"], context["device"]
        rate = self.rates[segment, device]
        if self.model is not None and len(segment):
            x = self._features(context["hour"], context["weekday"], segment, device, float(len(self.history.days_seen)))
            # the model's view, shrunk towards the segment-device rate where it has seen little
            rate = 0.5 * rate + 0.5 * self.model.predict_proba(x)[:, 1]
        return rate * context["value_per_conversion"]

    # -- bidding and pacing ------------------------------------------------------------------------
    def answer(self, context: dict) -> BidAnswer:
        """Bids with the spec's confidence (data behind the campaign, budget left) and reasons."""
        if context["day"] != self.day:
            self.day, self.spent_today = context["day"], 0.0
        value = self.value_per_click(context)
        bid = self.multiplier * value
        age = len(self.history.days_seen)
        left = context["budget_left"] / max(context["budget"], 1e-9)
        confidence = np.full(len(bid), (min(age / 30, 1.0) + (1.0 if left > 0.1 else 0.5)) / 2)
        reasons = []
        for v in value:
            why = [f"a click is worth {v:.2f} here"]
            why.append(f"pacing holds the bid at {self.multiplier:.2f} of it")
            if left < 0.1:
                why.append("little budget left today")
            if age >= 14:
                why.append("two weeks of history behind the value model")
            reasons.append(why)
        return BidAnswer(bid, confidence, reasons)

    def bids(self, context: dict) -> np.ndarray:
        return self.answer(context).bid

    def observe(self, context: dict, result: dict) -> None:
        self.history.add(context, result)
        self.spent_today += float(np.sum(result["cost"]))
        share = self.history.traffic_share()
        planned = context["budget"] * share[: context["hour"] + 1].sum()
        error = (planned - self.spent_today) / max(context["budget"], 1e-9)
        # the goal is the most conversions the budget buys: where the budget would be left over, a bid
        # above a click's value still buys conversions, so the multiplier may pass one (to a bound);
        # one hour moves it by at most MAX_STEP, so a quiet night cannot send it to the bound
        step = float(np.clip(self.pacing_gain * error, -MAX_STEP, MAX_STEP))
        self.multiplier = float(np.clip(self.multiplier * np.exp(step), MIN_MULTIPLIER, MAX_MULTIPLIER))
        if context["hour"] == 23:
            self.learn()
