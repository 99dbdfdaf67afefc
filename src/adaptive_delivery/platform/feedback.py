"""Feedback: every logged prediction attributed to what became of its message (spec §7.1).

The prediction log (`platform.decision_log`: one JSON line per decision a caller received, with the
message id, the model version and a probability per class) is joined by message id with each
message's outcome class, as the product's labels say it from the events that came in. A message
whose outcome has not arrived yet keeps label -1 and is left out of the quality figures until it
does: attribution is a pure function of the log and the events, so running it again after late
outcomes arrive counts them, and running it twice changes nothing. Quality per model version uses
the same report as the offline evaluation (`training.evaluation.classification_report`), so a
model judged on real outcomes is judged as it was before it was registered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from adaptive_delivery.platform.streams import Entry
from adaptive_delivery.platform.training.evaluation import (
    Partial,
    classification_report,
    label_weights,
    macro_roc_auc,
)

if TYPE_CHECKING:
    from adaptive_delivery.platform.spec import ModelSpec

MESSAGE_ID = "message_id"
VERSION = "model_version"
PENDING = -1  # no outcome yet


@dataclass(frozen=True)
class PredictionLog:
    """The decisions read from a log, and how many of its lines were not decisions."""

    decisions: pd.DataFrame
    unreadable: int


def read_prediction_log(path: Path, classes: tuple[str, ...]) -> PredictionLog:
    """One row per logged decision with its message id, model version, class probabilities, time
    and action (None where the line has none); a line that is not such a decision (cut short by a
    crash, written by something else) is counted, never guessed at. A message decided twice by a
    version keeps that version's last decision (the one acted on); a message two versions decided
    (a shadow candidate mirrored beside the control) keeps both. `path` is the log file, or a
    folder the prediction stream was consumed into (`PredictionSink`)."""
    wanted = [MESSAGE_ID, VERSION, *(f"p_{c}" for c in classes)]
    rows, unreadable = [], 0
    lines, refused = _streamed_lines(path) if path.is_dir() else (_file_lines(path), 0)
    for line in lines:
        try:
            rec = json.loads(line)
            row = {k: rec[k] for k in wanted}
            if not all(isinstance(row[f"p_{c}"], int | float) for c in classes):
                raise TypeError("a probability is not a number")
        except (json.JSONDecodeError, KeyError, TypeError):
            unreadable += 1
            continue
        row["ts"], row["action"] = rec.get("ts"), rec.get("action")
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*wanted, "ts", "action"])
    return PredictionLog(frame.drop_duplicates([MESSAGE_ID, VERSION], keep="last").reset_index(drop=True),
                         unreadable + refused)


def _file_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


# ---- the prediction log through a stream -------------------------------------------------------
PREDICTION_KIND = "prediction"
PREDICTION_STREAM = "ad:predictions"
QUARANTINE = "quarantine.jsonl"


def prediction_entries(path: Path, start_line: int = 0) -> Iterator[tuple[str, dict[str, object]]]:
    """The log's complete lines from line `start_line` (0-based) on, as stream entries carrying each
    line's text and number; a last line still being written (no newline yet) waits for the next call."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh):
            if number < start_line:
                continue
            if not raw.endswith(b"\n"):
                return
            yield PREDICTION_KIND, {"number": number, "line": raw[:-1].decode("utf-8", "replace")}


def _entry_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class PredictionSink:
    """The stream's decisions into a folder (`platform.streams.Sink`): each batch's lines as
    FOLDER/part-<first entry>-<last entry>.parquet, written atomically before the batch is
    acknowledged; an entry that is not a logged decision (not JSON, no message id or model version)
    goes to FOLDER/quarantine.jsonl with why. A batch written twice (a consumer died before its
    acknowledgement) is read once: `read_prediction_log` keeps each entry id once."""

    folder: Path

    def __call__(self, entries: Sequence[Entry]) -> dict[str, int]:
        kept: list[tuple[str, str]] = []
        refused: list[str] = []
        for entry in entries:
            reason, line = _decision_line(entry)
            if reason is None:
                kept.append((entry.entry_id, line))
            else:
                refused.append(json.dumps({"entry_id": entry.entry_id, "reason": reason, "raw": line}) + "\n")
        self.folder.mkdir(parents=True, exist_ok=True)
        if refused:
            with (self.folder / QUARANTINE).open("a") as fh:
                fh.write("".join(refused))
        if kept:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({"entry_id": [e for e, _ in kept], "line": [line for _, line in kept]})
            path = self.folder / f"part-{kept[0][0]}-{kept[-1][0]}.parquet"
            tmp = path.with_suffix(".tmp")
            pq.write_table(table, tmp)
            tmp.replace(path)
        return {"in": len(entries), "accepted": len(kept), "quarantined": len(refused)}


