"""The laws of the simulated world, shared by the log generator and the gym environments.

Every function here is vectorised over numpy arrays and pure: the same inputs give the same
probabilities whether the caller is the per-message log generator (one row per message) or
an environment that steps a provider in 30-second windows (one row per window). That is what
makes the two views one world.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from adaptive_delivery.twin.providers import provider_array

# Reputation lives on 0..100; a new domain starts neutral, an established one good.
REPUTATION_NEW = 50.0
REPUTATION_ESTABLISHED = 78.0
# Fraction of the distance to the engagement-driven ceiling recovered per day: slow on purpose
# (providers forgive over weeks, not hours).
REPUTATION_RECOVERY_PER_DAY = 0.06
# The most reputation one day of bad mail can cost (a listing-level event).
MAX_DAILY_PENALTY = 35.0
# A provider that consults a public blocklist refuses every connection from a listed IP (Yahoo's
# "[BL21] Connections will not be accepted from …"): a listing blocks the IP, not a share of its mail.
LISTED_BLOCK_SHARE = 1.0
# Deferrals that happen even far below any limit (greylisting, transient load).
BASE_DEFERRAL = 0.004
# Share of deferred messages the MTA eventually gives up on, per unit of over-limit pressure.
EXPIRY_PER_PRESSURE = 0.35
# Warm-up: a day counts as "good" for capacity growth below these rates.
WARM_GOOD_BOUNCE = 0.03
WARM_GOOD_COMPLAINT = 0.001
# A day spent mostly throttled (first attempts deferred) earns no extra allowance.
WARM_MAX_DEFERRAL = 0.25
# Hours over which a day's warm capacity may be spent (mail is not spread over 24 hours).
WARM_SPREAD_HOURS = 2.0

CLASS_NAMES = ("inbox", "spam", "soft_bounce", "hard_bounce", "block")
N_CLASSES = len(CLASS_NAMES)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def reputation_capacity_factor(reputation: np.ndarray | float) -> np.ndarray:
    """Providers give good senders more room: 0.05 of the base limit at the bottom, 1.25 at the top."""
    return np.clip((np.asarray(reputation, dtype=float) - 15.0) / 55.0, 0.05, 1.25)


def hourly_limit(
    provider: np.ndarray,
    reputation: np.ndarray | float,
    warm_capacity_per_day: np.ndarray | float,
    limit_scale: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Hidden messages/hour one IP may deliver to a provider right now."""
    base = provider_array("base_limit_per_hour")[np.asarray(provider)] * limit_scale
    by_reputation = base * reputation_capacity_factor(reputation)
    by_warmup = np.asarray(warm_capacity_per_day, dtype=float) / WARM_SPREAD_HOURS
    return np.maximum(np.minimum(by_reputation, by_warmup), 1.0)


def rate_pressure(attempted_per_hour: np.ndarray, limit_per_hour: np.ndarray) -> np.ndarray:
    """How far over its allowance a sender is pushing (0 = at or below the limit)."""
    return np.maximum(np.asarray(attempted_per_hour, float) / np.maximum(limit_per_hour, 1.0) - 1.0, 0.0)


def over_limit_share(pressure: np.ndarray | float) -> np.ndarray:
    """Share of a window's attempts that fall above the allowance (deferred beyond greylisting)."""
    return 1.0 - 1.0 / (1.0 + np.asarray(pressure, float))


def rate_block_probability(provider: np.ndarray, pressure: np.ndarray) -> np.ndarray:
    """Pushing far past the limit turns deferrals into blocks (421 TS03, S3150, 4.7.28 storms)."""
    block_ratio = provider_array("block_ratio")[np.asarray(provider)]
    return 0.55 * sigmoid((pressure + 1.0 - block_ratio) * 6.0) * (pressure > 0)


def reputation_block_probability(provider: np.ndarray, reputation: np.ndarray | float) -> np.ndarray:
    """Policy blocks: a background rate every sender sees, and a smooth step below each provider's
    reputation threshold where refusals become the rule."""
    threshold = provider_array("block_reputation")[np.asarray(provider)]
    rep = np.asarray(reputation, float)
    background = provider_array("base_block")[np.asarray(provider)] * np.clip(1.0 + (80.0 - rep) / 25.0, 0.5, 3.0)
    return background + 0.6 * sigmoid((threshold - rep) / 4.0)


