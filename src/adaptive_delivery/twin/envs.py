"""Gymnasium views of the world for the reinforcement-learning models.

`ThrottleEnv` (MDL-003): one sending IP and one mailbox provider, a decision every 30 simulated
seconds. `WarmupEnv` (MDL-009): one new IP/domain, a decision every simulated day. Both draw
outcomes from `dynamics.outcome_probabilities` and move reputation and warm-up capacity with
`dynamics.update_reputation` / `dynamics.update_warm_capacity`: the same laws the log generator
applies per message, here applied to windows of messages (one world, two views).

Safety rails are deliberately *not* in the environments: the world accepts any action, and the
rails in `adaptive_delivery.delivery.decisions` are what stand between a policy and the world.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from adaptive_delivery.delivery.decisions.rails import (
    is_block_event,
    known_limit_per_min,
    static_rate_per_min,
)
from adaptive_delivery.delivery.features.definitions import warmup_stage
from adaptive_delivery.delivery.feeds import worst_reading
from adaptive_delivery.delivery.schemas import MTA_WINDOW_FIELDS, WARMUP_ACTIONS, WARMUP_FACTORS
from adaptive_delivery.twin import dynamics as dyn
from adaptive_delivery.twin.feeds import FeedHistory
from adaptive_delivery.twin.providers import (
    PROVIDER_INDEX,
    PROVIDER_NAMES,
    PROVIDERS,
    provider_array,
    reply_catalog,
)

# Spec §3.2 multipliers.
THROTTLE_MULTIPLIERS = (0.1, 0.5, 1.0, 1.5, 2.0, 3.0)
# Spec §3.2 reward per 1,000 messages.
REWARD = {"delivered": 1.0, "deferred": -0.5, "soft_bounce": -1.0, "hard_bounce": -2.0, "block": -10.0}
RATE_PENALTY = 0.01
STEP_SECONDS = 30
STEPS_PER_DAY = 86_400 // STEP_SECONDS


@dataclass(frozen=True)
class Audience:
    """What a window of mail looks like on average: the list and the content being sent."""

    invalid_share: float = 0.012
    mailbox_full_share: float = 0.008
    engagement: float = 0.25
    spamminess: float = 0.25
    quality: float = 0.55
    complaint_per_inbox: float = 0.0006
    human_open_rate: float = 0.22


def throttle_reward(counts: dict[str, int], rate_per_min: float) -> float:
    """Spec §3.2 in units of 1,000 messages: each delivered message +1, deferral -0.5, soft bounce -1,
    hard bounce -2, block -10, all divided by 1,000, minus 0.01 x rate in the same unit.

    Read this way the reward grows with delivered throughput (a 30-s window that delivers 200
    messages earns about 0.2) and the rate term is the slight preference for lower rates the spec
    asks for. Averaging per message instead would pay a controller the same for 10 messages a
    minute as for 1,000, and it would learn to send nothing."""
    total = sum(REWARD[k] * counts.get(k, 0) for k in REWARD)
    return (total - RATE_PENALTY * rate_per_min) / 1000.0


OUTCOME_KINDS = ("delivered", "deferred", "soft_bounce", "hard_bounce", "block")
TRANSIENT_REPLY = "421 4.3.0 Temporary System Problem. Try again later."
REPLY_FILL = {"{ip}": "192.0.2.10", "{qid}": "a1b2c3d4e5", "{rcpt}": "someone@example.net", "{domain}": "example.com"}


@dataclass
class Window:
    """What one 30-second window of sending to one provider came back with."""

    counts: dict[str, int]
    rate_blocks: int  # blocks caused by sending too fast (truth: the world's rate part)
    replies: list[tuple[str, int]]  # (SMTP reply line, how many messages got it)
    refused: list[tuple[str, int]]  # the lines among `replies` that came with a refusal (what the MTA logs)


def _fill_reply(code: int, enhanced: str, text: str) -> str:
    for key, value in REPLY_FILL.items():
        text = text.replace(key, value)
    return f"{code} {enhanced} {text}"


def updated_good_rate(good_rate: float, rate: float, sent: int, counts: dict[str, int]) -> float:
    """The best rate seen with > 95% delivered, lowered to what actually got through once the
    provider defers more than 5% (rate x accepted share estimates the limit under pressure), so
    the memory follows a limit that has been cut instead of holding on to the old one."""
    if sent <= 0:
        return good_rate
    if counts["delivered"] / sent > 0.95:
        good_rate = max(good_rate, rate)
    deferred_share = counts["deferred"] / sent
    if deferred_share > 0.05:
        good_rate = min(good_rate, rate * (1.0 - deferred_share))
    return good_rate


# A window pushes back on speed when it defers well past greylisting and transient load (about one
# message in 200 below the limit), and by at least three messages, so that the noise of a big
# window or one deferral in a small one is not taken for a limit.
CEILING_DEFERRED_SHARE = 0.03
CEILING_MIN_DEFERRED = 3
# The ceiling relaxes 0.1% a window (about 13% an hour) back toward the operator's known limit, so
# a limit that has risen since (reputation, warm-up) is probed again.
CEILING_RELAX_PER_WINDOW = 1.001


def updated_deferral_ceiling(ceiling: float, rate: float, sent: int, counts: dict[str, int], cap: float) -> float:
    """The lowest rate at which the provider recently pushed back (deferred beyond greylisting).

    `historical_good_rate` says how fast sending has gone well; this says how fast it has not, so
    a controller can tell "no limit found yet" (ceiling at the known limit) from "sitting just
    under a limit it found" — two states that look alike once the deferrals have passed."""
    ceiling = min(ceiling * CEILING_RELAX_PER_WINDOW, cap)
    deferred = counts.get("deferred", 0)
    if sent > 0 and deferred >= CEILING_MIN_DEFERRED and deferred / sent > CEILING_DEFERRED_SHARE:
        ceiling = min(ceiling, rate)
    return ceiling


