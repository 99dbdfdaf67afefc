"""Gymnasium views of the world for the reinforcement-learning models.

`ThrottleEnv` (MDL-003): one sending IP and one mailbox provider, a decision every 30 simulated
seconds. `WarmupEnv` (MDL-009): one new IP/domain, a decision every simulated day. Both draw
outcomes from `dynamics.outcome_probabilities` and move reputation and warm-up capacity with
`dynamics.update_reputation` / `dynamics.update_warm_capacity`: the same laws the log generator
applies per message, here applied to windows of messages (one world, two views).

Safety rails are deliberately *not* in the environments: the world accepts any action, and the
rails in `adaptive_delivery.decisions` are what stand between a policy and the world.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from adaptive_delivery.world import dynamics as dyn
from adaptive_delivery.world.providers import PROVIDER_INDEX, PROVIDERS, provider_array

# Spec §6.2: the per-provider "safe default" rates a static MTA configuration would use (msgs/min).
STATIC_DEFAULT_RATE_PER_MIN = {"gmail": 100, "yahoo": 150, "outlook": 200, "aol": 100}
DEFAULT_RATE_PER_MIN = 50
# Spec §3.2 multipliers.
THROTTLE_MULTIPLIERS = (0.1, 0.5, 1.0, 1.5, 2.0, 3.0)
# Spec §3.2 reward per 1,000 messages.
REWARD = {"delivered": 1.0, "deferred": -0.5, "soft_bounce": -1.0, "hard_bounce": -2.0, "block": -10.0}
RATE_PENALTY = 0.01
STEP_SECONDS = 30


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
    """Spec §3.2: outcome rewards per 1,000 messages attempted, minus 0.01 x rate."""
    n = max(sum(counts.values()), 1)
    total = sum(REWARD[k] * counts.get(k, 0) for k in REWARD)
    return 1000.0 * total / n - RATE_PENALTY * rate_per_min


class ThrottleEnv(gym.Env):
    """Per-provider throttling: choose a rate multiplier every 30 s, the provider answers.

    Observation (spec §3.2): current rate, queue depth, success rate over 1/5/15 min, deferrals
    and blocks in the last minute, mean reply latency, 4xx and 5xx rates, hour, weekday, the
    best rate seen with >95% success, warm-up stage, reputation (as a postmaster tool reports it,
    with noise). `info["truth"]` carries the hidden limit for evaluation only.
    """

    metadata = {"render_modes": []}
    OBS_NAMES = (
        "current_send_rate", "queue_depth", "success_rate_1m", "success_rate_5m", "success_rate_15m",
        "deferrals_1m", "blocks_1m", "smtp_latency_ms", "smtp_4xx_rate", "smtp_5xx_rate", "hour_of_day",
        "day_of_week", "historical_good_rate", "warmup_stage", "reputation",
    )

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
        limit_change_step: int | None = None,
        limit_change_scale: float = 0.5,
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
        self.base_rate = float(STATIC_DEFAULT_RATE_PER_MIN.get(provider, DEFAULT_RATE_PER_MIN))
        self.start_rate = start_rate_per_min or self.base_rate
        self.limit_change_step = limit_change_step
        self.limit_change_scale = limit_change_scale
        self.start_hour = start_hour
        self.action_space = spaces.Discrete(len(THROTTLE_MULTIPLIERS))
        self.observation_space = spaces.Box(low=0.0, high=np.inf, shape=(len(self.OBS_NAMES),), dtype=np.float32)
        self._seed = seed
        self.reset(seed=seed)

    # ---- the world's side ------------------------------------------------------------------
    def hidden_limit_per_min(self) -> float:
        scale = self.limit_change_scale if (self.limit_change_step is not None and self.t >= self.limit_change_step) else 1.0
        return float(dyn.hourly_limit(self.p, self.reputation, self.warm, scale)) / 60.0

    def _window(self, n: int, rate_per_min: float) -> dict[str, int]:
        a = self.audience
        pressure = dyn.rate_pressure(rate_per_min * 60.0, self.hidden_limit_per_min() * 60.0)
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
        counts = self.np_random.multinomial(n, p / p.sum())
        return dict(zip(("delivered", "deferred", "soft_bounce", "hard_bounce", "block"), map(int, counts), strict=False))

    # ---- gym API -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        self.reputation = float(self.reputation0)
        self.warm = float(self.warm0)
        self.rate = float(self.start_rate)
        self.queue = float(self.backlog0 if self.backlog0 is not None else 10 ** 9)
        self.history: deque[dict[str, int]] = deque(maxlen=30)
        self.hour_stats = {k: 0.0 for k in ("sent", "hard", "complaints", "blocks", "opens")}
        self.good_rate = self.base_rate
        self.latency = self.profile.reply_latency_ms
        return self._obs(), {}

    def step(self, action):
        mult = THROTTLE_MULTIPLIERS[int(action)]
        self.rate = float(np.clip(self.rate * mult, 1.0, 1e6))
        self.queue += self.arrivals_per_min * STEP_SECONDS / 60.0
        n = int(min(self.queue, self.rate * STEP_SECONDS / 60.0))
        counts = self._window(n, self.rate) if n > 0 else dict(delivered=0, deferred=0, soft_bounce=0, hard_bounce=0, block=0)
        self.queue -= n - counts["deferred"]
        self.history.append(counts)
        reward = throttle_reward(counts, self.rate) if n > 0 else -RATE_PENALTY * self.rate
        pressure = float(dyn.rate_pressure(self.rate * 60.0, self.hidden_limit_per_min() * 60.0))
        self.latency = self.profile.reply_latency_ms * (1.0 + pressure) * float(self.np_random.lognormal(0, 0.2))
        self._account(counts)
        ok = counts["delivered"] / max(n, 1)
        if ok > 0.95 and n > 0:
            self.good_rate = max(self.good_rate, self.rate)
        self.t += 1
        truncated = self.t >= self.episode_steps
        terminated = self.queue <= 0
        info = {
            "counts": counts,
            "rate_per_min": self.rate,
            "truth": {"limit_per_min": self.hidden_limit_per_min(), "pressure": pressure, "reputation": self.reputation},
        }
        return self._obs(), float(reward), bool(terminated), bool(truncated), info

    def _account(self, counts: dict[str, int]) -> None:
        """Reputation moves hourly with the same law as the daily log generator (dt = 1/24 day)."""
        a = self.audience
        sent = sum(counts.values())
        self.hour_stats["sent"] += sent
        self.hour_stats["hard"] += counts["hard_bounce"]
        self.hour_stats["blocks"] += counts["block"]
        self.hour_stats["complaints"] += counts["delivered"] * a.complaint_per_inbox
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
        def success(window: int) -> float:
            recent = list(self.history)[-window:]
            sent = sum(sum(c.values()) for c in recent)
            return sum(c["delivered"] for c in recent) / sent if sent else 1.0

        last = list(self.history)[-2:]
        sent_1m = sum(sum(c.values()) for c in last) or 1
        deferrals = sum(c["deferred"] for c in last)
        blocks = sum(c["block"] for c in last)
        fives = sum(c["block"] + c["hard_bounce"] for c in last)
        fours = sum(c["deferred"] + c["soft_bounce"] for c in last)
        seconds = self.t * STEP_SECONDS
        hour = (self.start_hour + seconds // 3600) % 24
        rep_seen = float(np.clip(self.reputation + self.np_random.normal(0, 3.0), 0, 100))
        return np.array([
            self.rate, min(self.queue, 1e7), success(2), success(10), success(30), deferrals, blocks,
            self.latency, fours / sent_1m, fives / sent_1m, hour, 2, self.good_rate,
            warmup_stage_index(self.warm), rep_seen,
        ], dtype=np.float32)


# ---- warm-up -------------------------------------------------------------------------------
WARMUP_STAGES = ("cold", "early", "mid", "late", "established")
# Spec §3.5: upper daily limit of each stage (messages/day per IP).
STAGE_UPPER = (500, 5_000, 50_000, 500_000, float("inf"))
WARMUP_ACTIONS = ("hold", "increase_10", "increase_25", "increase_50", "decrease_10", "decrease_25", "pause")
WARMUP_FACTORS = (1.0, 1.10, 1.25, 1.50, 0.90, 0.75, 0.0)
# Spec §3.5 reward.
WARMUP_REWARD = {"escalation": 10.0, "good": 1.0, "degradation": -5.0, "block_event": -50.0, "reputation_damage": -100.0}


def warmup_stage_index(daily_volume: float) -> int:
    for i, upper in enumerate(STAGE_UPPER):
        if daily_volume <= upper:
            return i
    return len(STAGE_UPPER) - 1


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
        self.history: deque[dict[str, float]] = deque(maxlen=7)
        self.reached_day: int | None = None
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
            "rate_block_rate": float((probs.block_parts["rate"] * n).sum() / sent),
            "worst_accept": float(np.min(np.where(n > 0, delivered / np.maximum(n, 1), 1.0))),
            "reputation": float(np.average(self.ip_rep, weights=self.shares)),
            "capacity": float(self.capacity.sum()),
        }

    def step(self, action):
        name = WARMUP_ACTIONS[int(action)]
        prev_rep = float(np.average(self.ip_rep, weights=self.shares))
        if name == "pause":
            self.paused = True
            volume = 0.0
        else:
            if self.paused:
                self.paused = False
            self.limit = max(self.limit * WARMUP_FACTORS[int(action)], 50.0)
            volume = self.limit
        day = self.send_day(volume) if volume > 0 else {"sent": 0.0, "delivered": 0.0, "bounce_rate": 0.0,
                                                          "complaint_rate": 0.0, "block_rate": 0.0, "deferral_rate": 0.0,
                                                          "rate_block_rate": 0.0, "worst_accept": 1.0,
                                                          "reputation": prev_rep, "capacity": float(self.capacity.sum())}
        prev = self.history[-1] if self.history else None
        self.history.append(day)
        new_stage = warmup_stage_index(day["delivered"]) if volume > 0 else self.stage
        reward = 0.0
        if new_stage > self.stage:
            reward += WARMUP_REWARD["escalation"]
        elif day["bounce_rate"] < 0.02 and day["complaint_rate"] < 0.0005 and day["rate_block_rate"] < 0.001:
            reward += WARMUP_REWARD["good"]
        if prev and (day["bounce_rate"] > prev["bounce_rate"] + 0.01 or day["deferral_rate"] > prev["deferral_rate"] + 0.05):
            reward += WARMUP_REWARD["degradation"]
        if day["rate_block_rate"] > 0.001 or day["block_rate"] > 0.03:
            reward += WARMUP_REWARD["block_event"]
        if day["reputation"] < prev_rep - 5.0:
            reward += WARMUP_REWARD["reputation_damage"]
        self.days_in_stage = self.days_in_stage + 1 if new_stage == self.stage else 0
        self.stage = new_stage
        self.day += 1
        if self.reached_day is None and day["delivered"] >= self.target_volume * 0.98:
            self.reached_day = self.day
        terminated = self.reached_day is not None
        truncated = self.day >= self.max_days
        info = {"day": day, "action": name, "truth": {"capacity": self.capacity.copy(), "reputation": self.ip_rep.copy()}}
        return self._obs(day), float(reward), terminated, truncated, info

    def _obs(self, day: dict[str, float]) -> np.ndarray:
        hist = list(self.history)
        sent = sum(h["sent"] for h in hist) or 1.0
        bounce = sum(h["bounce_rate"] * h["sent"] for h in hist) / sent
        complaint = sum(h["complaint_rate"] * h["sent"] for h in hist) / sent
        return np.array([
            self.stage, self.days_in_stage, bounce, complaint, day["worst_accept"], day["sent"],
            sum(h["sent"] for h in hist), self.limit, day["block_rate"],
        ], dtype=np.float32)


gym.register(id="AdaptiveDelivery/Throttle-v0", entry_point="adaptive_delivery.world.envs:ThrottleEnv")
gym.register(id="AdaptiveDelivery/Warmup-v0", entry_point="adaptive_delivery.world.envs:WarmupEnv")