def auth_block_probability(
    provider: np.ndarray, spf_or_dkim: np.ndarray, dmarc: np.ndarray, bulk: np.ndarray | bool = True
) -> np.ndarray:
    """Published bulk-sender rules: no SPF/DKIM is refused; no DMARC is refused at bulk volume."""
    requires = provider_array("requires_auth")[np.asarray(provider)] > 0
    no_auth = ~np.asarray(spf_or_dkim, bool)
    no_dmarc = ~np.asarray(dmarc, bool) & np.asarray(bulk, bool)
    return np.where(requires, np.where(no_auth, 0.92, np.where(no_dmarc, 0.35, 0.0)), np.where(no_auth, 0.10, 0.0))


def inbox_probability(*args, **kwargs) -> np.ndarray:
    """P(inbox | accepted), the sigmoid of `inbox_logit` (same arguments): reputation, content, the
    subscriber's engagement and published rules; `inbox_shift` moves the provider's filter for all
    bulk mail (a scenario's tightening)."""
    return sigmoid(inbox_logit(*args, **kwargs))


def inbox_logit(
    provider: np.ndarray,
    reputation: np.ndarray | float,
    engagement: np.ndarray | float,
    spamminess: np.ndarray | float,
    quality: np.ndarray | float,
    one_click: np.ndarray | bool,
    domain_age_days: np.ndarray | float,
    complaint_rate: np.ndarray | float,
    subscriber_noise: np.ndarray | float = 0.0,
    strictness_scale: np.ndarray | float = 1.0,
    inbox_shift: np.ndarray | float = 0.0,
) -> np.ndarray:
    """The filter's score behind `inbox_probability`: the subscriber's standing adds to it, so a law
    averaged over that standing needs the score once, not the whole law per standing."""
    p = np.asarray(provider)
    return (
        provider_array("inbox_intercept")[p]
        + 0.065 * (np.asarray(reputation, float) - REPUTATION_ESTABLISHED)
        + provider_array("engagement_weight")[p] * (np.asarray(engagement, float) - 0.25) * 4.0
        - provider_array("content_strictness")[p] * strictness_scale * (np.asarray(spamminess, float) - 0.25)
        + 0.8 * (np.asarray(quality, float) - 0.5)
        - 0.9 * (provider_array("requires_one_click")[p] > 0) * ~np.asarray(one_click, bool)
        - 1.2 * np.exp(-np.asarray(domain_age_days, float) / 20.0)
        - 1.5 * sigmoid((np.asarray(complaint_rate, float) - provider_array("complaint_hard_limit")[p]) / 0.0004)
        + subscriber_noise
        + inbox_shift
    )


def content_block_probability(provider: np.ndarray, spamminess: np.ndarray | float) -> np.ndarray:
    """Blatant spam is refused at SMTP time rather than foldered."""
    strict = provider_array("content_strictness")[np.asarray(provider)]
    return 0.5 * sigmoid((np.asarray(spamminess, float) - 0.9) * 4.0 * strict)


@dataclass
class OutcomeProbabilities:
    """Per-message (or per-window) probabilities of the five outcome classes, plus the deferral
    probability of the first attempt (deferrals are retried; some expire as soft bounces)."""

    p_block: np.ndarray
    p_hard: np.ndarray
    p_soft: np.ndarray
    p_inbox: np.ndarray
    p_spam: np.ndarray
    p_first_defer: np.ndarray
    block_parts: dict[str, np.ndarray]

    def matrix(self) -> np.ndarray:
        """Columns in CLASS_NAMES order; rows sum to one."""
        return np.stack([self.p_inbox, self.p_spam, self.p_soft, self.p_hard, self.p_block], axis=1)

    def with_inbox_share(self, q_inbox: np.ndarray) -> OutcomeProbabilities:
        """The same fates with accepted mail split into inbox and spam by `q_inbox` instead."""
        accepted = self.p_inbox + self.p_spam
        return replace(self, p_inbox=accepted * q_inbox, p_spam=accepted * (1.0 - q_inbox))


