"""Subscribers as columns of numpy arrays (struct of arrays), grown by sign-ups.

Hidden traits (engagement propensity, habits, whether an address is dead or a spam trap,
whether the person is a habitual complainer) live here and nowhere in the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adaptive_delivery.twin.providers import N_PROVIDERS, PROVIDERS

NEVER = np.iinfo(np.int32).max
CLIENTS = ("gmail_app", "gmail_web", "apple_mail", "outlook", "yahoo_app", "other")
DEVICES = ("mobile", "desktop", "tablet")
ACQUISITION = ("signup_form", "checkout", "import", "co_registration")
ACQUISITION_SHARES = np.array([0.55, 0.25, 0.15, 0.05])
# How much likelier than the sender's average an address from each source (ACQUISITION's order) is
# to be dead when it joins, and to be a spam trap: a checkout's address was just used to pay; an
# imported or co-registered list carries typed-in, abandoned and harvested addresses, and the
# recycled and pristine traps that list rental and harvesting pick up. Each averages 1 over the
# sources' shares, so a sender's dead and trap shares are what its config says.
DEAD_BY_SOURCE = np.array([0.7, 0.3, 2.5, 4.0]) / float(np.dot(ACQUISITION_SHARES, [0.7, 0.3, 2.5, 4.0]))
TRAP_BY_SOURCE = np.array([0.3, 0.1, 3.0, 8.0]) / float(np.dot(ACQUISITION_SHARES, [0.3, 0.1, 3.0, 8.0]))
# Where subscribers live (UTC offsets) and how common each is.
TZ_OFFSETS = np.array([-8, -7, -6, -5, -3, 0, 1, 2, 3, 5, 8, 9, 10], dtype=np.int8)
TZ_WEIGHTS = np.array([0.12, 0.05, 0.10, 0.20, 0.04, 0.08, 0.14, 0.06, 0.03, 0.05, 0.05, 0.04, 0.04])
# Daily chance that a valid address goes dead (list decay of roughly 20% a year), and for someone who
# no longer reads it (engagement logit under DISENGAGED_LOGIT): abandoned mailboxes are the ones
# providers close. The two average about STALE_HAZARD_PER_DAY over a typical list.
STALE_HAZARD_PER_DAY = 0.0006
STALE_HAZARD_ENGAGED = 0.0004
STALE_HAZARD_DISENGAGED = 0.0018
# Spread of each subscriber's private standing with the provider's filter (`noise`, a logit shift).
FILTER_STANDING_SD = 0.6
# Full mailboxes: the share full when an address joins, the daily chance an emptied one fills
# (more for people who hardly read their mail) and the daily chance a full one is emptied.
MAILBOX_FULL_AT_JOIN = 0.008
MAILBOX_FILL_PER_DAY = 0.001
MAILBOX_FILL_DISENGAGED_EXTRA = 0.002
DISENGAGED_LOGIT = -2.5
MAILBOX_EMPTY_PER_DAY = 0.12


@dataclass
class Population:
    """All subscribers of all senders; rows [0, size) are live, the rest is reserved capacity."""

    capacity: int
    size: int = 0
    sender: np.ndarray = field(init=False)
    provider: np.ndarray = field(init=False)
    domain: np.ndarray = field(init=False)  # index into that provider's domains
    tz: np.ndarray = field(init=False)
    curve: np.ndarray = field(init=False)  # (capacity, 24) share of opens by local hour
    weekday: np.ndarray = field(init=False)  # (capacity, 7) relative activity by local weekday
    engagement_logit: np.ndarray = field(init=False)
    noise: np.ndarray = field(init=False)  # the provider's private view of this user (spam filter)
    complainer: np.ndarray = field(init=False)
    invalid_from: np.ndarray = field(init=False)  # day the address went dead (NEVER if alive)
    invalid_prior: np.ndarray = field(init=False)  # the chance it was dead when it joined (a law, not a state)
    joined_day: np.ndarray = field(init=False)  # the world day the row was added (0 for the initial list)
    trap: np.ndarray = field(init=False)
    mailbox_full: np.ndarray = field(init=False)
    client: np.ndarray = field(init=False)
    device: np.ndarray = field(init=False)
    acquisition: np.ndarray = field(init=False)
    signup_day: np.ndarray = field(init=False)
    hard_bounces: np.ndarray = field(init=False)
    unsubscribed: np.ndarray = field(init=False)
    complained: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        c = self.capacity
        self.sender = np.zeros(c, np.int16)
        self.provider = np.zeros(c, np.int8)
        self.domain = np.zeros(c, np.int8)
        self.tz = np.zeros(c, np.int8)
        self.curve = np.zeros((c, 24), np.float32)
        self.weekday = np.zeros((c, 7), np.float32)
        self.engagement_logit = np.zeros(c, np.float32)
        self.noise = np.zeros(c, np.float32)
        self.complainer = np.zeros(c, bool)
        self.invalid_from = np.full(c, NEVER, np.int32)
        self.invalid_prior = np.zeros(c, np.float32)
        self.joined_day = np.zeros(c, np.int32)
        self.trap = np.zeros(c, bool)
        self.mailbox_full = np.zeros(c, bool)
        self.client = np.zeros(c, np.int8)
        self.device = np.zeros(c, np.int8)
        self.acquisition = np.zeros(c, np.int8)
        self.signup_day = np.zeros(c, np.int32)
        self.hard_bounces = np.zeros(c, np.int16)
        self.unsubscribed = np.zeros(c, bool)
        self.complained = np.zeros(c, bool)

    def add(
        self,
        rng: np.random.Generator,
        n: int,
        sender: int,
        day: int,
        invalid_share: float,
        trap_share: float,
        tenure_days: tuple[int, int] | None,
    ) -> np.ndarray:
        """Create `n` subscribers for one sender; returns their row indices."""
        if self.size + n > self.capacity:
            raise RuntimeError(f"population capacity {self.capacity} exceeded")
        idx = np.arange(self.size, self.size + n)
        self.size += n
        shares = np.array([p.share for p in PROVIDERS])
        prov = rng.choice(N_PROVIDERS, size=n, p=shares / shares.sum())
        self.sender[idx] = sender
        self.provider[idx] = prov
        n_domains = np.array([len(p.domains) for p in PROVIDERS])
        self.domain[idx] = (rng.random(n) * n_domains[prov]).astype(np.int8)
        self.tz[idx] = rng.choice(TZ_OFFSETS, size=n, p=TZ_WEIGHTS / TZ_WEIGHTS.sum())
        corporate = np.array([PROVIDERS[p].category == "corporate" for p in prov])
        self.curve[idx] = _open_curves(rng, n, corporate)
        self.weekday[idx] = _weekday_habits(rng, n, corporate)
        self.engagement_logit[idx] = rng.normal(-1.35, 1.1, n) - 0.8 * (prov == PROVIDERS.index(_by_name("disposable")))
        self.noise[idx] = rng.normal(0.0, FILTER_STANDING_SD, n)
        self.complainer[idx] = rng.random(n) < 0.03
        if tenure_days is None:
            self.signup_day[idx] = day
        else:
            self.signup_day[idx] = day - rng.integers(tenure_days[0], tenure_days[1], n)
        dead_draw = rng.random(n)
        self.joined_day[idx] = day
        trap_draw = rng.random(n)
        self.client[idx] = _clients(rng, prov)
        self.device[idx] = rng.choice(3, size=n, p=[0.6, 0.33, 0.07])
        source = rng.choice(4, size=n, p=ACQUISITION_SHARES)
        self.acquisition[idx] = source
        # the chance it was dead when it joined follows where it came from
        self.invalid_prior[idx] = np.clip(invalid_share * DEAD_BY_SOURCE[source], 0.0, 1.0)
        dead = dead_draw < self.invalid_prior[idx]
        # an imported address that is dead today died some time ago; a bad sign-up never lived
        self.invalid_from[idx] = np.where(dead, np.minimum(self.signup_day[idx], day), NEVER)
        traps = trap_draw < trap_share * TRAP_BY_SOURCE[source]
        self.trap[idx] = traps
        self.invalid_from[idx[traps]] = NEVER  # traps accept mail: they never bounce
        self.mailbox_full[idx] = (rng.random(n) < MAILBOX_FULL_AT_JOIN) & ~traps
        return idx

    def live(self) -> slice:
        return slice(0, self.size)

    def daily_drift(self, rng: np.random.Generator, day: int) -> None:
        """Engagement wanders, addresses die, mailboxes fill up and get emptied."""
        s = self.live()
        n = self.size
        self.engagement_logit[s] += rng.normal(0.0, 0.05, n).astype(np.float32)
        alive = self.invalid_from[s] == NEVER
        dies = alive & ~self.trap[s] & (rng.random(n) < stale_hazard(self.engagement_logit[s]))
        self.invalid_from[s] = np.where(dies, day, self.invalid_from[s])
        fills = rng.random(n) < mailbox_fill_probability(self.engagement_logit[s])
        empties = rng.random(n) < MAILBOX_EMPTY_PER_DAY
        self.mailbox_full[s] = np.where(self.mailbox_full[s], ~empties, fills) & ~self.trap[s]


def stale_hazard(engagement_logit: np.ndarray) -> np.ndarray:
    """Daily chance that a live address dies: more for people who hardly read their mail."""
    disengaged = np.asarray(engagement_logit) < DISENGAGED_LOGIT
    return np.where(disengaged, STALE_HAZARD_DISENGAGED, STALE_HAZARD_ENGAGED)


def mailbox_fill_probability(engagement_logit: np.ndarray) -> np.ndarray:
    """Daily chance that an emptied mailbox fills up: people who hardly read fill theirs faster."""
    return MAILBOX_FILL_PER_DAY + MAILBOX_FILL_DISENGAGED_EXTRA * (np.asarray(engagement_logit) < DISENGAGED_LOGIT)


def _by_name(name: str):
    return next(p for p in PROVIDERS if p.name == name)


def _open_curves(rng: np.random.Generator, n: int, corporate: np.ndarray) -> np.ndarray:
    """Each person's share of mail-checking by local hour: a mix of morning, midday and evening."""
    hours = np.arange(24, dtype=float)
    centres = np.stack(
        [rng.normal(7.5, 1.2, n), rng.normal(12.5, 1.0, n), rng.normal(20.0, 1.5, n)], axis=1
    )
    weights = rng.dirichlet([2.0, 1.2, 2.0], size=n)
    weights[corporate] = rng.dirichlet([3.0, 3.0, 0.6], size=int(corporate.sum()))
    kappa = rng.uniform(1.5, 4.0, size=(n, 1))
    curve = np.zeros((n, 24))
    for k in range(3):
        curve += weights[:, [k]] * np.exp(kappa * (np.cos(2 * np.pi * (hours[None, :] - centres[:, [k]]) / 24) - 1))
    curve += 0.01
    return (curve / curve.sum(axis=1, keepdims=True)).astype(np.float32)


def _weekday_habits(rng: np.random.Generator, n: int, corporate: np.ndarray) -> np.ndarray:
    base = rng.gamma(20.0, 1 / 20.0, size=(n, 7))
    base[:, 5:] *= np.where(corporate, 0.25, 1.0)[:, None]
    return (base / base.mean(axis=1, keepdims=True)).astype(np.float32)


def _clients(rng: np.random.Generator, prov: np.ndarray) -> np.ndarray:
    """Mail client per person: Apple Mail is what turns on machine opens (MPP)."""
    mpp = np.array([p.mpp_share for p in PROVIDERS])[prov]
    apple = rng.random(len(prov)) < mpp
    native = {"gmail": 0, "yahoo": 4, "outlook": 3, "aol": 4}
    own = np.array([native.get(PROVIDERS[p].name, 5) for p in prov], dtype=np.int8)
    web = (own == 0) & (rng.random(len(prov)) < 0.4)
    own = np.where(web, 1, own)
    return np.where(apple, 2, own).astype(np.int8)
