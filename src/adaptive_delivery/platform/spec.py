"""The model spec contract: everything generic (training pipeline, DAG factory, serving runtimes,
manifests) is driven by these declarations, so adding a model touches one module and one test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from adaptive_delivery.platform import observability

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from adaptive_delivery.platform.feature_discovery import Discovery
    from adaptive_delivery.platform.training.dataset import Dataset


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
class TrainingProfile:
    """How much effort a training run spends: Optuna trials, CV folds, and row caps that keep a
    laptop run bounded (the cluster uses `full`)."""

    name: str
    trials: int
    cv_folds: int
    max_tuning_rows: int | None
    max_training_rows: int | None
    epochs_scale: float = 1.0  # multiplies a network's epoch count


PROFILES = {
    # tests and notebooks on tiny worlds: every step runs for real, with the least effort that still trains
    "smoke": TrainingProfile("smoke", trials=1, cv_folds=2, max_tuning_rows=4_000, max_training_rows=100_000,
                             epochs_scale=0.25),
    "quick": TrainingProfile("quick", trials=4, cv_folds=3, max_tuning_rows=30_000, max_training_rows=1_000_000, epochs_scale=0.5),
    "full": TrainingProfile("full", trials=30, cv_folds=4, max_tuning_rows=200_000, max_training_rows=None),
}


def profile(name: str) -> TrainingProfile:
    try:
        return PROFILES[name]
    except KeyError as exc:
        raise KeyError(f"unknown training profile {name!r}; known: {sorted(PROFILES)}") from exc


def lazy(target: str) -> Callable[..., Any]:
    """A callable that imports `module:attribute` only when first called: a spec names its
    training, evaluation and serving entry points without importing them (a DAG parses every spec)."""
    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise ValueError(f"{target!r} is not 'module:attribute'")

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), attribute)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attribute
    call.__doc__ = f"{target}, imported when called."
    return call


def export_as(name: str) -> Callable[[Path, Path], Path]:
    """A `PolicyTrainer.export` for a model saved as one file: the trained file (wherever the
    pipeline kept it) copied into the folder as `name`, the name its runtime looks for."""

    def export(trained: Path, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(trained.read_bytes())
        return path

    export.__name__ = export.__qualname__ = f"export_as_{name}"
    return export


@dataclass(frozen=True)
class PolicyTrainer:
    """How a model trained outside the feature table (in the simulator, or on a labelled corpus)
    trains, evaluates and describes itself; a spec carries it.

    `evaluate` writes its tables and plots into the folder it gets and returns the registry
    metrics (the oracle's or the baseline's beside ours)."""

    train: Callable[[int, int, Path], Path]  # (budget, seed, out folder) -> trained file
    evaluate: Callable[[Path, Path, str], dict[str, float]]  # (trained, out folder, profile) -> metrics
    example: Callable[[], pd.DataFrame]  # a valid request for the registry's signature
    pyfunc: Callable[[], Any]  # an mlflow.pyfunc.PythonModel
    # the training budget per profile, in the trainer's own unit (a policy's environment steps,
    # an encoder's pre-training steps)
    timesteps: dict[str, int]
    # (trained file, a folder) -> the file registered and served, logged under `artifact`. None: a
    # PPO policy, whose actor is exported (`platform.rl.policy_export`).
    export: Callable[[Path, Path], Path] | None = None
    artifact: str = "actor"
    # Where the model can serve a rule as champion: (evaluation folder) -> (the best rule's settings,
    # its registry metrics on the same worlds). Registered as champion while no learned policy beats it.
    best_rule: Callable[[Path], tuple[dict[str, object], dict[str, float]]] | None = None
    # How its champion is checked on the deployment's own logs by the monitoring DAG: (the lake's
    # folder, the served file, window start, window end) -> `monitoring.logs.Observed`. None: its
    # health is judged by its rails, rollouts and evaluations only.
    observe: Callable[[Path, Path, datetime, datetime], Any] | None = None


@dataclass(frozen=True)
class ScoredFeatures:
    """Scores a model's champion writes into the feature store for other models to read (spec
    §2.1: MDL-004's reputation is one of MDL-001's features). Each table is keyed by one entity's
    join key and stamped like every feature table (a row at `event_timestamp` reads only what came
    before it); the features job writes them after each Spark build, and the feature repo declares
    one view per table (`<table>_features`)."""

    # table -> (the entity's join key, feature -> kind as in the feature definitions)
    tables: Mapping[str, tuple[str, Mapping[str, str]]]
    # (the events lake's folder, the champion's served file) -> table -> rows (key, event_timestamp, features)
    score: Callable[[Path, Path], Mapping[str, pd.DataFrame]] = field(compare=False, repr=False)
    ttl: timedelta = timedelta(hours=1)  # how long a row answers for (its table's cadence)


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
    # "pipeline": the supervised KFP pipeline trains it from a feature table; "simulator": a
    # control policy learned in the world; "corpus": learned from a labelled corpus (MDL-007);
    # "twin_logs": learned from the logs the twin's worlds emit and judged in fresh worlds by its own
    # evaluation (MKT-002). The last three run the train -> evaluate -> register + gate pipeline of
    # their `policy_trainer`.
    trainer: str = "pipeline"
    # The MLServer implementation that serves it: a dotted path to an `mlserver.MLModel` in the
    # model's folder (its runtime.py); None: not served over the network.
    runtime: str | None = None
    # For trainer "simulator": how it trains, evaluates and describes itself (training.policies).
    policy_trainer: PolicyTrainer | None = field(default=None, compare=False, repr=False)
    holdout_days: int = 7
    # `model evaluate`: how many days each fresh world runs and how many validation worlds judge it
    # unless told otherwise (the protocol's validation seeds, first ones first; >= 5 for a figure)
    evaluation_days: float = 21.0
    evaluation_worlds: int = 5
    min_training_rows: int = 1_000
    # A raw column whose values behave as separate populations (MDL-001: the mailbox provider):
    # monitoring judges prediction vs actual per value, and a retraining may recalibrate per value.
    segment: str | None = None
    # Columns whose change over time is expected (ages, calendars): left out of the drift gate.
    drift_exempt: tuple[str, ...] = ()
    # Share of checked features that may drift between training and holdout before the gate stops.
    drift_share: float = 0.5
    # Whether population drift past the act level (PSI >= 0.25 with KS agreeing, or biased
    # predictions: monitoring.stability) retrains it, or only alerts: a model whose inputs move
    # day to day by nature (MDL-001's recent-window features) retrains on performance instead.
    drift_retrains: bool = False
    # The training entry points; the generic pipeline calls only these.
    labels: Callable[[Path], pd.DataFrame] | None = field(default=None, compare=False, repr=False)
    to_dataset: Callable[..., Dataset] | None = field(default=None, compare=False, repr=False)
    search_space: Callable[[Any, TrainingProfile], dict] | None = field(default=None, compare=False, repr=False)
    # Parameters known to work (the model's defaults), tried first: a short search on a sample
    # then replaces them only with something its cross-validation scores higher.
    baseline_params: Callable[[], dict] | None = field(default=None, compare=False, repr=False)
    fit: Callable[[Dataset, dict, TrainingProfile], Any] | None = field(default=None, compare=False, repr=False)
    # Label codes past the last class that say "one of these classes, not which" (MDL-001: accepted,
    # placement unseen): training may use them, metrics weigh the seen members for the group.
    partial_labels: Mapping[int, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)
    # Classes so rare that an early cross-validation fold's past may hold none (MDL-006: complaints);
    # the model must then predict their base rate, and the tuning folds need only the others.
    rare_classes: tuple[str, ...] = ()
    # Every input a caller sends the served model, and where a real sender reads it (a source of the
    # platform's observability catalogue, `platform.observability`; `register` refuses any other).
    served_inputs: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # What its headline must show on the sealed worlds (None: no such target): the primary metric
    # at most this far below the oracle's, and the expected calibration error at most this.
    max_gap_to_oracle: float | None = None
    max_ece: float | None = None
    # Turns predicted probabilities into the action the caller takes, given the rows they were
    # predicted for (a policy may read a feature of the row); None: probabilities only.
    decide: Callable[[np.ndarray, pd.DataFrame], np.ndarray] | None = field(default=None, compare=False, repr=False)
    # Metrics of its own beside the classification report's, from (labels, class probabilities),
    # computed the same way for the model, the oracles and the baseline (MDL-005: the AUC and
    # calibration of P(open) and P(click), each a sum of its classes).
    report: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = field(default=None, compare=False, repr=False)
    # The best rule an operator would run, as class probabilities for the holdout's rows (read from
    # their features): the evaluation logs its metrics beside the model's as `baseline_*`.
    baseline: Callable[[pd.DataFrame], np.ndarray] | None = field(default=None, compare=False, repr=False)
    # The referee for a simulated world: (truth folder, holdout rows) -> (each row's true label, the
    # records oracle's and the clairvoyant's class probabilities). None: the message truth tables'
    # `true_class`, `seen_p_*` and `p_*` columns (MDL-001's classes).
    truth: Callable[[Path, pd.DataFrame], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = field(
        default=None, compare=False, repr=False)
    # What the model is for, judged by a simulated world's truth where row metrics cannot see it:
    # (truth folder, the trained bundle, holdout rows) -> metrics named as the evaluation logs them
    # (the model's bare, `baseline_*`, `oracle_*`), logged beside the report's. MDL-002: the opens a
    # campaign scheduled by it wins, against the best rule's schedule and the oracle's.
    judge: Callable[[Path, Any, pd.DataFrame], dict[str, float]] | None = field(default=None, compare=False,
                                                                                repr=False)
    # Feature discovery (spec §9.1): the fields it could read and how its outcomes are cut; its
    # `to_dataset` then takes `extra` (column -> kind) for a shadow trial. None: it takes no part.
    discovery: Discovery | None = field(default=None, compare=False, repr=False)
    # Scores its champion publishes as features for other models (None: none).
    scored_features: ScoredFeatures | None = field(default=None, compare=False, repr=False)

    @property
    def trains_on_features(self) -> bool:
        """Trained by the supervised pipeline from the feature table (else by its `policy_trainer`)."""
        return self.trainer == "pipeline"

    @property
    def monitored(self) -> bool:
        """Checked daily by the monitoring DAG: on the feature table, or on the logs it can observe."""
        return self.trains_on_features or (self.policy_trainer is not None and self.policy_trainer.observe is not None)

    @property
    def registered_name(self) -> str:
        """Name in the MLflow model registry."""
        return f"{self.model_id.lower()}-{self.name.lower().replace(' ', '-')}"


# Where a spec's pipeline runs without a cluster (`pipelines.training.run_here`): KFP's local runner,
# a Python process per step as a cluster runs them, or the same component functions called in the
# calling process, artifacts laid out as KFP's. Here, not beside the runners: DAG parsing reads it.
PIPELINE_RUNNERS = ("kfp-local", "in-process")

# Models register through the `adaptive_delivery.models` entry-point group (pyproject.toml): one
# line per model, `"MDL-001" = "package.module:SPEC"`. The platform never imports a product; it
# loads whatever the installed distributions declare.
ENTRY_POINT_GROUP = "adaptive_delivery.models"
_REGISTRY: dict[str, ModelSpec] = {}
_loaded = False


def register(spec: ModelSpec) -> ModelSpec:
    """Add a spec by hand (tests, notebooks); declared models come from the entry points."""
    if spec.model_id in _REGISTRY and _REGISTRY[spec.model_id] is not spec:
        raise ValueError(f"{spec.model_id} is registered twice")
    unknown = observability.unknown_sources(spec.served_inputs)
    if unknown:  # an input no sender can say where it reads is refused before anything serves it
        raise ValueError(f"{spec.model_id} serves inputs from sources the platform's catalogue does not list "
                         f"(platform.observability.SOURCES): {', '.join(unknown)}")
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


def scored_tables() -> dict[str, tuple[str, ScoredFeatures]]:
    """Every table a model's scores are published in: table -> (the model, its declaration)."""
    out: dict[str, tuple[str, ScoredFeatures]] = {}
    for spec in all_specs():
        for table in (spec.scored_features.tables if spec.scored_features else {}):
            if table in out:
                raise ValueError(f"{spec.model_id} and {out[table][0]} both publish the feature table {table!r}")
            out[table] = (spec.model_id, spec.scored_features)
    return out


def _load_all() -> None:
    """Load every declared spec once; a declaration whose id disagrees with its spec is an error."""
    global _loaded
    if _loaded:
        return
    from importlib.metadata import entry_points

    declared = entry_points(group=ENTRY_POINT_GROUP)
    if not declared:
        raise RuntimeError(f"no models declared in the {ENTRY_POINT_GROUP!r} entry points: install the "
                           "package (pip install -e .) so its pyproject.toml declarations are visible")
    for ep in declared:
        spec = ep.load()
        if not isinstance(spec, ModelSpec) or spec.model_id != ep.name:
            raise TypeError(f"entry point {ep.name} = {ep.value} must name the ModelSpec of {ep.name}")
        register(spec)
    _loaded = True
