"""Reading a simulated world's truth beside its lake: the columns only the twin knows, aligned to the
messages being judged. Light on purpose (pyarrow and pandas): a model's own referee imports it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds


def truth_columns(truth_dir: str | Path, message_ids: pd.Series, columns: list[str]) -> pd.DataFrame:
    """These columns of the simulator's message truth for these messages (rows in the given order),
    read in one pass; raises KeyError where a column or a message has no truth."""
    dataset = ds.dataset(Path(truth_dir) / "messages", format="parquet", partitioning="hive")
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise KeyError(f"the world's truth has no {missing} (written by an older simulator: simulate it again)")
    truth = dataset.to_table(columns=["message_id", *columns]).to_pandas()
    aligned = pd.DataFrame({"message_id": message_ids.to_numpy()}).merge(truth, on="message_id", how="left")
    if aligned[columns].isna().any().any():
        raise KeyError("some messages have no truth record (was the lake written by the simulator?)")
    return aligned
