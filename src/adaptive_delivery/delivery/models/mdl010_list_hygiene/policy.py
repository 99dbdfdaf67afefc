"""What a sender does with MDL-010's risks before a marketing message goes out: send it, hold it
for today (the mailbox is likely full: a full mailbox is emptied within days, and mail sent to it
meanwhile only bounces), or stop mailing the address (likely dead, or not a valid address at all).

The thresholds are named settings (`HygieneThresholds`); the defaults were chosen in the twin's
sending loop on validation worlds (`benchmarks/mdl010_in_loop.py`, mdl010_in_loop.json): of the
settings that kept the bounce rate under spec §11's 1%, the one that withheld the fewest good
addresses against the best rule at the same bounce rate (suppress at P(hard) >= 0.3, hold at
P(soft) >= 0.3; the even odds, 0.5 and 0.5, came first and tied the rule). First match wins in the
order suppress, hold.
Transactional mail is owed and is not held.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from adaptive_delivery.delivery.models.mdl010_list_hygiene.address import INVALID

ACTIONS = ("send", "hold", "suppress")
SEND, HOLD, SUPPRESS = range(3)


@dataclass(frozen=True)
class HygieneThresholds:
    """P(hard bounce) at or above which an address is suppressed; P(soft bounce) at or above which
    today's message to it is held."""

    suppress_hard_bounce: float = 0.3
    hold_soft_bounce: float = 0.3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{f.name} must be in (0, 1], got {value}")


def decide(p_hard: np.ndarray, p_soft: np.ndarray, address_check: np.ndarray,
           thresholds: HygieneThresholds = HygieneThresholds()) -> np.ndarray:
    """Each address's action (an index into ACTIONS): an invalid address is always suppressed."""
    hard = np.asarray(p_hard, dtype=float)
    soft = np.asarray(p_soft, dtype=float)
    check = np.asarray(address_check, dtype=object)
    if not hard.shape == soft.shape == check.shape:
        raise ValueError(f"one risk of each kind and one check per address: {hard.shape}, {soft.shape}, {check.shape}")
    t = thresholds
    return np.select([(check == INVALID) | (hard >= t.suppress_hard_bounce), soft >= t.hold_soft_bounce],
                     [SUPPRESS, HOLD], SEND).astype(int)
