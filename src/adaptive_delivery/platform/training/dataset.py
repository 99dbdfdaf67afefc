"""Training sets: labels from the lake, features from the feature store's point-in-time join,
a time-based split, and the checks that stop a bad training set before anything is trained."""

from __future__ import annotations

import re
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
    elements = {c: m for c in feature_columns if c not in frame and (m := ELEMENT.match(c)) and m["base"] in frame}
    missing = [c for c in feature_columns if c not in frame and c not in elements]
    if missing:
        raise TrainingDataError(f"training frame is missing feature columns {missing}")
    categories = dict(categories or {})
    first = next((elements[c]["base"] if c in elements else c for c in feature_columns), None)  # whose length is n
    n = len(frame) if isinstance(frame, pd.DataFrame) else len(frame[first]) if first is not None else 0
    out = np.empty((n, len(feature_columns)), dtype=np.float64, order="F")  # columns written whole
    stacked: dict[str, np.ndarray] = {}
    for j, col in enumerate(feature_columns):
        if col in elements:
            base = elements[col]["base"]
            if base not in stacked:
                stacked[base] = array_rows(frame[base], n)
            k = int(elements[col]["k"])
            out[:, j] = stacked[base][:, k] if k < stacked[base].shape[1] else np.nan
    numeric = [j for j, col in enumerate(feature_columns) if col not in categorical and col not in elements]
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


# A numeric feature column named `name[k]` reads element k of the array feature `name` (an hour of
# a 24-hour heatmap): models read array features one scalar at a time.
ELEMENT = re.compile(r"^(?P<base>.+)\[(?P<k>\d+)\]$")


def array_rows(values, n: int) -> np.ndarray:
    """An array feature as an (n, width) float matrix: from a 2-D array, or one array (or None,
    NaN) per row; a missing row is all NaN."""
    if isinstance(values, np.ndarray) and values.ndim == 2:
        return values.astype(np.float64)
    rows = list(values)
    width = max((len(r) for r in rows if r is not None and np.ndim(r) == 1), default=0)
    out = np.full((n, width), np.nan)
    for i, r in enumerate(rows):
        if r is not None and np.ndim(r) == 1 and len(r) == width:
            out[i] = np.asarray(r, dtype=np.float64)
    return out


@lru_cache(maxsize=256)
def _vocabulary_index(vocab: tuple[str, ...]) -> pd.Index:
    """A vocabulary's hash index, built once (serving encodes with the same few vocabularies)."""
    return pd.Index(list(vocab), dtype=object)


def time_split(keys: pd.DataFrame, holdout_days: int, time_column: str = "event_timestamp") -> np.ndarray:
    """True for rows in the last `holdout_days` days (the holdout), False for training rows."""
    ts = pd.to_datetime(keys[time_column], utc=True)
    cutoff = ts.max().normalize() - timedelta(days=holdout_days - 1)
    return (ts >= cutoff).to_numpy()


def classes_present(y: np.ndarray, n_classes: int, partial: Mapping[int, tuple[int, ...]] | None = None) -> set[int]:
    """The classes labels show: their own codes, and the class of a partial code that stands for
    one class only (MDL-006: an unsubscribe where complaints go unseen is an unsubscribe)."""
    codes = set(np.unique(np.asarray(y, dtype=int)).tolist())
    return {c for c in codes if c < n_classes} | {
        members[0] for code, members in (partial or {}).items() if len(members) == 1 and code in codes}


def check_training_set(data: Dataset, classes: tuple[str, ...], min_rows: int, holdout: np.ndarray,
                       partial: Mapping[int, tuple[int, ...]] | None = None, rare: tuple[str, ...] = ()) -> None:
    """Stop with a readable reason: too small, a class missing (but a `rare` one, whose base rate
    the model predicts), or no holdout to evaluate on."""
    train_y = data.y[~holdout]
    if len(train_y) < min_rows:
        raise TrainingDataError(f"training set too small: {len(train_y)} rows before the holdout, need at least {min_rows}")
    present = classes_present(train_y, len(classes), partial)
    absent = [c for i, c in enumerate(classes) if i not in present and c not in rare]
    if absent:
        raise TrainingDataError(f"label classes missing from the training rows: {absent}")
    if holdout.sum() == 0 or (~holdout).sum() == 0:
        raise TrainingDataError("the time split left no holdout (or no training) rows; simulate or ingest more days")
    if np.isinf(data.X.to_numpy(dtype=float)).any():  # missing (NaN) is allowed, infinite is a bug upstream
        raise TrainingDataError("features contain infinite values")
