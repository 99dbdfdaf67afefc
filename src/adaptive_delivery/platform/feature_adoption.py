"""Which discovered features a person approved for a model, and which they turned down (spec §9.1:
a data scientist reviews the suggestions and approves or rejects them).

The decisions live in `adopted_features.json` beside the Feast definitions, so one reviewed file
changes both sides of a model at once: the feature service fetches an adopted feature (the
definitions read the file) and the model's training set includes it (the model reads it here).
A model trained before an adoption keeps serving on the columns it was trained on.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

FILE_NAME = "adopted_features.json"
KINDS = ("numeric", "categorical")


class AdoptionError(ValueError):
    """A decision that cannot be recorded (unknown kind, decided twice, no reviewer)."""


@dataclass(frozen=True)
class Decision:
    feature: str  # the column as the training frame names it (Feast's view__feature, or a request field)
    kind: str  # numeric | categorical
    by: str  # who decided
    at: str  # when (UTC, ISO 8601)
    note: str = ""
    trial: dict = field(default_factory=dict)  # the shadow trial the decision was taken on


def adoptions_path(repo: str | Path | None = None) -> Path:
    """The decisions file of a feature repo (default: the platform's, AD_FEATURE_REPO overrides)."""
    if repo is None:
        from adaptive_delivery.platform.feature_store import feature_repo_path

        repo = feature_repo_path()
    return Path(repo) / FILE_NAME


def _read(path: Path) -> dict[str, dict[str, list[dict]]]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise AdoptionError(f"{path}: expected an object of model ids, got {type(data).__name__}")
    return data


def decisions(model_id: str, repo: str | Path | None = None) -> dict[str, list[Decision]]:
    """The model's decisions: {"adopted": [...], "rejected": [...]}."""
    entry = _read(adoptions_path(repo)).get(model_id.upper(), {})
    return {side: [Decision(**d) for d in entry.get(side, [])] for side in ("adopted", "rejected")}


def adopted(model_id: str, repo: str | Path | None = None) -> dict[str, str]:
    """The adopted features of a model, in the order they were approved: column -> kind."""
    return {d.feature: d.kind for d in decisions(model_id, repo)["adopted"]}


def decide(model_id: str, feature: str, kind: str, adopt: bool, by: str, note: str = "",
           trial: dict | None = None, repo: str | Path | None = None, now: datetime | None = None) -> Decision:
    """Record a person's decision on a suggested feature; written atomically. An adopted feature
    may later be rejected (it leaves the model at its next training); a feature is never listed on
    both sides."""
    if kind not in KINDS:
        raise AdoptionError(f"kind must be one of {KINDS}, got {kind!r}")
    if not by.strip():
        raise AdoptionError("a decision names the person who took it (--by)")
    path = adoptions_path(repo)
    data = _read(path)
    entry = data.setdefault(model_id.upper(), {"adopted": [], "rejected": []})
    side, other = ("adopted", "rejected") if adopt else ("rejected", "adopted")
    if any(d["feature"] == feature for d in entry.get(side, [])):
        raise AdoptionError(f"{feature} is already {side} for {model_id.upper()}")
    entry[other] = [d for d in entry.get(other, []) if d["feature"] != feature]
    decision = Decision(feature, kind, by.strip(), (now or datetime.now(UTC)).isoformat(timespec="seconds"), note,
                        trial or {})
    entry.setdefault(side, []).append(asdict(decision))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return decision
