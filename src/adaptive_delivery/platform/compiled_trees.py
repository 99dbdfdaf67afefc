"""An XGBoost tree ensemble as flat numpy arrays, walked for every tree at once, level by level.

For a handful of rows XGBoost's own `inplace_predict` costs more than its trees: each call builds
a proxy matrix and reads its configuration (0.3-0.4 ms on 2 cores), twice for a two-head model.
Here a batch of a few rows takes a few vectorised steps per tree level. For larger batches
XGBoost's predictor is faster; `platform.bundle.TrainedModel.for_serving` checks the serving form
against the registered model on single rows and on a full batch alike.

Supported: `gbtree` boosters with numerical splits and the `multi:softprob` or `binary:logistic`
objectives; anything else gets None from `NumpyTrees.of` (the caller keeps XGBoost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

OBJECTIVES = ("multi:softprob", "binary:logistic")


def _base_score(learner: dict) -> np.ndarray:
    raw = learner["learner_model_param"]["base_score"]
    values = json.loads(raw) if raw.strip().startswith("[") else [float(raw)]
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class NumpyTrees:
    """All trees' nodes in flat arrays (child indices are global), the class each tree adds to,
    and the base margin."""

    roots: np.ndarray  # (trees,) index of each tree's root
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray  # float32, as XGBoost compares
    default_left: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray  # float32 leaf values (0 at split nodes)
    groups: np.ndarray  # (trees, classes) one-hot
    base_margin: np.ndarray  # (classes,)
    depth: int
    objective: str

    @classmethod
    def of(cls, booster, iterations: tuple[int, int] = (0, 0)) -> NumpyTrees | None:
        """The ensemble of a fitted booster, cut at `iterations` as XGBoost's `iteration_range`
        is ((0, 0): every tree); None where it holds what this form does not do."""
        model = json.loads(booster.save_raw("json"))
        learner = model["learner"]
        booster_model = learner["gradient_booster"]
        objective = learner["objective"]["name"]
        if booster_model.get("name") != "gbtree" or objective not in OBJECTIVES:
            return None
        trees = booster_model["model"]["trees"]
        info = booster_model["model"]["tree_info"]
        indptr = booster_model["model"].get("iteration_indptr")
        start, stop = iterations
        if stop and indptr:
            trees, info = trees[indptr[start]:indptr[stop]], info[indptr[start]:indptr[stop]]
        if not trees or any(any(t["split_type"]) for t in trees):
            return None  # categorical splits
        classes = int(learner["learner_model_param"].get("num_class") or 0) or 1
        return cls._pack(trees, info, classes, _base_score(learner), objective)

    @classmethod
    def _pack(cls, trees: list[dict], info: list[int], classes: int, base: np.ndarray,
              objective: str) -> NumpyTrees:
        sizes = [len(t["left_children"]) for t in trees]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        left = np.concatenate([np.asarray(t["left_children"], dtype=np.int64) for t in trees])
        right = np.concatenate([np.asarray(t["right_children"], dtype=np.int64) for t in trees])
        owner = np.repeat(offsets, sizes)
        is_leaf = left < 0
        left = np.where(is_leaf, np.arange(len(left)), left + owner)  # a leaf points at itself
        right = np.where(is_leaf, np.arange(len(right)), right + owner)
        conditions = np.concatenate([np.asarray(t["split_conditions"], dtype=np.float32) for t in trees])
        groups = np.zeros((len(trees), classes))
        groups[np.arange(len(trees)), np.asarray(info, dtype=np.int64)] = 1.0
        if objective == "binary:logistic":  # base_score is a probability there
            base = np.log(base / (1.0 - base))
        return cls(roots=offsets, left=left, right=right,
                   feature=np.concatenate([np.asarray(t["split_indices"], dtype=np.int64) for t in trees]),
                   threshold=conditions,
                   default_left=np.concatenate([np.asarray(t["default_left"], dtype=bool) for t in trees]),
                   is_leaf=is_leaf, value=np.where(is_leaf, conditions, np.float32(0)),
                   groups=groups, base_margin=base[:classes], depth=_depth(trees), objective=objective)

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Per row and class, the base margin plus the leaves the row reaches (float64)."""
        x = np.asarray(x, dtype=np.float32)
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots)))
        for _ in range(self.depth):
            v = x[rows, self.feature[node]]
            goes_left = np.where(np.isnan(v), self.default_left[node], v < self.threshold[node])
            node = np.where(goes_left, self.left[node], self.right[node])  # a leaf stays where it is
        return self.value[node].astype(np.float64) @ self.groups + self.base_margin

    def predict(self, x: np.ndarray) -> np.ndarray:
        """What XGBoost's `inplace_predict` returns: class probabilities (n, classes) for
        softprob, P(positive) (n,) for logistic."""
        m = self.margin(x)
        if self.objective == "binary:logistic":
            return 1.0 / (1.0 + np.exp(-m[:, 0]))
        e = np.exp(m - m.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def _depth(trees: list[dict]) -> int:
    """The longest root-to-leaf path over all trees (the number of level steps a walk needs)."""
    deepest = 0
    for t in trees:
        left, right = t["left_children"], t["right_children"]
        level, depth = [0], 0
        while True:
            level = [c for n in level if left[n] >= 0 for c in (left[n], right[n])]
            if not level:
                break
            depth += 1
        deepest = max(deepest, depth)
    return deepest