class ThrottleEnv(gym.Env):
    """Per-provider throttling: choose a rate multiplier every 30 s, the provider answers.

    Observation (spec §3.2): current rate, queue depth, success rate over 1/5/15 min, deferrals
    and blocks in the last minute, mean reply latency, 4xx and 5xx rates, hour, weekday, the
    best rate seen with >95% success (forgotten down to what got through once the provider
    defers), warm-up stage, reputation (as a postmaster tool reports it,
    with noise), and the lowest rate the provider recently deferred at (`deferral_ceiling_rate`,
    the operator's known limit until it has; `updated_deferral_ceiling`). `info["truth"]` carries
    the hidden limit for evaluation only; `info["replies"]` the SMTP reply lines of the window
    (what rule-based MTAs react to), `info["refused_replies"]` those its refused messages got.

    `limit_jitter` draws each episode's hidden limit scale from [1/(1+j), 1+j] (log-uniform), so
    worlds with different seeds have different capacities and a policy must find them;
    `limit_scale` fixes it instead (a world matched to another simulation's allowance).
    `start_rate_per_min` is where the MTA starts (spec §6.2's default, or what the knowledge base
    learned), and the rate its memory of a good rate starts at.
    `step(action)` multiplies the current rate by one of the spec's multipliers; `step_rate(rate)`
    sets a rate directly (what a safety-railed controller does).
    """

    metadata = {"render_modes": []}
    OBS_NAMES = MTA_WINDOW_FIELDS

    def __init__(
        self,
        provider: str = "gmail",
        *,
        reputation: float = dyn.REPUTATION_ESTABLISHED,
        warm_capacity_per_day: float | None = None,
        audience: Audience = Audience(),
        episode_steps: int = 240,
        backlog: int | None = None,
        arrivals_per_min: float = 0.0,
        start_rate_per_min: float | None = None,
        limit_scale: float | None = None,
        limit_change_step: int | None = None,
        limit_change_scale: float = 0.5,
        limit_jitter: float = 0.0,
        start_hour: int = 14,
        seed: int | None = None,
    ) -> None:
        self.provider = provider
        self.p = np.array(PROVIDER_INDEX[provider])
        self.profile = PROVIDERS[int(self.p)]
        self.reputation0 = reputation
        self.warm0 = (
            warm_capacity_per_day
            if warm_capacity_per_day is not None
            else float(provider_array("base_limit_per_hour")[self.p] * dyn.WARM_SPREAD_HOURS * 1.25)
        )
        self.audience = audience
        self.episode_steps = episode_steps
        self.backlog0 = backlog
        self.arrivals_per_min = arrivals_per_min
        self.base_rate = static_rate_per_min(provider)
        self.start_rate = start_rate_per_min or self.base_rate
        self.fixed_limit_scale = limit_scale
        self.limit_change_step = limit_change_step
        self.limit_change_scale = limit_change_scale
        self.limit_jitter = limit_jitter
        self.start_hour = start_hour
        self.action_space = spaces.Discrete(len(THROTTLE_MULTIPLIERS))
        self.observation_space = spaces.Box(low=0.0, high=np.inf, shape=(len(self.OBS_NAMES),), dtype=np.float32)
        self.replies = reply_catalog().get(provider, reply_catalog()["default"])
        self._seed = seed
        self.reset(seed=seed)

    # ---- the world's side ------------------------------------------------------------------
    def hidden_limit_per_min(self) -> float:
        scale = self.limit_change_scale if (self.limit_change_step is not None and self.t >= self.limit_change_step) else 1.0
        return float(dyn.hourly_limit(self.p, self.reputation, self.warm, scale * self.limit_scale)) / 60.0

    def _window(self, n: int, rate_per_min: float, limit_per_min: float) -> Window:
        a = self.audience
        pressure = dyn.rate_pressure(rate_per_min * 60.0, limit_per_min * 60.0)
        probs = dyn.outcome_probabilities(
            provider=self.p, reputation=self.reputation, pressure=pressure, blocklisted=False,
            spf_or_dkim=True, dmarc=True, one_click=True, address_invalid=a.invalid_share,
            mailbox_full=a.mailbox_full_share, engagement=a.engagement, spamminess=a.spamminess,
            quality=a.quality, domain_age_days=365.0, complaint_rate=a.complaint_per_inbox,
        )
        # in a throttling window a deferral is the event that matters: deferred mail returns to
        # the queue; mailbox-full is the only soft bounce at this time scale
        p_block = float(probs.p_block)
        p_hard = float(probs.p_hard)
        reach = 1.0 - p_block - p_hard
        p_soft = reach * a.mailbox_full_share
        p_defer = float(probs.p_first_defer)
        p_delivered = max(1.0 - p_block - p_hard - p_soft - p_defer, 0.0)
        p = np.array([p_delivered, p_defer, p_soft, p_hard, p_block])
        counts = dict(zip(OUTCOME_KINDS, map(int, self.np_random.multinomial(n, p / p.sum())), strict=True))
        # the share of blocks the rate caused: what the block probability would lose without it
        not_rate = 1.0 - float(np.prod([1.0 - float(v) for k, v in probs.block_parts.items() if k != "rate"]))
        rate_share = (p_block - not_rate) / p_block if p_block > 0 else 0.0
        rate_blocks = int(self.np_random.binomial(counts["block"], min(max(rate_share, 0.0), 1.0)))
        # deferrals below the limit are greylisting and transient load, answered generically;
        # only the share the pressure adds gets the provider's rate-limit reply
        over = float(dyn.over_limit_share(pressure))
        transient = int(self.np_random.binomial(counts["deferred"], dyn.BASE_DEFERRAL / (dyn.BASE_DEFERRAL + over)))
        return Window(counts, rate_blocks, *self._replies(counts, transient, rate_blocks))

    def _replies(self, counts: dict[str, int], transient_deferrals: int,
                 rate_blocks: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """Reply lines per outcome, drawn from the provider's real replies for each situation: the
        provider's rate-limit replies for the refusals the speed caused (Gmail 421 4.7.28, Yahoo
        [TSS04], Outlook S843), and per-message policy refusals, which say nothing of the IP, for
        the background ones (a listing would refuse the IP's every message, not one in a hundred).
        Returns every line, and the lines of the refused messages apart (an MTA logs which reply
        each refusal came with)."""
        lines: list[tuple[str, int]] = [(TRANSIENT_REPLY, transient_deferrals)] if transient_deferrals else []
        refused: list[tuple[str, int]] = []
        parts = [
            ("reputation" if self.reputation < 45 else "throttle", counts["deferred"] - transient_deferrals, False),
            ("mailbox_full", counts["soft_bounce"], False),
            ("user_unknown", counts["hard_bounce"], False),
            ("throttle", rate_blocks, True),
            ("policy", counts["block"] - rate_blocks, True),
        ]
        for kind, n, refusal in parts:
            if n <= 0:
                continue
            options = self.replies[kind]
            picks = self.np_random.multinomial(n, np.full(len(options), 1.0 / len(options)))
            drawn = [(_fill_reply(r.code, r.enhanced, r.text), int(k)) for r, k in zip(options, picks, strict=True) if k]
            lines += drawn
            if refusal:
                refused += drawn
        return lines, refused

    # ---- gym API -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        j = float(self.limit_jitter)
        self.limit_scale = float(np.exp(self.np_random.uniform(-np.log1p(j), np.log1p(j)))) if j > 0 else 1.0
        if self.fixed_limit_scale is not None:
            self.limit_scale = float(self.fixed_limit_scale)
        self.reputation = float(self.reputation0)
        self.warm = float(self.warm0)
        self.rate = float(self.start_rate)
        self.queue = float(self.backlog0 if self.backlog0 is not None else 10 ** 9)
        # per window: (sent, delivered, deferred, blocks, 4xx, 5xx)
        self.history: deque[tuple[int, int, int, int, int, int]] = deque(maxlen=30)
        self.hour_stats = {k: 0.0 for k in ("sent", "hard", "complaints", "blocks", "opens")}
        self.good_rate = self.start_rate  # the MTA remembers the rate it was configured to start at as good
        self.known_limit = known_limit_per_min(self.provider)
        self.ceiling = self.known_limit
        self.latency = self.profile.reply_latency_ms
        # the provider's reputation feed (if it publishes one): the IP has sent at its usual pace
        # before the episode, so the feed starts with readings of the starting reputation
        self.feed = FeedHistory(self.provider, self.reputation, prior_daily_volume=self.warm0)
        self.day_sent = 0
        self.yesterday_sent = self.warm0  # the sender's plan stage follows what the IP carried
        return self._obs(), {}

    def step(self, action):
        return self.step_rate(self.rate * THROTTLE_MULTIPLIERS[int(action)])

    def step_rate(self, rate_per_min: float):
        """Send at `rate_per_min` for the next 30 seconds."""
        self.rate = float(np.clip(rate_per_min, 0.0, 1e6))
        limit = self.hidden_limit_per_min()
        self.queue += self.arrivals_per_min * STEP_SECONDS / 60.0
        n = int(min(self.queue, self.rate * STEP_SECONDS / 60.0))
        window = self._window(n, self.rate, limit) if n > 0 else Window(dict.fromkeys(OUTCOME_KINDS, 0), 0, [], [])
        counts = window.counts
        self.queue -= n - counts["deferred"]
        # the window's reply codes: rate-limit refusals come back as 4xx, background refusals as 5xx
        fours = counts["deferred"] + counts["soft_bounce"] + window.rate_blocks
        fives = counts["block"] - window.rate_blocks + counts["hard_bounce"]
        self.history.append((n, counts["delivered"], counts["deferred"], counts["block"], fours, fives))
        reward = throttle_reward(counts, self.rate)
        pressure = float(dyn.rate_pressure(self.rate * 60.0, limit * 60.0))
        self.latency = self.profile.reply_latency_ms * (1.0 + pressure) * float(self.np_random.lognormal(0, 0.2))
        complaints = int(self.np_random.binomial(counts["delivered"], self.audience.complaint_per_inbox))
        self._account(counts, complaints)
        self.good_rate = updated_good_rate(self.good_rate, self.rate, n, counts)
        self.ceiling = updated_deferral_ceiling(self.ceiling, self.rate, n, counts, self.known_limit)
        self.t += 1
        self.day_sent += n
        if self.t % STEPS_PER_DAY == 0:
            self.feed.close_day(self.reputation, self.day_sent)
            self.yesterday_sent, self.day_sent = self.day_sent, 0
        truncated = self.t >= self.episode_steps
        terminated = self.queue <= 0
        info = {
            "counts": counts,
            "rate_per_min": self.rate,
            "rate_blocks": window.rate_blocks,
            "complaints": complaints,
            "replies": window.replies,
            "refused_replies": window.refused,
            "truth": {"limit_per_min": limit, "pressure": pressure, "reputation": self.reputation},
        }
        return self._obs(), float(reward), bool(terminated), bool(truncated), info

    def _account(self, counts: dict[str, int], complaints: int) -> None:
        """Reputation moves hourly with the same law as the daily log generator (dt = 1/24 day)."""
        a = self.audience
        sent = sum(counts.values())
        self.hour_stats["sent"] += sent
        self.hour_stats["hard"] += counts["hard_bounce"]
        self.hour_stats["blocks"] += counts["block"]
        self.hour_stats["complaints"] += complaints
        self.hour_stats["opens"] += counts["delivered"] * a.human_open_rate
        if (self.t + 1) % (3600 // STEP_SECONDS) == 0:
            h = self.hour_stats
            self.reputation = float(dyn.update_reputation(
                np.array(self.reputation), sent=np.array(h["sent"]), hard_bounces=np.array(h["hard"]),
                complaints=np.array(h["complaints"]), trap_hits=np.array(0.0), blocks=np.array(h["blocks"]),
                human_opens=np.array(h["opens"]), dt_days=1.0 / 24.0,
            ))
            self.hour_stats = {k: 0.0 for k in self.hour_stats}

    def _obs(self) -> np.ndarray:
        hist = list(self.history)

        def success(window: int) -> float:
            recent = hist[-window:]
            sent = sum(w[0] for w in recent)
            return sum(w[1] for w in recent) / sent if sent else 1.0

        last = hist[-2:]
        sent_1m = sum(w[0] for w in last) or 1
        seconds = self.t * STEP_SECONDS
        hour = (self.start_hour + seconds // 3600) % 24
        weekday = ((self.start_hour * 3600 + seconds) // 86_400) % 7
        return np.array([
            self.rate, min(self.queue, 1e7), success(2), success(10), success(30),
            sum(w[2] for w in last), sum(w[3] for w in last), self.latency,
            sum(w[4] for w in last) / sent_1m, sum(w[5] for w in last) / sent_1m, hour, weekday, self.good_rate,
            warmup_stage(self.yesterday_sent), self.feed.reading(), self.ceiling,
        ], dtype=np.float32)


# ---- warm-up -------------------------------------------------------------------------------
# Spec §3.5 reward ("escalation" is paid per +50% of clean growth: `escalation_steps`).
WARMUP_REWARD = {"escalation": 10.0, "good": 1.0, "degradation": -5.0, "block_event": -50.0, "reputation_damage": -100.0}


# An escalation counts only on a day the providers took without heavy throttling.
ESCALATION_MAX_DEFERRAL = 0.05


def escalation_steps(best_clean_volume: float, volume: float) -> float:
    """Spec §3.5's "+10 per successful escalation", counted per +50% of daily volume carried
    cleanly above the best clean day so far. Stage boundaries alone sit 10x apart: a learner
    would get one signal a week, and nothing for the climb from 5,000 to 50,000 a day."""
    if volume <= best_clean_volume:
        return 0.0
    return float(np.log(volume / best_clean_volume) / np.log(1.5))


class WarmupEnv(gym.Env):
    """IP/domain warm-up: choose tomorrow's volume every day; providers grant capacity as they
    see clean mail. Observation (spec §3.5): stage, days in stage, rolling bounce and complaint
    rates, the worst provider's acceptance rate, volume today and this week, today's limit."""

    metadata = {"render_modes": []}
    OBS_NAMES = (
        "stage", "days_in_stage", "rolling_bounce_rate", "rolling_complaint_rate", "worst_provider_accept_rate",
        "volume_today", "volume_this_week", "daily_limit", "block_rate_today",
    )

    def __init__(
        self,
        *,
        start_volume: float = 500.0,
        target_volume: float = 200_000.0,
        max_days: int = 60,
        audience: Audience = Audience(),
        send_hours: float = 4.0,
        seed: int | None = None,
    ) -> None:
        self.start_volume = start_volume
        self.target_volume = target_volume
        self.max_days = max_days
        self.audience = audience
        self.send_hours = send_hours
        self.shares = provider_array("share") / provider_array("share").sum()
        self.action_space = spaces.Discrete(len(WARMUP_ACTIONS))
        self.observation_space = spaces.Box(low=0.0, high=np.inf, shape=(len(self.OBS_NAMES),), dtype=np.float32)
        self.reset(seed=seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.day = 0
        self.limit = float(self.start_volume)
        self.paused = False
        self.capacity = provider_array("cold_capacity_per_day").copy()
        self.established = provider_array("base_limit_per_hour") * dyn.WARM_SPREAD_HOURS * 1.25
        self.ip_rep = np.full(len(PROVIDERS), dyn.REPUTATION_NEW)
        self.stage = 0
        self.days_in_stage = 0
        self.best_clean_volume = float(self.start_volume)
        self.history: deque[dict[str, float]] = deque(maxlen=7)
        self.reached_day: int | None = None
        # a new IP: the feeds have nothing to say until it has carried enough mail for long enough
        self.feeds = [FeedHistory(name, float(r), prior_daily_volume=0.0) for name, r in zip(PROVIDER_NAMES, self.ip_rep, strict=True)]
        return self._obs({"sent": 0, "bounce_rate": 0, "complaint_rate": 0, "block_rate": 0, "worst_accept": 1}), {}

    def send_day(self, volume: float) -> dict[str, float]:
        """Send `volume` messages today across providers; returns the day's aggregate outcomes."""
        a = self.audience
        p = np.arange(len(PROVIDERS))
        per_provider = volume * self.shares
        limit = dyn.hourly_limit(p, self.ip_rep, self.capacity)
        pressure = dyn.rate_pressure(per_provider / self.send_hours, limit)
        probs = dyn.outcome_probabilities(
            provider=p, reputation=self.ip_rep, pressure=pressure, blocklisted=False, spf_or_dkim=True,
            dmarc=True, one_click=True, address_invalid=a.invalid_share, mailbox_full=a.mailbox_full_share,
            engagement=a.engagement, spamminess=a.spamminess, quality=a.quality, domain_age_days=30.0 + self.day,
            complaint_rate=a.complaint_per_inbox,
        )
        n = self.np_random.poisson(per_provider).astype(int)
        m = probs.matrix()
        counts = np.array([self.np_random.multinomial(n[i], m[i] / m[i].sum()) for i in p])
        inbox, spam, soft, hard, block = counts.T
        # the refusals the speed caused come back worded as the providers' rate-limit replies: a
        # sender's reply classifier counts them (the cause behind each is the world's)
        p_block = np.asarray(probs.p_block, dtype=float)
        speed_share = np.divide(np.asarray(probs.block_parts["rate"], dtype=float), p_block,
                                out=np.zeros(len(p)), where=p_block > 0)
        rate_refusals = self.np_random.binomial(block, np.clip(speed_share, 0.0, 1.0))
        delivered = inbox + spam
        deferred = self.np_random.binomial(n, np.clip(probs.p_first_defer, 0, 1))
        complaints = self.np_random.binomial(inbox, a.complaint_per_inbox)
        opens = self.np_random.binomial(delivered, a.human_open_rate)
        self.ip_rep = dyn.update_reputation(
            self.ip_rep, sent=n, hard_bounces=hard, complaints=complaints, trap_hits=np.zeros(len(p)),
            blocks=block, human_opens=opens,
        )
        self.capacity = dyn.update_warm_capacity(
            self.capacity, provider=p, delivered=delivered, sent=n, bounces=hard, complaints=complaints,
            deferrals=deferred, established_capacity=self.established,
        )
        sent = max(n.sum(), 1)
        return {
            "sent": float(n.sum()), "delivered": float(delivered.sum()),
            "bounce_rate": float((hard.sum() + soft.sum()) / sent), "complaint_rate": float(complaints.sum() / sent),
            "block_rate": float(block.sum() / sent), "deferral_rate": float(deferred.sum() / sent),
            "rate_limit_refusal_rate": float(rate_refusals.sum() / sent),
            "sent_per_provider": n.astype(float),
            "worst_accept": float(np.min(np.where(n > 0, delivered / np.maximum(n, 1), 1.0))),
            "reputation": float(np.average(self.ip_rep, weights=self.shares)),
            "capacity": float(self.capacity.sum()),
        }

    def step(self, action):
        name = WARMUP_ACTIONS[int(action)]
        if name == "pause":
            return self.step_volume(0.0, action=name)
        return self.step_volume(max(self.limit * WARMUP_FACTORS[int(action)], 50.0), action=name)

    def carryable_per_day(self) -> float:
        """Truth, for the oracle: the daily volume every provider takes today without pressure
        (the provider whose allowance runs out first, at its share of the audience)."""
        limit = dyn.hourly_limit(np.arange(len(PROVIDERS)), self.ip_rep, self.capacity)
        return float(np.min(limit * self.send_hours / self.shares))

    def step_volume(self, volume: float, *, action: str = "set_volume"):
        """Send `volume` messages today (0 = paused); what a railed controller does."""
        prev_rep = float(np.average(self.ip_rep, weights=self.shares))
        volume = max(float(volume), 0.0) if np.isfinite(volume) else 0.0
        self.paused = volume <= 0
        if not self.paused:
            self.limit = volume
        day = self.send_day(volume) if volume > 0 else {"sent": 0.0, "delivered": 0.0, "bounce_rate": 0.0,
                                                          "complaint_rate": 0.0, "block_rate": 0.0, "deferral_rate": 0.0,
                                                          "rate_limit_refusal_rate": 0.0, "worst_accept": 1.0,
                                                          "reputation": prev_rep, "capacity": float(self.capacity.sum())}
        sent_per_provider = day.pop("sent_per_provider", np.zeros(len(PROVIDERS)))
        for feed, rep, sent_to in zip(self.feeds, self.ip_rep, sent_per_provider, strict=True):
            feed.close_day(float(rep), float(sent_to))
        day["baseline_block_rate"] = self.trailing_block_rate(default=day["block_rate"])
        prev = self.history[-1] if self.history else None
        self.history.append(day)
        new_stage = warmup_stage(day["delivered"]) if volume > 0 else self.stage
        good = day["bounce_rate"] < 0.02 and day["complaint_rate"] < 0.0005 and day["rate_limit_refusal_rate"] < 0.001
        parts = dict.fromkeys(WARMUP_REWARD, 0.0)  # spec §3.5's terms, each on record for shaping
        if good and day["deferral_rate"] < ESCALATION_MAX_DEFERRAL:
            parts["escalation"] = WARMUP_REWARD["escalation"] * escalation_steps(self.best_clean_volume, volume)
            self.best_clean_volume = max(self.best_clean_volume, volume)
        if good:
            parts["good"] = WARMUP_REWARD["good"]
        if prev and (day["bounce_rate"] > prev["bounce_rate"] + 0.01 or day["deferral_rate"] > prev["deferral_rate"] + 0.05):
            parts["degradation"] = WARMUP_REWARD["degradation"]
        if volume > 0 and is_block_event(day["block_rate"], day["rate_limit_refusal_rate"], day["baseline_block_rate"]):
            parts["block_event"] = WARMUP_REWARD["block_event"]
        if day["reputation"] < prev_rep - 5.0:
            parts["reputation_damage"] = WARMUP_REWARD["reputation_damage"]
        reward = float(sum(parts.values()))
        self.days_in_stage = self.days_in_stage + 1 if new_stage == self.stage else 0
        self.stage = new_stage
        self.day += 1
        if self.reached_day is None and day["delivered"] >= self.target_volume * 0.98:
            self.reached_day = self.day
        terminated = self.reached_day is not None
        truncated = self.day >= self.max_days
        info = {"day": day, "action": action, "reward": float(reward), "reward_parts": parts, "truth": {"capacity": self.capacity.copy(), "reputation": self.ip_rep.copy()}}
        return self._obs(day), float(reward), terminated, truncated, info

    def feed_reading(self) -> int:
        """This morning's reputation as the providers' feeds publish it: the worst reading (0: none)."""
        return worst_reading([feed.reading() for feed in self.feeds])

    def trailing_block_rate(self, default: float) -> float:
        """The refusal rate of the days sent so far this week (`default` before the first)."""
        sent = sum(h["sent"] for h in self.history)
        return sum(h["block_rate"] * h["sent"] for h in self.history) / sent if sent else default

    def _obs(self, day: dict[str, float]) -> np.ndarray:
        hist = list(self.history)
        sent = sum(h["sent"] for h in hist) or 1.0
        bounce = sum(h["bounce_rate"] * h["sent"] for h in hist) / sent
        complaint = sum(h["complaint_rate"] * h["sent"] for h in hist) / sent
        return np.array([
            self.stage, self.days_in_stage, bounce, complaint, day["worst_accept"], day["sent"],
            sum(h["sent"] for h in hist), self.limit, day["block_rate"],
        ], dtype=np.float32)


gym.register(id="AdaptiveDelivery/Throttle-v0", entry_point="adaptive_delivery.twin.envs:ThrottleEnv")
gym.register(id="AdaptiveDelivery/Warmup-v0", entry_point="adaptive_delivery.twin.envs:WarmupEnv")
