"""Turning MDL-001's probabilities into what the sending system does with a message (spec §6.1).

Precedence, first match wins: skip when a hard bounce or a block is likely (and flag the address
for list cleaning), defer when the spam folder is likely, send when the inbox is likely, otherwise
send under monitoring. Thresholds are configuration, not code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIONS = ("send", "send_monitored", "defer", "skip")
INBOX, SPAM, SOFT, HARD, BLOCK = range(5)


@dataclass(frozen=True)
class ActionThresholds:
    skip_hard_bounce: float = 0.5
    skip_block: float = 0.3
    defer_spam: float = 0.6
    send_inbox: float = 0.7


@dataclass
class Decisions:
    action: np.ndarray  # strings from ACTIONS
    reason: np.ndarray
    risk_score: np.ndarray
    confidence: np.ndarray  # probability of the most likely outcome


def decide(proba: np.ndarray, thresholds: ActionThresholds = ActionThresholds()) -> Decisions:
    """Vectorised over a batch: `proba` has one row per message, columns in MDL-001's class order."""
    p = np.asarray(proba, dtype=float)
    if p.ndim != 2 or p.shape[1] != 5:
        raise ValueError(f"expected probabilities of shape (n, 5), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probabilities must be finite and non-negative")
    t = thresholds
    skip = (p[:, HARD] > t.skip_hard_bounce) | (p[:, BLOCK] > t.skip_block)
    defer = ~skip & (p[:, SPAM] > t.defer_spam)
    send = ~skip & ~defer & (p[:, INBOX] > t.send_inbox)
    action = np.select([skip, defer, send], ["skip", "defer", "send"], default="send_monitored")
    reason = np.select([skip, defer, send], ["High bounce/block risk", "High spam folder risk", "Good inbox probability"],
                       default="Moderate confidence")
    risk = np.select([skip, defer], [p[:, HARD] + p[:, BLOCK], p[:, SPAM]], default=1.0 - p[:, INBOX])
    return Decisions(action=action, reason=reason, risk_score=risk, confidence=p.max(axis=1))