def outcome_probabilities(
    *,
    provider: np.ndarray,
    reputation: np.ndarray | float,
    pressure: np.ndarray | float,
    blocklisted: np.ndarray | bool,
    spf_or_dkim: np.ndarray | bool,
    dmarc: np.ndarray | bool,
    one_click: np.ndarray | bool,
    address_invalid: np.ndarray | float,
    mailbox_full: np.ndarray | float,
    engagement: np.ndarray | float,
    spamminess: np.ndarray | float,
    quality: np.ndarray | float,
    domain_age_days: np.ndarray | float,
    complaint_rate: np.ndarray | float,
    subscriber_noise: np.ndarray | float = 0.0,
    strictness_scale: np.ndarray | float = 1.0,
    inbox_shift: np.ndarray | float = 0.0,
) -> OutcomeProbabilities:
    """The true outcome distribution of a message given everything the world knows.

    `address_invalid` and `mailbox_full` are 0/1 states for one message, or shares for a window of
    many messages; everything else broadcasts.
    """
    provider = np.asarray(provider)
    pressure = np.asarray(pressure, float)
    uses_bl = provider_array("uses_public_blocklists")[provider] > 0
    parts = {
        "auth": auth_block_probability(provider, spf_or_dkim, dmarc),
        "blocklist": np.where(uses_bl & np.asarray(blocklisted, bool), LISTED_BLOCK_SHARE, 0.0),
        "reputation": reputation_block_probability(provider, reputation),
        "rate": rate_block_probability(provider, pressure),
        "spam_content": content_block_probability(provider, spamminess),
    }
    not_blocked = np.ones(np.broadcast(provider, pressure).shape)
    for part in parts.values():
        not_blocked = not_blocked * (1.0 - part)
    p_block = 1.0 - not_blocked
    invalid = np.asarray(address_invalid, float)
    full = np.asarray(mailbox_full, float)
    p_hard = not_blocked * invalid
    reachable = not_blocked * (1.0 - invalid)
    over_share = over_limit_share(pressure)
    p_first_defer = np.clip(BASE_DEFERRAL + over_share, 0.0, 1.0)
    p_expire = np.clip(EXPIRY_PER_PRESSURE * over_share + 0.02, 0.0, 1.0)
    p_soft_given_reachable = full + (1.0 - full) * p_first_defer * p_expire
    p_soft = reachable * p_soft_given_reachable
    p_accept = reachable * (1.0 - p_soft_given_reachable)
    q_inbox = inbox_probability(
        provider, reputation, engagement, spamminess, quality, one_click, domain_age_days,
        complaint_rate, subscriber_noise, strictness_scale, inbox_shift,
    )
    return OutcomeProbabilities(
        p_block=p_block,
        p_hard=p_hard,
        p_soft=p_soft,
        p_inbox=p_accept * q_inbox,
        p_spam=p_accept * (1.0 - q_inbox),
        p_first_defer=(not_blocked * (1.0 - invalid) * (1.0 - full)) * p_first_defer,
        block_parts=parts,
    )


def complaint_probability(
    engagement: np.ndarray, complainer: np.ndarray, spamminess: np.ndarray, placed_inbox: np.ndarray
) -> np.ndarray:
    """A subscriber who did not want the mail and sees it in the inbox presses 'report spam'."""
    base = 0.00045 * (1.0 + 2.0 * np.asarray(spamminess, float)) * (1.3 - np.asarray(engagement, float))
    return np.where(placed_inbox, base * np.where(complainer, 16.0, 0.45), base * 0.02)


def unsubscribe_probability(engagement: np.ndarray, spamminess: np.ndarray, placed_inbox: np.ndarray) -> np.ndarray:
    """A subscriber who reads the mail in the inbox and no longer wants it unsubscribes (the spam
    folder's mail is not read closely enough to reach the link)."""
    base = 0.0022 * (1.0 + 2.0 * np.asarray(spamminess, float)) * (1.2 - np.asarray(engagement, float))
    return np.where(placed_inbox, base, 0.0)


