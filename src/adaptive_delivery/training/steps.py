"""The steps every training run takes, as plain functions (the KFP components wrap these)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from adaptive_delivery.features import store as st
from adaptive_delivery.models.spec import ModelSpec


def training_frame(spec: ModelSpec, labels: pd.DataFrame, features_dir: str | Path, feast_home: str | Path,
                   project: str = "adaptive_delivery") -> pd.DataFrame:
    """Labels joined point-in-time with the spec's feature service (full feature names)."""
    fs = st.open_store(feast_home, features_dir, project=project)
    st.apply(fs)
    service = fs.get_feature_service(spec.feature_service)
    frame = st.historical(fs, labels, service)
    return frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def oracle_probabilities(truth_dir: str | Path, message_ids: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    """The simulator's true class probabilities for these messages (rows in the given order)."""
    cols = ["message_id", *[f"p_{c}" for c in classes]]
    truth = ds.dataset(Path(truth_dir) / "messages", format="parquet", partitioning="hive").to_table(columns=cols).to_pandas()
    aligned = pd.DataFrame({"message_id": message_ids.to_numpy()}).merge(truth, on="message_id", how="left")
    if aligned[cols[1:]].isna().any().any():
        raise KeyError("some messages have no truth record (was the lake written by the simulator?)")
    p = aligned[cols[1:]].to_numpy(dtype=float)
    return p / p.sum(axis=1, keepdims=True)
