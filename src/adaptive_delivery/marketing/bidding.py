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

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# What a searcher's auction says about them, as the ad platform reports it (the twin draws these)
SEGMENTS = ("new", "returning", "loyal", "lapsed")
DEVICES = ("mobile", "desktop", "tablet")
# The value model's inputs, in order: all read by an advertiser (the clock, the auction's audience,
# the campaign's own conversion rate for that audience, its age in days, and what a click cost at
# this hour lately, the trace the competitors' bids leave under second price)
VALUE_FEATURES = ("hour", "weekday", "segment", "device", "historical_cvr", "campaign_age", "hour_cpc")
MODEL_WEIGHT = 0.5  # a model's conversion rate is averaged with the campaign's own for the audience
LOW_BUDGET_SHARE = 0.1  # below this share of the day's budget left, a bid is less sure to be spent

CvrModel = Callable[[np.ndarray], np.ndarray]  # value-feature rows -> P(conversion | click)

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
        self._stacked: np.ndarray | None = None  # `clicks()` until the next click is added

    def add(self, context: dict, result: dict) -> None:
        clicks = np.asarray(result["clicks"], bool)
        if clicks.any():
            n = int(clicks.sum())
            self.rows.append(np.column_stack([
                np.full(n, context["hour"]), np.full(n, context["weekday"]), context["segment"][clicks],
                context["device"][clicks], np.full(n, context["day"]), np.asarray(result["conversions"])[clicks]]))
            self._stacked = None
        self.hourly_auctions[context["hour"]] += len(context["segment"])
        cost = float(np.sum(result["cost"]))
        self.hourly_cost.append(cost / max(int(clicks.sum()), 1))
        self.days_seen.add(context["day"])

    def clicks(self) -> np.ndarray:
        """Every click so far, one row each (stacked once per new click, not on every call)."""
        if self._stacked is None:
            self._stacked = np.vstack(self.rows) if self.rows else np.zeros((0, 6))
            self._stacked.flags.writeable = False  # shared by every caller until the next click
        return self._stacked

    def traffic_share(self) -> np.ndarray:
        """The share of a day's auctions each hour brings, as seen so far (uniform before any)."""
        total = self.hourly_auctions.sum()
        return self.hourly_auctions / total if total else np.full(24, 1 / 24)


def pooled_cvr(clicks: np.ndarray) -> float:
    conversions = clicks[:, 5].sum() if len(clicks) else 0.0
    return float((conversions + PRIOR_CVR * PRIOR_CLICKS) / (len(clicks) + PRIOR_CLICKS))


def segment_device_cvr(clicks: np.ndarray, segments: int = len(SEGMENTS), devices: int = len(DEVICES)) -> np.ndarray:
    """(segments, devices) conversion rates, each shrunk to the pooled rate by PRIOR_CLICKS."""
    prior = pooled_cvr(clicks)
    conv = np.zeros((segments, devices))
    n = np.zeros((segments, devices))
    if len(clicks):
        np.add.at(conv, (clicks[:, 2].astype(int), clicks[:, 3].astype(int)), clicks[:, 5])
        np.add.at(n, (clicks[:, 2].astype(int), clicks[:, 3].astype(int)), 1.0)
    return (conv + prior * PRIOR_CLICKS) / (n + PRIOR_CLICKS)


def rates_known_before(clicks: np.ndarray) -> np.ndarray:
    """Per click, its segment-device conversion rate as `segment_device_cvr` had it at the start of
    the click's day (from the earlier days' clicks alone): what a bidder knew when it bought it."""
    out = np.empty(len(clicks))
    days = clicks[:, 4] if len(clicks) else np.zeros(0)
    for day in np.unique(days):
        here = days == day
        rates = segment_device_cvr(clicks[days < day])
        out[here] = rates[clicks[here, 2].astype(int), clicks[here, 3].astype(int)]
    return out


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


def value_features(hour, weekday, segment, device, historical_cvr, campaign_age, hour_cpc) -> np.ndarray:
    """The value model's rows (`VALUE_FEATURES`), one per auction; a scalar applies to every row."""
    n = len(segment)
    return np.column_stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (n,))
                            for c in (hour, weekday, segment, device, historical_cvr, campaign_age, hour_cpc)])


def predicted_cvr(model: CvrModel | None, x: np.ndarray) -> np.ndarray:
    """A click's conversion: the model's view averaged with the campaign's own rate for the
    audience (its feature), so one model's error moves a bid only halfway; the rate alone without
    a model."""
    rate = x[:, VALUE_FEATURES.index("historical_cvr")]
    if model is None or not len(x):
        return rate
    return (1 - MODEL_WEIGHT) * rate + MODEL_WEIGHT * np.asarray(model(x), dtype=np.float64)


