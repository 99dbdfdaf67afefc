"""Data-drift checks with Evidently: the same check gates training (train vs holdout) and serving
(reference window vs live window). It returns a readable verdict and writes Evidently's HTML report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# Share of checked columns that may drift before the data as a whole counts as drifted
# (Evidently's own default for its dataset-drift test).
DRIFT_SHARE = 0.5
# Rows per side: enough for the statistical tests, small enough to keep the report quick.
SAMPLE_ROWS = 5_000


@dataclass
class DriftResult:
    checked: list[str]
    drifted: dict[str, float] = field(default_factory=dict)  # column -> drift score
    share: float = 0.0
    drift_share: float = DRIFT_SHARE
    emptied: list[str] = field(default_factory=list)  # present in the reference, (almost) all missing now

    @property
    def dataset_drift(self) -> bool:
        return bool(self.checked) and self.share >= self.drift_share

    def failures(self, expected: bool = False) -> list[str]:
        """Gate failures in words (empty when the data did not drift as a whole). `expected`: the
        data is known to have moved (a monitoring alarm asked for this training), so drift as a
        whole is reported, not a failure; a feature that went missing still is."""
        out = []
        if self.emptied:
            out.append(f"features went missing: {', '.join(self.emptied[:5])} are empty in the current data "
                       "but filled in the reference (a broken feature pipeline?)")
        if self.dataset_drift and not expected:
            top = ", ".join(sorted(self.drifted, key=lambda c: -self.drifted[c])[:5])
            out.append(f"data drift: {len(self.drifted)} of {len(self.checked)} features drifted "
                       f"({self.share:.0%} >= {self.drift_share:.0%}), e.g. {top}")
        return out

    def summary(self) -> str:
        return (f"{len(self.drifted)} of {len(self.checked)} features drifted ({self.share:.0%}); "
                f"dataset drift: {'yes' if self.dataset_drift else 'no'}")


# A column counts as emptied when at most this share of current rows has a value while at least
# half of the reference rows had one.
EMPTIED_FILLED_SHARE = 0.01


def emptied_columns(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]) -> list[str]:
    """Columns filled in the reference but (almost) all missing in the current data."""
    return [c for c in columns if c in current.columns and reference[c].notna().mean() >= 0.5
            and current[c].notna().mean() <= EMPTIED_FILLED_SHARE]


def drift_columns(frame: pd.DataFrame, columns: list[str], exempt: tuple[str, ...] = ()) -> list[str]:
    """Numeric columns worth checking: present, not exempt, and not constant."""
    out = []
    for c in columns:
        if c in exempt or c not in frame.columns or not pd.api.types.is_numeric_dtype(frame[c]):
            continue
        if frame[c].nunique(dropna=True) > 1:
            out.append(c)
    return out


def check_drift(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], html_path: str | Path | None = None,
                drift_share: float = DRIFT_SHARE, sample_rows: int = SAMPLE_ROWS, seed: int = 0) -> DriftResult:
    """Evidently's DataDriftPreset on `columns` (reference = training, current = holdout or live)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    emptied = emptied_columns(reference, current, columns)
    columns = [c for c in columns if c not in emptied]  # an all-missing column cannot be tested, it is reported
    if not columns:
        return DriftResult(checked=[], drift_share=drift_share, emptied=emptied)
    ref = _sample(reference[columns], sample_rows, seed).astype("float64")
    cur = _sample(current[columns], sample_rows, seed).astype("float64")
    snapshot = Report([DataDriftPreset(columns=columns, drift_share=drift_share)]).run(current_data=cur, reference_data=ref)
    if html_path is not None:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    drifted = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        column, threshold = config.get("column"), config.get("threshold")
        if column in columns and threshold is not None and metric.get("value") is not None:
            score = float(metric["value"])
            # p-value tests drift when the score falls below the threshold; distances when above
            is_p_value = str(config.get("method", "")).lower().find("p_value") >= 0
            if (score < threshold) if is_p_value else (score >= threshold):
                drifted[column] = score
    return DriftResult(checked=list(columns), drifted=drifted, share=len(drifted) / len(columns), drift_share=drift_share,
                       emptied=emptied)


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.sample(n, random_state=seed) if len(frame) > n else frame
