"""Sticky assignment (spec §8.2): a subscriber sees the same model for the whole experiment,
decided by the FNV-1a hash of subscriber id + experiment id."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
MAX_UINT32 = 0xFFFFFFFF


def fnv1a_32(data: bytes) -> int:
    """32-bit FNV-1a, as Go's hash/fnv.New32a (what the spec's fragment uses)."""
    h = FNV_OFFSET
    for byte in data:
        h ^= byte
        h = (h * FNV_PRIME) & MAX_UINT32
    return h


def bucket(subscriber_id: str, experiment_id: str) -> float:
    """Where a subscriber falls in [0, 1] for this experiment."""
    return fnv1a_32(f"{subscriber_id}{experiment_id}".encode()) / MAX_UINT32


def in_treatment(subscriber_ids: Iterable[str], experiment_id: str, share: float) -> np.ndarray:
    """True where the subscriber gets the candidate at this traffic share (0 in shadow)."""
    return np.array([bucket(s, experiment_id) < share for s in subscriber_ids], dtype=bool)
