"""Training sets: labels from the lake, features from the feature store's point-in-time join,
a time-based split, and the checks that stop a bad training set before anything is trained."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import numpy as np
import pandas as pd


class TrainingDataError(ValueError):
    """The training set cannot be used; the message says why (the pipeline stops, nothing registers)."""


@dataclass
class Dataset:
    """Features (numeric, categorical as integer codes), labels and the keys/timestamps of each row."""

    X: pd.DataFrame
    y: np.ndarray
    keys: pd.DataFrame  # message_id, event_timestamp, …
    categories: dict[str, list[str]]  # categorical column -> vocabulary (code = position)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> Dataset:
        return Dataset(self.X[mask].reset_index(drop=True), self.y[mask], self.keys[mask].reset_index(drop=True),
                       self.categories)


def encode(frame: pd.DataFrame | Mapping[str, np.ndarray], feature_columns: list[str], categorical: list[str],
           categories: dict[str, list[str]] | None = None) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Numeric matrix from feature columns (a frame, or one array per column as the decision
    service holds them): booleans as 0/1, categoricals as codes of a fixed vocabulary (unknown or
    missing values -> -1), so training and serving encode identically. Column by column in numpy:
    serving encodes one message at a time, where pandas' per-column overhead would cost more than
    the model."""
    missing = [c for c in feature_columns if c not in frame]
    if missing:
        raise TrainingDataError(f"training frame is missing feature columns {missing}")
    categories = dict(categories or {})
    n = len(frame) if isinstance(frame, pd.DataFrame) else len(frame[feature_columns[0]]) if feature_columns else 0
    out = np.empty((n, len(feature_columns)), dtype=np.float64, order="F")  # columns written whole
    numeric = [j for j, col in enumerate(feature_columns) if col not in categorical]
    try:  # one conversion for every numeric column when they all convert as they are
        if isinstance(frame, pd.DataFrame):
            out[:, numeric] = frame[[feature_columns[j] for j in numeric]].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            for j in numeric:
                out[:, j] = np.asarray(frame[feature_columns[j]], dtype=np.float64)
    except (TypeError, ValueError):
        for j in numeric:
            out[:, j] = pd.to_numeric(pd.Series(frame[feature_columns[j]]), errors="raise").to_numpy(
                dtype=np.float64, na_value=np.nan)
    for j, col in enumerate(feature_columns):
        if col not in categorical:
            continue
        values = np.asarray(frame[col], dtype=object)
        if set(map(type, values)) <= {str}:  # the usual case: nothing missing, nothing to convert
            present, text = np.ones(len(values), dtype=bool), values
        else:
            present, text = ~pd.isna(values), values.astype(str)
        vocab = categories.setdefault(col, sorted(set(text[present].tolist())))
        out[:, j] = np.where(present, _vocabulary_index(tuple(vocab)).get_indexer(text), -1)
    index = frame.index if isinstance(frame, pd.DataFrame) else None
    return pd.DataFrame(out, columns=list(feature_columns), index=index).reset_index(drop=True), categories


@lru_cache(maxsize=256)
def _vocabulary_index(vocab: tuple[str, ...]) -> pd.Index:
    """A vocabulary's hash index, built once (serving encodes with the same few vocabularies)."""
    return pd.Index(list(vocab), dtype=object)


def time_split(keys: pd.DataFrame, holdout_days: int, time_column: str = "event_timestamp") -> np.ndarray:
    """True for rows in the last `holdout_days` days (the holdout), False for training rows."""
    ts = pd.to_datetime(keys[time_column], utc=True)
    cutoff = ts.max().normalize() - timedelta(days=holdout_days - 1)
    return (ts >= cutoff).to_numpy()


def check_training_set(data: Dataset, classes: tuple[str, ...], min_rows: int, holdout: np.ndarray) -> None:
    """Stop with a readable reason: too small, a class missing, or no holdout to evaluate on."""
    train_y = data.y[~holdout]
    if len(train_y) < min_rows:
        raise TrainingDataError(f"training set too small: {len(train_y)} rows before the holdout, need at least {min_rows}")
    present = set(np.unique(train_y).tolist())
    absent = [c for i, c in enumerate(classes) if i not in present]
    if absent:
        raise TrainingDataError(f"label classes missing from the training rows: {absent}")
    if holdout.sum() == 0 or (~holdout).sum() == 0:
        raise TrainingDataError("the time split left no holdout (or no training) rows; simulate or ingest more days")
    if np.isinf(data.X.to_numpy(dtype=float)).any():  # missing (NaN) is allowed, infinite is a bug upstream
        raise TrainingDataError("features contain infinite values")
