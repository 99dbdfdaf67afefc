"""Turning MDL-001's probabilities into what the sending system does with a message (spec §6.1).

Precedence, first match wins: defer when the campaign's content failed the pre-send check (MDL-007's
P(spam) at or above the hold bar: the campaign waits for a rewrite, whatever the address), skip when a
hard bounce or a block is likely (and flag the address for list cleaning), defer when the spam
folder is likely, send when the inbox is likely, otherwise send under monitoring. Thresholds are
configuration, not code.
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
    # MDL-007's P(spam) of the content at which its campaign is held: the twin's content gate bar,
    # chosen on validation worlds (benchmarks/results/content_gate_validation.json).
    hold_content_spam_risk: float = 0.95


CONTENT_HELD = "Content held: spam risk at or above the pre-send bar; apply the suggestions and rescore"


@dataclass
class Decisions:
    action: np.ndarray  # strings from ACTIONS
    reason: np.ndarray
    risk_score: np.ndarray
    confidence: np.ndarray  # probability of the most likely outcome


def decide(proba: np.ndarray, thresholds: ActionThresholds = ActionThresholds(),
           content_spam_risk: np.ndarray | None = None) -> Decisions:
    """Vectorised over a batch: `proba` has one row per message, columns in MDL-001's class order;
    `content_spam_risk` is MDL-007's P(spam) of each message's content (negative: not scored)."""
    p = np.asarray(proba, dtype=float)
    if p.ndim != 2 or p.shape[1] != 5:
        raise ValueError(f"expected probabilities of shape (n, 5), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probabilities must be finite and non-negative")
    t = thresholds
    content = np.full(len(p), -1.0) if content_spam_risk is None else np.asarray(content_spam_risk, dtype=float)
    if content.shape != (len(p),) or np.isnan(content).any():
        raise ValueError(f"content spam risk must be one number per message, got shape {content.shape}")
    held = content >= t.hold_content_spam_risk
    skip = ~held & ((p[:, HARD] > t.skip_hard_bounce) | (p[:, BLOCK] > t.skip_block))
    defer = ~held & ~skip & (p[:, SPAM] > t.defer_spam)
    send = ~held & ~skip & ~defer & (p[:, INBOX] > t.send_inbox)
    action = np.select([held, skip, defer, send], ["defer", "skip", "defer", "send"], default="send_monitored")
    reason = np.select([held, skip, defer, send], [CONTENT_HELD, "High bounce/block risk", "High spam folder risk",
                                                   "Good inbox probability"], default="Moderate confidence")
    risk = np.select([held, skip, defer], [content, p[:, HARD] + p[:, BLOCK], p[:, SPAM]], default=1.0 - p[:, INBOX])
    return Decisions(action=action, reason=reason, risk_score=risk, confidence=p.max(axis=1))
