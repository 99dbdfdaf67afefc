"""What a sender does with MDL-010's risks before a marketing message goes out: send it, hold it
for today (the mailbox is likely full: a full mailbox is emptied within days, and mail sent to it
meanwhile only bounces), or stop mailing the address (likely dead, or not a valid address at all).

The thresholds are named settings (`HygieneThresholds`); the defaults are the even odds (hold a
message to an address more likely full than not, stop mailing one more likely dead than not), and
the twin's sending loop traces what other settings trade (`benchmarks/mdl010_in_loop.py`). First
match wins in the order suppress, hold.
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

    suppress_hard_bounce: float = 0.5
    hold_soft_bounce: float = 0.5

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
