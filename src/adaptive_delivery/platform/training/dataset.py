"""Training sets: labels from the lake, features from the feature store's point-in-time join,
a time-based split, and the checks that stop a bad training set before anything is trained."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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


def encode(frame: pd.DataFrame, feature_columns: list[str], categorical: list[str],
           categories: dict[str, list[str]] | None = None) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Numeric matrix from feature columns: booleans as 0/1, categoricals as codes of a fixed
    vocabulary (unknown or missing values -> -1), so training and serving encode identically.
    Column by column in numpy: serving encodes one message at a time, where pandas' per-column
    overhead would cost more than the model."""
    missing = [c for c in feature_columns if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"training frame is missing feature columns {missing}")
    categories = dict(categories or {})
    out = np.empty((len(frame), len(feature_columns)), dtype=np.float64)
    numeric = [j for j, col in enumerate(feature_columns) if col not in categorical]
    try:  # one conversion for every numeric column when they all convert as they are
        out[:, numeric] = frame[[feature_columns[j] for j in numeric]].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        for j in numeric:
            out[:, j] = pd.to_numeric(frame[feature_columns[j]], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    for j, col in enumerate(feature_columns):
        if col not in categorical:
            continue
        series = frame[col]
        present = series.notna().to_numpy()
        text = series.to_numpy(dtype=object)
        vocab = categories.setdefault(col, sorted({str(v) for v in text[present]}))
        index = {v: i for i, v in enumerate(vocab)}
        out[:, j] = [index.get(str(v), -1) if ok else -1 for v, ok in zip(text, present, strict=True)]
    return pd.DataFrame(out, columns=list(feature_columns), index=frame.index).reset_index(drop=True), categories


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
