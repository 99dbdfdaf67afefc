"""Where the marketing product's real data lives: `AD_MARKETING_DATA` (a folder laid out as the
shared data's `marketing/`: `hillstrom/`, `open-bandit/`), else the shared data beside the checkout.
Nothing is downloaded at run time."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "AD_MARKETING_DATA"


def marketing_data(part: str) -> Path:
    """The folder of one data set (`hillstrom`, `open-bandit`); FileNotFoundError names the setting."""
    if os.environ.get(DATA_ENV):
        root = Path(os.environ[DATA_ENV])
    else:
        repo = Path(__file__).resolve().parents[3]
        root = repo.parent / "shared" / "data" / "marketing"
    folder = root / part
    if not folder.is_dir():
        raise FileNotFoundError(f"no marketing data at {folder}: set {DATA_ENV} to a folder holding {part}/")
    return folder
