"""The Hillstrom e-mail experiment (MineThatData, 2008): customers randomly sent a men's e-mail, a
women's e-mail or none, with their visits and conversions in the next two weeks. Read, checked and
encoded here; the encoding is the served model's too, so a caller sends the customer's raw fields.

A split is seeded and stratified by e-mail and visit: train, validation (every choice: early
stopping, calibration), test (the figures)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.marketing.data import marketing_data

DEV_FILE = "hillstrom_development.csv"
ARMS = ("No E-Mail", "Mens E-Mail", "Womens E-Mail")  # arm index = position; 0 is the control
CONTROL = 0
OUTCOMES = ("visit", "conversion")
ZIP_CODES = ("Urban", "Surburban", "Rural")  # the data's own spelling
CHANNELS = ("Phone", "Web", "Multichannel")
# `history_segment` is `history` cut at these dollars; derived, so a caller cannot send a contradiction
HISTORY_EDGES = (100.0, 200.0, 350.0, 500.0, 750.0, 1000.0)
NUMERIC = ("recency", "history", "mens", "womens", "newbie")
CATEGORICAL = {"zip_code": ZIP_CODES, "channel": CHANNELS}
RAW_COLUMNS = (*NUMERIC, *CATEGORICAL)
FEATURES = ("recency", "log_history", "history_segment", "mens", "womens", "newbie",
            *(f"zip_code_{v}" for v in ZIP_CODES), *(f"channel_{v}" for v in CHANNELS))
SHARES = {"train": 0.56, "validation": 0.14, "test": 0.30}


def read(path: Path | None = None) -> pd.DataFrame:
    """The development file, checked: every column present, known categories, outcomes 0/1."""
    path = path or marketing_data("hillstrom") / DEV_FILE
    frame = pd.read_csv(path)
    missing = [c for c in (*RAW_COLUMNS, "segment", *OUTCOMES) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name}: missing columns {missing}")
    unknown = sorted(set(frame["segment"]) - set(ARMS))
    if unknown:
        raise ValueError(f"{path.name}: unknown segments {unknown}; expected {list(ARMS)}")
    for outcome in OUTCOMES:
        if not frame[outcome].isin([0, 1]).all():
            raise ValueError(f"{path.name}: {outcome} must be 0 or 1")
    return frame


def arms_of(frame: pd.DataFrame) -> np.ndarray:
    return frame["segment"].map({a: i for i, a in enumerate(ARMS)}).to_numpy(dtype=np.int64)


def outcomes_of(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(OUTCOMES)].to_numpy(dtype=np.float32)


def encode(columns: Mapping[str, np.ndarray] | pd.DataFrame) -> np.ndarray:
    """Raw customer fields -> the model's feature matrix (n, len(FEATURES)); ValueError names a
    field that is missing, non-numeric, out of range or an unknown category."""
    n = len(columns[RAW_COLUMNS[0]]) if RAW_COLUMNS[0] in columns else 0
    out = np.empty((n, len(FEATURES)), dtype=np.float64)
    num = {}
    for name in NUMERIC:
        if name not in columns:
            raise ValueError(f"missing input {name!r}")
        try:
            values = np.asarray(columns[name], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"input {name!r} must be numeric") from exc
        if not np.isfinite(values).all():
            raise ValueError(f"input {name!r} must be finite")
        num[name] = values
    if (num["history"] < 0).any() or (num["recency"] < 0).any():
        raise ValueError("recency (months) and history (dollars) must be >= 0")
    for flag in ("mens", "womens", "newbie"):
        if not np.isin(num[flag], (0.0, 1.0)).all():
            raise ValueError(f"input {flag!r} must be 0 or 1")
    out[:, 0] = num["recency"]
    out[:, 1] = np.log1p(num["history"])
    out[:, 2] = 1 + np.searchsorted(HISTORY_EDGES, num["history"], side="right")
    out[:, 3:6] = np.stack([num["mens"], num["womens"], num["newbie"]], axis=1)
    col = 6
    for name, levels in CATEGORICAL.items():
        if name not in columns:
            raise ValueError(f"missing input {name!r}")
        values = np.asarray([v.decode() if isinstance(v, bytes) else v for v in np.asarray(columns[name]).reshape(-1)],
                            dtype=object)
        bad = sorted({str(v) for v in values} - set(levels))
        if bad:
            raise ValueError(f"input {name!r} has unknown values {bad[:5]}; expected one of {list(levels)}")
        for level in levels:
            out[:, col] = values == level
            col += 1
    return out


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split(frame: pd.DataFrame, seed: int) -> Split:
    """Row indices per part, stratified by e-mail and visit so every part keeps the experiment's
    randomisation and its visit rate."""
    rng = np.random.default_rng(seed)
    strata = arms_of(frame) * 2 + frame["visit"].to_numpy()
    parts: dict[str, list[np.ndarray]] = {k: [] for k in SHARES}
    for s in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == s))
        cut_train = int(round(len(rows) * SHARES["train"]))
        cut_val = cut_train + int(round(len(rows) * SHARES["validation"]))
        parts["train"].append(rows[:cut_train])
        parts["validation"].append(rows[cut_train:cut_val])
        parts["test"].append(rows[cut_val:])
    return Split(**{k: np.sort(np.concatenate(v)) for k, v in parts.items()})
