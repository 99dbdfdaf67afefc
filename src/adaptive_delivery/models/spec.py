"""The model spec contract: everything generic (training pipeline, DAG factory, serving runtimes,
manifests) is driven by these declarations, so adding a model touches one module and one test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Schedule(StrEnum):
    """Retraining cadence (spec §2.1)."""

    CONTINUOUS = "continuous"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    ON_DEMAND = "on_demand"

    @property
    def cron(self) -> str | None:
        """The Airflow schedule for this cadence ('continuous' retrains hourly on fresh data)."""
        return {"continuous": "@hourly", "hourly": "@hourly", "daily": "@daily", "weekly": "@weekly",
                "on_demand": None}[self.value]


@dataclass(frozen=True)
class Gate:
    """A promotion gate: the challenger may not be worse than the champion by more than `max_drop`
    (relative) on `metric`, and must reach `floor` in absolute terms."""

    metric: str
    max_drop: float = 0.02
    floor: float | None = None
    higher_is_better: bool = True


@dataclass(frozen=True)
class ModelSpec:
    model_id: str  # MDL-001 …
    name: str
    feature_service: str  # the Feast feature service it reads
    label: str  # what is predicted, and from which events
    classes: tuple[str, ...]
    primary_metric: str
    metrics: tuple[str, ...]
    gates: tuple[Gate, ...]
    schedule: Schedule
    serving_signature: dict[str, str]  # output name -> description
    needs_gpu: bool = False
    holdout_days: int = 7
    min_training_rows: int = 1_000
    build_dataset: Callable | None = field(default=None, compare=False, repr=False)
    train: Callable | None = field(default=None, compare=False, repr=False)

    @property
    def registered_name(self) -> str:
        """Name in the MLflow model registry."""
        return f"{self.model_id.lower()}-{self.name.lower().replace(' ', '-')}"


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.model_id in _REGISTRY:
        raise ValueError(f"{spec.model_id} is registered twice")
    _REGISTRY[spec.model_id] = spec
    return spec


def get(model_id: str) -> ModelSpec:
    _load_all()
    try:
        return _REGISTRY[model_id.upper()]
    except KeyError as exc:
        raise KeyError(f"unknown model {model_id!r}; known: {sorted(_REGISTRY)}") from exc


def all_specs() -> list[ModelSpec]:
    _load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _load_all() -> None:
    """Import every model module so its spec registers itself."""
    from adaptive_delivery.models import deliverability  # noqa: F401
