"""What a sender does with MDL-006's risks: per person, keep mailing, mail less often, ask them to
confirm they still want the mail, or stop mailing them (marketing mail only: transactional mail
is owed whatever the risk).

Stopping someone's mail trades their complaints for their opens, so suppression and re-permission
read the complaints a person's mail draws per open it wins (`complaints_per_open`: MDL-006's
P(complaint) over the person's open rate), the order in which giving up opens buys the most
complaints; a 30-day risk would rank whoever gets the most mail first. Reduced frequency reads
P(unsubscribe within 30 days) at the person's cadence (`thirty_day_risk`). The thresholds are named
settings (`RiskThresholds`), chosen on validation worlds in the twin's sending loop
(`benchmarks/mdl006_in_loop.py`); first match wins in the order suppress, re-permission, reduce.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

ACTIONS = ("send", "reduce_frequency", "re_permission", "suppress")
SEND, REDUCE, REPERMISSION, SUPPRESS = range(4)
# Reduced frequency: one marketing message in this many days at most.
REDUCED_EVERY_DAYS = 3
# Re-permission: the person's next marketing message asks them to confirm; mail continues only if
# they open it (a human open) within this many days, else they are suppressed.
REPERMISSION_WAIT_DAYS = 3
# An open rate below this is read as this (no one's expected opens are exactly none).
MIN_OPEN_RATE = 0.005


@dataclass(frozen=True)
class RiskThresholds:
    """Complaints per open at or above which a person is suppressed, or asked to confirm;
    P(unsubscribe within 30 days) at or above which they get mail less often."""

    suppress_complaints_per_open: float = 0.05
    repermission_complaints_per_open: float = 0.03
    reduce_unsubscribe_30d: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{f.name} must be in (0, 1], got {value}")


def complaints_per_open(p_complaint: np.ndarray, open_rate: np.ndarray) -> np.ndarray:
    """Expected complaints per expected open of a person's next message."""
    return np.asarray(p_complaint, dtype=float) / np.maximum(np.asarray(open_rate, dtype=float), MIN_OPEN_RATE)


def thirty_day_risk(p_per_message: np.ndarray, messages_30d: np.ndarray) -> np.ndarray:
    """P(at least one event in the next 30 days) from the per-message chance and the number of
    messages the person will get in them (their cadence): 1 - (1 - p)^m."""
    p = np.clip(np.asarray(p_per_message, dtype=float), 0.0, 1.0)
    m = np.maximum(np.asarray(messages_30d, dtype=float), 0.0)
    return -np.expm1(m * np.log1p(-np.minimum(p, 1.0 - 1e-12)))


def decide(p_unsubscribe_30d: np.ndarray, complaint_per_open: np.ndarray,
           thresholds: RiskThresholds = RiskThresholds()) -> np.ndarray:
    """Each person's action (an index into ACTIONS)."""
    unsub = np.asarray(p_unsubscribe_30d, dtype=float)
    ratio = np.asarray(complaint_per_open, dtype=float)
    if unsub.shape != ratio.shape:
        raise ValueError(f"one risk of each kind per person: {unsub.shape} vs {ratio.shape}")
    t = thresholds
    return np.select([ratio >= t.suppress_complaints_per_open, ratio >= t.repermission_complaints_per_open,
                      unsub >= t.reduce_unsubscribe_30d], [SUPPRESS, REPERMISSION, REDUCE], SEND).astype(int)


class ListPolicy:
    """The actions carried out day by day over a list, from what the sender sees: which marketing
    messages of a day go out. Reduced frequency keeps one in REDUCED_EVERY_DAYS days; a
    re-permission sends the next message as the request and waits REPERMISSION_WAIT_DAYS for a
    human open (`opened`), then either resumes the person's mail or suppresses them."""

    def __init__(self) -> None:
        self.action: dict[str, int] = {}
        self.last_sent_day: dict[str, int] = {}
        self.asked_on: dict[str, int] = {}
        self.confirmed: set[str] = set()
        self.suppressed: set[str] = set()

    def set_actions(self, subscriber_ids, actions) -> None:
        """Today's actions from the latest risks (a confirmed person is not asked again)."""
        self.action = {s: int(a) for s, a in zip(subscriber_ids, actions, strict=True)}

    def opened(self, subscriber_ids) -> None:
        """Human opens the sender saw: a pending re-permission is confirmed."""
        for s in subscriber_ids:
            if s in self.asked_on:
                del self.asked_on[s]
                self.confirmed.add(s)

    def keep(self, day: int, subscriber_ids, marketing: np.ndarray) -> np.ndarray:
        """Which of the day's planned messages go out (transactional ones always)."""
        keep = np.ones(len(subscriber_ids), dtype=bool)
        for s, asked in list(self.asked_on.items()):
            if day - asked >= REPERMISSION_WAIT_DAYS:  # no answer: stop mailing them
                del self.asked_on[s]
                self.suppressed.add(s)
        for i, (s, is_marketing) in enumerate(zip(subscriber_ids, marketing, strict=True)):
            if not is_marketing:
                continue
            action = self.action.get(s, SEND)
            if s in self.suppressed or action == SUPPRESS or s in self.asked_on:
                keep[i] = False
            elif action == REPERMISSION and s not in self.confirmed:
                self.asked_on[s] = day  # this message is the request; the rest wait for the answer
            elif action == REDUCE:
                keep[i] = day - self.last_sent_day.get(s, -REDUCED_EVERY_DAYS) >= REDUCED_EVERY_DAYS
            if keep[i]:
                self.last_sent_day[s] = day
        return keep