def bid_confidence(campaign_age: np.ndarray, budget_share_left: np.ndarray) -> np.ndarray:
    """0-1, the spec's two grounds: the history behind the value (full at 30 days) and the budget
    behind the bid (half where less than LOW_BUDGET_SHARE of the day's is left)."""
    history = np.minimum(np.asarray(campaign_age, dtype=np.float64) / 30, 1.0)
    budget = np.where(np.asarray(budget_share_left) > LOW_BUDGET_SHARE, 1.0, 0.5)
    return (history + budget) / 2


def bid_reasons(value: float, multiplier: float, budget_share_left: float, campaign_age: float) -> list[str]:
    """The spec's reasons for one bid, in words an operator reads."""
    why = [f"a click is worth {value:.2f} here", f"pacing holds the bid at {multiplier:.2f} of it"]
    if budget_share_left < LOW_BUDGET_SHARE:
        why.append("little budget left today")
    if campaign_age >= 14:
        why.append("two weeks of history behind the value model")
    return why


def fit_value_model(x: np.ndarray, converted: np.ndarray, seed: int):
    """The campaign's own gradient-boosting model of a click's conversion (LightGBM)."""
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=100, max_depth=6, learning_rate=0.1, subsample=0.8,
                               subsample_freq=1, min_child_samples=50, random_state=seed, verbose=-1)
    model.fit(x, converted.astype(int))
    return model


@dataclass
class BidAnswer:
    bid: np.ndarray
    confidence: np.ndarray
    reasons: list[list[str]]


class BidOptimiser:
    """Value per click from a gradient-boosting model of conversion, times a pacing multiplier that
    keeps the day's spend on the plan (the budget spread as the hours' auctions are).

    `prior`: a conversion model learned on other campaigns (MKT-002, registered and served), used
    until this campaign's own history is enough to fit one."""

    FEATURES = VALUE_FEATURES

    def __init__(self, seed: int = 0, pacing_gain: float = PACING_GAIN, prior: CvrModel | None = None) -> None:
        self.history = History()
        self.multiplier = 1.0
        self.pacing_gain = pacing_gain
        self.seed = seed
        self.model = None
        self.prior = prior
        self.rates = segment_device_cvr(np.zeros((0, 6)))
        self.hour_cpc = np.zeros(24)
        self.spent_today = 0.0
        self.day: int | None = None

    # -- learning, once a day on the history of clicks --------------------------------------------
    @property
    def campaign_age(self) -> float:
        return float(len(self.history.days_seen))

    def _features(self, hour, weekday, segment, device) -> np.ndarray:
        hour_index = np.asarray(hour, dtype=int)
        return value_features(hour, weekday, segment, device, self.rates[segment, device], self.campaign_age,
                              self.hour_cpc[hour_index])

    def training_rows(self, as_known: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Every click so far as the value model's rows, and whether it converted. `as_known`: with
        the campaign's rate and age as they were when each click was bought (a model for other
        campaigns' early days), else as they are now (the campaign's own model, as it bids next)."""
        clicks = self.history.clicks()
        x = self._features(clicks[:, 0], clicks[:, 1], clicks[:, 2].astype(int), clicks[:, 3].astype(int))
        if as_known:
            x[:, VALUE_FEATURES.index("historical_cvr")] = rates_known_before(clicks)
            x[:, VALUE_FEATURES.index("campaign_age")] = clicks[:, 4]
        return x, clicks[:, 5]

    def learn(self) -> None:
        clicks = self.history.clicks()
        self.rates = segment_device_cvr(clicks)
        costs = np.asarray(self.history.hourly_cost[-24 * 7:])
        if len(costs) >= 24:
            self.hour_cpc = costs[-24:]
        if len(clicks) == 0 or clicks[:, 5].sum() < MIN_TRAINING_CONVERSIONS:
            self.model = None
            return
        x, converted = self.training_rows()
        fitted = fit_value_model(x, converted, self.seed)
        self.model = lambda rows: fitted.predict_proba(rows)[:, 1]

    def value_per_click(self, context: dict) -> np.ndarray:
        x = self._features(context["hour"], context["weekday"], context["segment"], context["device"])
        model = self.model if self.model is not None else self.prior
        return predicted_cvr(model, x) * context["value_per_conversion"]

    # -- bidding and pacing ------------------------------------------------------------------------
    def _start_day(self, context: dict) -> None:
        if context["day"] != self.day:
            self.day, self.spent_today = context["day"], 0.0

    def answer(self, context: dict) -> BidAnswer:
        """Bids with the spec's confidence (data behind the campaign, budget left) and reasons."""
        self._start_day(context)
        value = self.value_per_click(context)
        left = context["budget_left"] / max(context["budget"], 1e-9)
        confidence = bid_confidence(np.full(len(value), self.campaign_age), np.full(len(value), left))
        reasons = [bid_reasons(v, self.multiplier, left, self.campaign_age) for v in value]
        return BidAnswer(self.multiplier * value, confidence, reasons)

    def bids(self, context: dict) -> np.ndarray:
        self._start_day(context)  # the bids alone: no reasons written for every auction
        return self.multiplier * self.value_per_click(context)

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