def _decision_line(entry: Entry) -> tuple[str | None, str]:
    """(why it is refused or None, the logged line)."""
    try:
        event = json.loads(entry.event)
        line = str(event["line"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return "not a prediction-log entry", entry.event.decode("utf-8", "replace")[:2_000]
    if entry.kind != PREDICTION_KIND:
        return f"unexpected kind {entry.kind[:40]!r}", line
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return "the logged line is not JSON", line
    if not isinstance(rec, dict) or not isinstance(rec.get(MESSAGE_ID), str) or VERSION not in rec:
        return "the logged line has no message_id or model_version", line
    return None, line


def _streamed_lines(folder: Path) -> tuple[list[str], int]:
    """The decision lines of a consumed prediction stream in stream order, each entry once; and how
    many entries were quarantined."""
    import pyarrow.parquet as pq

    seen: dict[str, str] = {}
    for part in folder.glob("part-*.parquet"):
        table = pq.read_table(part)
        seen.update(zip(table.column("entry_id").to_pylist(), table.column("line").to_pylist(), strict=True))
    quarantine = folder / QUARANTINE
    refused = len(quarantine.read_text().splitlines()) if quarantine.exists() else 0
    return [seen[e] for e in sorted(seen, key=_entry_order)], refused


def attribute(decisions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Each decision with its message's `label` (PENDING where no outcome has come) and whatever
    else `labels` carries per message (its provider)."""
    joined = decisions.merge(labels, on=MESSAGE_ID, how="left")
    joined["label"] = joined["label"].fillna(PENDING).astype(int)
    return joined


def quality(attributed: pd.DataFrame, classes: tuple[str, ...], partial: Partial | None = None,
            by: str | None = "provider") -> dict[str, dict[str, object]]:
    """Per model version: the offline evaluation's report over the decisions whose outcome came,
    how many are still pending, and the macro ROC-AUC per `by` group."""
    out: dict[str, dict[str, object]] = {}
    columns = [f"p_{c}" for c in classes]
    for version, rows in attributed.groupby(VERSION, sort=True):
        known = rows[rows["label"] != PENDING]
        report: dict[str, object] = {"decisions": len(rows), "attributed": len(known), "pending": len(rows) - len(known)}
        if len(known):
            report.update(classification_report(known["label"].to_numpy(), known[columns].to_numpy(dtype=float),
                                                classes, partial))
            if by is not None and by in known:
                report[f"macro_roc_auc_by_{by}"] = _by_group(known, by, columns, len(classes), partial)
        out[str(version)] = report
    return out


def _by_group(known: pd.DataFrame, by: str, columns: list[str], n_classes: int,
              partial: Partial | None) -> Mapping[str, float]:
    groups = {}
    for name, rows in known.groupby(by, sort=True):
        keep, weight = label_weights(rows["label"].to_numpy(), n_classes, partial)
        y, p, w = rows["label"].to_numpy()[keep], rows[columns].to_numpy(dtype=float)[keep], weight[keep]
        groups[str(name)] = macro_roc_auc(y, p, None if np.all(w == 1.0) else w)
    return groups


def report(spec: ModelSpec, prediction_log: Path, lake_root: Path) -> dict[str, object]:
    """A model's logged decisions on the outcomes in a lake, from its spec alone: its classes, the
    labels its training reads from the lake (`ModelSpec.labels`, so the figures are the offline
    evaluation's), its partial labels, and per `ModelSpec.segment` (MDL-001: the provider)."""
    if spec.labels is None or not spec.classes:
        raise ValueError(f"{spec.model_id} has no labels from events (spec.labels and classes): nothing to attribute")
    log = read_prediction_log(prediction_log, spec.classes)
    labels = spec.labels(lake_root)
    keep = [MESSAGE_ID, "label", *([spec.segment] if spec.segment in labels else [])]
    attributed = attribute(log.decisions, labels[keep])
    return {"model": spec.model_id, "unreadable_log_lines": log.unreadable,
            "versions": quality(attributed, spec.classes, spec.partial_labels, by=spec.segment)}
