"""MDL-001's part in feature discovery (spec §9.1): what else it could read, and how its outcomes
and predictions are cut for the weekly association report (`platform.feature_discovery`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.features.definitions import FEATURE_TABLES
from adaptive_delivery.delivery.models.mdl001_deliverability.model import (
    ACCEPTED_UNSEEN,
    CLASSES,
    FEATURES,
)
from adaptive_delivery.platform.feature_discovery import Discovery

# Fields of the send request the model does not read. Identifiers of a subscriber, a message or a
# content are not features (they never recur in the next campaign); a sending domain or IP does.
REQUEST_FIELDS = {"sending_domain": "categorical", "sending_ip": "categorical"}
# Tables whose values are computed on demand from the send time (the model reads all of them).
ON_DEMAND = ("calendar",)
INBOX, SPAM, SOFT, HARD, BLOCK = (CLASSES.index(c) for c in ("inbox", "spam", "soft_bounce", "hard_bounce", "block"))


def candidates() -> dict[str, str]:
    """Every scalar feature of the feature store's views the model does not read (as the training
    frame names it; the scores other models publish too: MDL-004's reputation), and the request
    fields above: column -> numeric | categorical."""
    from adaptive_delivery.platform.spec import scored_tables

    scored = {table: declared.tables[table] for table, (_, declared) in scored_tables().items()}
    out = {}
    for table, (_, features) in {**FEATURE_TABLES, **scored}.items():
        if table in ON_DEMAND:
            continue
        for name, kind in features.items():
            column = f"{table}_features__{name}"
            if kind != "float_array" and column not in FEATURES:
                out[column] = "categorical" if kind == "str" else "numeric"
    return {**out, **REQUEST_FIELDS}


def outcomes(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """One yes/no outcome per thing that can happen to a message: accepted, soft bounce, hard
    bounce, block (known for every message) and spam-foldered (known only for an accepted message
    whose placement was seen); -1 where it is not known. Each is judged within the model's own
    probability of it (`strata`): a split of the model's classes a single risk would hide shows."""
    label = frame["label"].to_numpy(dtype=int)
    out = {"accepted": np.isin(label, (INBOX, SPAM, ACCEPTED_UNSEEN)).astype(int)}
    for name, code in (("soft_bounce", SOFT), ("hard_bounce", HARD), ("block", BLOCK)):
        out[name] = (label == code).astype(int)
    out["spam"] = np.select([label == INBOX, label == SPAM], [0, 1], default=-1)
    return out


def strata(proba: np.ndarray) -> dict[str, np.ndarray]:
    """The model's probability of each outcome (spam: given accepted)."""
    accepted = proba[:, INBOX] + proba[:, SPAM]
    with np.errstate(divide="ignore", invalid="ignore"):
        spam = np.where(accepted > 0, proba[:, SPAM] / accepted, np.nan)
    return {"accepted": accepted, "soft_bounce": proba[:, SOFT], "hard_bounce": proba[:, HARD],
            "block": proba[:, BLOCK], "spam": spam}


DISCOVERY = Discovery(candidates=candidates, outcomes=outcomes, strata=strata)
