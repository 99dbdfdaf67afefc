"""MDL-010's referee on a simulated world: the twin's chances of each message bouncing hard or soft
given that the address answered (a block is not about the address). Kept apart from the model:
nothing served imports the twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.platform.training.truth import truth_columns


def bounce_rates(truth_dir: Path, messages: pd.DataFrame, prefix: str) -> np.ndarray:
    """P(reached, soft bounce, hard bounce | not blocked) from the truth's class probabilities:
    `seen_p_` (the records oracle: every law of the world, and of the address only what the
    sender's records show) or `p_` (the clairvoyant: whether the address is dead or full today)."""
    names = [f"{prefix}{c}" for c in ("inbox", "spam", "soft_bounce", "hard_bounce")]
    rows = truth_columns(truth_dir, messages["message_id"], names)
    reached = rows[names[0]].to_numpy(dtype=float) + rows[names[1]].to_numpy(dtype=float)
    soft, hard = rows[names[2]].to_numpy(dtype=float), rows[names[3]].to_numpy(dtype=float)
    total = np.maximum(reached + soft + hard, 1e-12)
    return np.column_stack([reached / total, soft / total, hard / total])


def referee(truth_dir: Path, holdout: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, records oracle, clairvoyant) for the holdout's messages."""
    return (holdout["label"].to_numpy(dtype=int), bounce_rates(truth_dir, holdout, "seen_p_"),
            bounce_rates(truth_dir, holdout, "p_"))
