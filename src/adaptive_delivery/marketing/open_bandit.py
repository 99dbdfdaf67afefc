"""The Open Bandit Dataset (Saito et al., 2020): a week of ZOZOTOWN's fashion recommendations,
logged by a Bernoulli Thompson-sampling policy (`bts`) and by a uniformly random one (`random`),
each row one item shown in one of three slots, with the click, the logging policy's propensity,
four hashed user features and the user's affinity to every item. Read and checked here, with the
features the contextual policies and reward models use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.marketing.data import marketing_data

POLICIES = ("random", "bts")
POSITIONS = (1, 2, 3)
USER_FEATURES = tuple(f"user_feature_{i}" for i in range(4))
ITEM_GROUP = "item_feature_3"  # the coarsest item category (4 values): what a user's taste is crossed with


@dataclass(frozen=True)
class BanditLog:
    policy: str
    items: np.ndarray  # (rows,) item shown
    positions: np.ndarray  # (rows,) 0-based slot
    clicks: np.ndarray  # (rows,) 0/1
    propensities: np.ndarray  # (rows,) the logging policy's P(item | slot, time)
    days: np.ndarray  # (rows,) calendar day of the impression
    users: np.ndarray  # (rows, user one-hot columns)
    affinity: np.ndarray  # (rows, items)
    item_groups: np.ndarray  # (items, groups) one-hot of each item's category
    n_items: int

    def __len__(self) -> int:
        return len(self.items)


def _frames(policy: str, campaign: str, root: Path | None) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    if policy not in POLICIES:
        raise ValueError(f"unknown logging policy {policy!r}; expected one of {POLICIES}")
    folder = (root or marketing_data("open-bandit")) / policy / campaign
    frame = pd.read_csv(folder / f"{campaign}.csv", index_col=0)
    items = pd.read_csv(folder / "item_context.csv", index_col=0).sort_values("item_id")
    needed = {"timestamp", "item_id", "position", "click", "propensity_score", *USER_FEATURES}
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise ValueError(f"{folder}: missing columns {missing}")
    if not frame["item_id"].between(0, len(items) - 1).all() or not frame["position"].isin(POSITIONS).all():
        raise ValueError(f"{folder}: items must be 0..{len(items) - 1} and positions {POSITIONS}")
    return folder, frame, items


def _log(policy: str, frame: pd.DataFrame, items: pd.DataFrame, levels: dict[str, list[str]]) -> BanditLog:
    n_items = len(items)
    users = np.hstack([(frame[c].astype(str).to_numpy()[:, None] == np.array(levels[c])[None, :]).astype(float)
                       for c in USER_FEATURES])
    affinity = frame[[f"user-item_affinity_{i}" for i in range(n_items)]].to_numpy(dtype=float)
    groups = pd.get_dummies(items[ITEM_GROUP].astype(str)).to_numpy(dtype=float)
    return BanditLog(policy=policy, items=frame["item_id"].to_numpy(dtype=int),
                     positions=frame["position"].to_numpy(dtype=int) - 1, clicks=frame["click"].to_numpy(dtype=float),
                     propensities=frame["propensity_score"].to_numpy(dtype=float),
                     days=pd.to_datetime(frame["timestamp"]).dt.day.to_numpy(), users=users, affinity=affinity,
                     item_groups=groups, n_items=n_items)


def read_logs(campaign: str = "men", root: Path | None = None) -> dict[str, BanditLog]:
    """Both policies' logs of one campaign, with the same one-hot columns for the user features."""
    loaded = {p: _frames(p, campaign, root) for p in POLICIES}
    item_counts = {len(items) for _, _, items in loaded.values()}
    if len(item_counts) != 1:
        raise ValueError(f"the two logs of {campaign!r} list different item counts: {sorted(item_counts)}")
    levels = {c: sorted(set().union(*(set(f[c].astype(str)) for _, f, _ in loaded.values()))) for c in USER_FEATURES}
    return {p: _log(p, frame, items, levels) for p, (_, frame, items) in loaded.items()}


def _features(log: BanditLog, idx: np.ndarray, items: np.ndarray) -> np.ndarray:
    """(len(idx), len(items), features): `items` shaped (rows, k) are the items scored per row."""
    n, k = items.shape
    item = np.eye(log.n_items)[items]
    slot = np.broadcast_to(np.eye(len(POSITIONS))[log.positions[idx]][:, None, :], (n, k, len(POSITIONS)))
    affinity = np.log1p(np.take_along_axis(log.affinity[idx], items, axis=1))[:, :, None]
    cross = np.einsum("nu,nkg->nkug", log.users[idx], log.item_groups[items]).reshape(n, k, -1)
    return np.concatenate([np.ones((n, k, 1)), item, slot, affinity, cross], axis=2)


def arm_features(log: BanditLog, rows: np.ndarray | None = None) -> np.ndarray:
    """(rows, items, features) for every item in each logged row's context: a constant (the
    intercept, feature 0), the item (one-hot), the slot (one-hot), the user's affinity to the item
    (log1p), and the user's features crossed with the item's category."""
    idx = np.arange(len(log)) if rows is None else rows
    return _features(log, idx, np.broadcast_to(np.arange(log.n_items), (len(idx), log.n_items)))


def logged_features(log: BanditLog) -> np.ndarray:
    """(rows, features): each row's features for the item it showed (built for that item alone)."""
    idx = np.arange(len(log))
    return _features(log, idx, log.items[:, None])[:, 0]