def update_reputation(
    reputation: np.ndarray,
    *,
    sent: np.ndarray,
    hard_bounces: np.ndarray,
    complaints: np.ndarray,
    trap_hits: np.ndarray,
    blocks: np.ndarray,
    human_opens: np.ndarray,
    volume_ratio: np.ndarray | float = 1.0,
    dt_days: float = 1.0,
    prior_messages: float = 3_000.0,
) -> np.ndarray:
    """One step of reputation: slow recovery toward an engagement-driven ceiling, minus penalties
    for complaints, hard bounces, spam-trap hits, refused mail and volume spikes.

    Penalties are expressed per day and scaled by `dt_days`, so a 30-second environment step and
    a daily log step follow the same law.
    """
    sent = np.maximum(np.asarray(sent, float), 0.0)
    active = sent > 0
    # Providers judge on volume: rates are shrunk toward a neutral prior worth `prior_messages`,
    # so a handful of messages cannot make or break a reputation.
    k = prior_messages
    denom = sent + k
    complaint_rate = (complaints + 0.0003 * k) / denom
    hard_rate = (hard_bounces + 0.01 * k) / denom
    block_rate = (blocks + 0.002 * k) / denom
    open_rate = (human_opens + 0.15 * k) / denom
    traps_per_10k = trap_hits / np.maximum(sent, 10_000.0) * 10_000.0
    ceiling = 55.0 + 40.0 * np.clip(open_rate / 0.25, 0.0, 1.0)
    recovery = REPUTATION_RECOVERY_PER_DAY * (ceiling - reputation) * np.where(active, 1.0, 0.3)
    penalty = np.minimum(
        30.0 * np.maximum(complaint_rate - 0.0005, 0.0) / 0.0025
        + 20.0 * np.maximum(hard_rate - 0.02, 0.0) / 0.05
        + np.clip(traps_per_10k - 1.0, 0.0, 15.0)
        + 25.0 * np.clip(block_rate - 0.01, 0.0, 1.0)
        + 6.0 * np.clip(np.log2(np.maximum(volume_ratio, 1e-9)) - 1.0, 0.0, 4.0),
        MAX_DAILY_PENALTY,
    ) * active
    return np.clip(reputation + dt_days * (recovery - penalty), 0.0, 100.0)


def update_warm_capacity(
    capacity: np.ndarray,
    *,
    provider: np.ndarray,
    delivered: np.ndarray,
    sent: np.ndarray,
    bounces: np.ndarray,
    complaints: np.ndarray,
    deferrals: np.ndarray,
    established_capacity: np.ndarray,
) -> np.ndarray:
    """Daily warm-up: a provider raises an IP's allowance from what it delivered on a clean day
    (few hard bounces and complaints, and not pushed into heavy throttling), and takes allowance
    back after dirty mail. Established IPs sit at the ceiling."""
    growth = provider_array("warm_growth")[np.asarray(provider)]
    floor = 0.5 * provider_array("cold_capacity_per_day")[np.asarray(provider)]
    k = 300.0  # judge small days gently: rates shrink toward a clean prior worth k messages
    denom = np.asarray(sent, float) + k
    bounce_rate = (bounces + 0.01 * k) / denom
    complaint_rate = (complaints + 0.0002 * k) / denom
    deferral_rate = (deferrals + 0.01 * k) / denom
    clean = (bounce_rate < WARM_GOOD_BOUNCE) & (complaint_rate < WARM_GOOD_COMPLAINT) & (deferral_rate < WARM_MAX_DEFERRAL)
    # a provider lets volume grow from what was delivered cleanly, at most `growth`x a day
    earned = np.minimum(capacity * growth, np.asarray(delivered, float) * growth * WARM_SPREAD_HOURS)
    grown = np.where(clean, np.maximum(capacity, earned), capacity)
    # dirty mail (heavy bounces or complaints) makes a provider take allowance back
    dirty = (bounce_rate >= 0.10) | (complaint_rate >= 0.003)
    cut = np.where(dirty, np.maximum(capacity * 0.6, floor), grown)
    return np.clip(cut, 1.0, established_capacity)
