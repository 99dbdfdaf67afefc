"""What a sender's own records reveal about each address, and the oracle that stops there.

The world's truth knows whether an address is dead or its mailbox full on the day a message is
sent. No sender can: a dead address looks like a live one until a message to it hard-bounces, and
a mailbox is only seen full when a message bounces off it. The best any model could do is the
posterior of those hidden states given everything the sender has seen of the address (each
outcome before this message) and the laws of the world (how often addresses join dead, die and
fill up). `AddressRecords` keeps what was seen; `hidden_state_posterior` turns it into the two
probabilities that replace the hidden 0/1 states in `dynamics.outcome_probabilities`, so the
records oracle knows everything else the world knows (reputation, pressure, each subscriber's
traits, the content's hidden quality) and only that much of the address.

The records only read outcomes the world already drew: keeping them changes no random draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adaptive_delivery.twin.dynamics import CLASS_NAMES
from adaptive_delivery.twin.population import (
    MAILBOX_EMPTY_PER_DAY,
    MAILBOX_FULL_AT_JOIN,
    Population,
    mailbox_fill_probability,
    stale_hazard,
)

UNSEEN = -1
_INBOX, _SPAM, _SOFT, _HARD = (CLASS_NAMES.index(c) for c in ("inbox", "spam", "soft_bounce", "hard_bounce"))


@dataclass
class AddressRecords:
    """Per address: the last day a message reached its mailbox (so it was alive, and the mailbox
    was seen, full or not), whether it was full then, and whether the address was seen dead."""

    capacity: int
    alive_day: np.ndarray = field(init=False)
    mailbox_seen_full: np.ndarray = field(init=False)
    seen_dead: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.alive_day = np.full(self.capacity, UNSEEN, np.int32)
        self.mailbox_seen_full = np.zeros(self.capacity, bool)
        self.seen_dead = np.zeros(self.capacity, bool)

    def observe(self, day: int, sub: np.ndarray, cls: np.ndarray, soft_full: np.ndarray) -> None:
        """Record one day's outcomes: a hard bounce shows the address dead; anything that reached
        the mailbox (accepted or soft-bounced) shows it alive and whether the mailbox was full; a
        block shows nothing."""
        sub, cls, soft_full = np.asarray(sub), np.asarray(cls), np.asarray(soft_full, bool)
        self.seen_dead[sub[cls == _HARD]] = True
        reached = reveals_mailbox(cls)
        self.alive_day[sub[reached]] = day
        self.mailbox_seen_full[sub[reached]] = soft_full[reached]


def reveals_mailbox(cls: np.ndarray) -> np.ndarray:
    """Outcomes that reached the recipient's mailbox (so the address was alive)."""
    cls = np.asarray(cls)
    return (cls == _INBOX) | (cls == _SPAM) | (cls == _SOFT)


def _earlier_same_day(sub: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """For messages in send order: whether an earlier message of the same day to the same
    address had `flags` set (outcomes the sender saw before sending this one)."""
    n = sub.size
    order = np.lexsort((np.arange(n), sub))  # by address, then send order
    s = sub[order]
    f = flags[order].astype(np.int64)
    cum = np.cumsum(f) - f  # flagged messages before this one, over the whole sorted array
    starts = np.r_[True, s[1:] != s[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    before = cum - cum[group_start]
    out = np.empty(n, bool)
    out[order] = before > 0
    return out


def hidden_state_posterior(
    pop: Population, records: AddressRecords, day: int, sub: np.ndarray, cls: np.ndarray, soft_full: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P(address dead) and P(mailbox full) for each of a day's messages (in send order), given the
    sender's records from earlier days and the outcomes of earlier messages the same day.

    Dead is absorbing and addresses die between days at `stale_hazard` (read at today's
    engagement); an address joins dead with its source's join-time share. A mailbox is a two-state chain (fill, empty) between days.
    Traps are never dead nor full (the oracle knows traits, as it knows engagement)."""
    sub = np.asarray(sub)
    cls = np.asarray(cls)
    soft_full = np.asarray(soft_full, bool)
    reached = reveals_mailbox(cls)
    dead_today = _earlier_same_day(sub, cls == _HARD)
    alive_today = _earlier_same_day(sub, reached)
    full_today = _earlier_same_day(sub, reached & soft_full)

    survive = 1.0 - stale_hazard(pop.engagement_logit[sub]).astype(float)
    alive_day = records.alive_day[sub]
    since_join = day - pop.joined_day[sub]
    p_dead_unseen = 1.0 - (1.0 - pop.invalid_prior[sub].astype(float)) * survive ** since_join
    p_dead_since_alive = 1.0 - survive ** (day - alive_day)
    p_dead = np.where(alive_day >= 0, p_dead_since_alive, p_dead_unseen)
    p_dead = np.where(alive_today, 0.0, p_dead)
    p_dead = np.where(records.seen_dead[sub] | dead_today, 1.0, p_dead)

    fill = mailbox_fill_probability(pop.engagement_logit[sub]).astype(float)
    stationary = fill / (fill + MAILBOX_EMPTY_PER_DAY)
    decay = 1.0 - fill - MAILBOX_EMPTY_PER_DAY
    seen = alive_day >= 0
    start = np.where(seen, records.mailbox_seen_full[sub].astype(float), MAILBOX_FULL_AT_JOIN)
    steps = np.where(seen, day - alive_day, since_join)
    p_full = stationary + (start - stationary) * decay ** steps
    p_full = np.where(alive_today, full_today.astype(float), p_full)

    trap = pop.trap[sub]
    return np.where(trap, 0.0, p_dead), np.where(trap, 0.0, p_full)
