"""The steps every training run takes, as plain functions over files (the KFP components wrap
these one to one, and the tests call them directly). Generic over model specs: a step only calls
the spec's entry points (labels, to_dataset, search_space, fit, decide).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import ModelSpec, TrainingProfile
from adaptive_delivery.platform.training.dataset import (
    Dataset,
    TrainingDataError,
    check_training_set,
    classes_present,
    time_split,
)
from adaptive_delivery.platform.training.evaluation import label_weights, spec_report
from adaptive_delivery.platform.training.tracking import Tracking
from adaptive_delivery.platform.training.truth import truth_columns

LABEL = "label"


# ---- load ----------------------------------------------------------------------------------------
def training_frame(spec: ModelSpec, labels: pd.DataFrame, features_dir: str | Path, feast_home: str | Path,
                   project: str = "adaptive_delivery") -> pd.DataFrame:
    """Labels joined point-in-time with the spec's feature service (full feature names)."""
    fs = st.open_store(feast_home, features_dir, project=project)
    st.apply(fs)
    service = fs.get_feature_service(spec.feature_service)
    frame = st.historical(fs, labels, service)
    return frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def split_training_set(spec: ModelSpec, frame: pd.DataFrame, holdout_days: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the joined frame and split it by time (the last `holdout_days`, 0: the spec's);
    raises TrainingDataError with the reason."""
    if LABEL not in frame.columns:
        raise TrainingDataError(f"training frame has no {LABEL!r} column (columns: {sorted(frame.columns)[:8]}…)")
    if len(frame) == 0:
        raise TrainingDataError("training set is empty: no labelled events in the lake")
    holdout = time_split(frame, holdout_days or spec.holdout_days)
    data = spec.to_dataset(frame)
    check_training_set(data, spec.classes, spec.min_training_rows, holdout, spec.partial_labels, spec.rare_classes)
    return frame[~holdout].reset_index(drop=True), frame[holdout].reset_index(drop=True)


def start_run(spec: ModelSpec, tracking: Tracking, profile: TrainingProfile, inputs: dict[str, str]) -> str:
    """The parent MLflow run of one pipeline run."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    tags = {"model_id": spec.model_id, "profile": profile.name, "registered_name": spec.registered_name}
    return tracking.start_parent(f"train {spec.model_id} {stamp}", tags,
                                 {"model_id": spec.model_id, "profile": profile.name, "trials": profile.trials,
                                  "cv_folds": profile.cv_folds, "holdout_days": spec.holdout_days, **inputs})


def window_overrides(holdout_days: int, recalibration_days: int, expected_drift: str = "") -> dict[str, str]:
    """The run parameters of a retraining that departs from the spec's split (a monitoring alarm's)."""
    out = {"expected_drift": expected_drift[:500]} if expected_drift else {}
    if holdout_days:
        out["holdout_days"] = str(holdout_days)
    if recalibration_days:
        out["recalibration_days"] = str(recalibration_days)
    return out


def load_step(spec: ModelSpec, tracking: Tracking, run_id: str, lake: str | Path, features: str | Path,
              feast_home: str | Path, train_out: str | Path, holdout_out: str | Path,
              holdout_days: int = 0) -> dict[str, object]:
    """Labels from the lake, features from Feast, checks, time split; writes both sides as Parquet."""
    import mlflow

    with tracking.step(run_id, "load"):
        labels = spec.labels(Path(lake))
        frame = training_frame(spec, labels, features, feast_home)
        train, holdout = split_training_set(spec, frame, holdout_days)
        for part, path in ((train, train_out), (holdout, holdout_out)):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            part.to_parquet(path, index=False)
        summary = {"rows_train": len(train), "rows_holdout": len(holdout),
                   "holdout_from": str(holdout["event_timestamp"].min()),
                   "train_from": str(train["event_timestamp"].min()), "train_until": str(train["event_timestamp"].max())}
        counts = {f"train_class_{label_name(spec, k)}": int(v) for k, v in train[LABEL].value_counts().items()}
        mlflow.log_params({k: summary[k] for k in ("holdout_from", "train_from", "train_until")})
        mlflow.log_metrics({"rows_train": len(train), "rows_holdout": len(holdout), **counts})
        tracking.log_to(run_id, params={"rows_train": len(train), "rows_holdout": len(holdout),
                                        **{k: summary[k] for k in ("holdout_from", "train_from", "train_until")}})
    return summary


# ---- drift ---------------------------------------------------------------------------------------
def drift_step(spec: ModelSpec, tracking: Tracking, run_id: str, train_path: str | Path, holdout_path: str | Path,
               html_out: str | Path, expected_drift: str = "") -> list[str]:
    """Evidently drift between training and holdout features; returns gate failures (may be empty).
    `expected_drift` names why the holdout is known to differ (a monitoring alarm): the drift is then
    reported and tagged, and only a feature that went missing stops the gate."""
    import mlflow

    from adaptive_delivery.platform.monitoring.drift import check_drift, drift_columns

    with tracking.step(run_id, "drift"):
        train, holdout = pd.read_parquet(train_path), pd.read_parquet(holdout_path)
        data = spec.to_dataset(train)
        columns = drift_columns(data.X, list(data.X.columns), spec.drift_exempt)
        result = check_drift(data.X, spec.to_dataset(holdout, data.categories).X, columns, html_out,
                             drift_share=spec.drift_share)
        mlflow.log_metrics({"drifted_features": len(result.drifted), "drift_share": result.share})
        mlflow.log_dict({"checked": result.checked, "drifted": result.drifted, "emptied": result.emptied,
                         "gate_share": result.drift_share}, "drift.json")
        tracking.log_file(None, html_out, "reports/drift.html")
        tracking.log_to(run_id, metrics={"drift_share": result.share})
        tracking.log_file(run_id, html_out, "reports/drift.html")
        client = tracking.client()
        client.set_tag(run_id, "drift", result.summary())
        if expected_drift:
            client.set_tag(run_id, "drift_expected", expected_drift[:4900])
    return result.failures(expected=bool(expected_drift))


def label_name(spec: ModelSpec, code: int) -> str:
    """A label code's name: its class, or for a partial label the classes it could be."""
    if code < len(spec.classes):
        return spec.classes[code]
    return "_or_".join(spec.classes[k] for k in spec.partial_labels[code])


# ---- tune ----------------------------------------------------------------------------------------
def _cap_rows(frame: pd.DataFrame, limit: int | None, seed: int = 0) -> pd.DataFrame:
    """At most `limit` rows, drawn at random but kept in time order (time-series CV needs it)."""
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(limit, random_state=seed).sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def cv_fold_scores(spec: ModelSpec, data: Dataset, params: dict, profile: TrainingProfile) -> list[float]:
    """The primary metric on each time-series fold: train on the past, score on the next block
    (folds whose past lacks a class are left out, the same ones for every parameter set)."""
    from sklearn.model_selection import TimeSeriesSplit

    scores = []
    needed = {i for i, c in enumerate(spec.classes) if c not in spec.rare_classes}
    for train_idx, valid_idx in TimeSeriesSplit(n_splits=profile.cv_folds).split(data.X):
        train = data.subset(np.isin(np.arange(len(data)), train_idx))
        if not needed <= classes_present(train.y, len(spec.classes), spec.partial_labels):
            continue  # an early fold without every (common) class cannot train a multi-class model
        model = spec.fit(train, params, profile)
        valid = data.subset(np.isin(np.arange(len(data)), valid_idx))
        proba = model.predict_proba(valid.X)
        scores.append(spec_report(spec, valid.y, proba)[spec.primary_metric])
    if not scores:
        raise TrainingDataError("no cross-validation fold holds every class"
                                + (f" but {', '.join(spec.rare_classes)}" if spec.rare_classes else "")
                                + "; the training window is too short")
    return [float(s) for s in scores]


def cv_score(spec: ModelSpec, data: Dataset, params: dict, profile: TrainingProfile) -> float:
    """Mean primary metric over the time-series folds (`cv_fold_scores`)."""
    return float(np.nanmean(cv_fold_scores(spec, data, params, profile)))


def beats_on_every_fold(challenger: list[float], baseline: list[float]) -> bool:
    """Whether a trial's fold scores are higher than the baseline's on every fold both scored: on a
    few folds of a sample, a higher mean alone is often the luck of one fold, and the defaults it
    would replace were chosen on validation worlds."""
    pairs = [(c, b) for c, b in zip(challenger, baseline, strict=False) if not (np.isnan(c) or np.isnan(b))]
    return bool(pairs) and len(challenger) == len(baseline) and all(c > b for c, b in pairs)


def tune_step(spec: ModelSpec, tracking: Tracking, run_id: str, profile: TrainingProfile, train_path: str | Path,
              params_out: str | Path, seed: int = 0) -> dict:
    """Optuna (TPE) over the spec's search space, starting from the spec's baseline parameters when
    it declares them (a draw replaces them only if it beats them on every fold); every trial is an
    MLflow run under this step."""
    import mlflow
    import optuna

    with tracking.step(run_id, "tune"):
        data = spec.to_dataset(_cap_rows(pd.read_parquet(train_path), profile.max_tuning_rows, seed))
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", study_name=f"{spec.model_id}-{run_id[:8]}",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        baseline = spec.baseline_params is not None
        if baseline:  # one trial more than the profile's draws, so the search itself is not cut short
            study.enqueue_trial(spec.baseline_params(), skip_if_exists=True)

        def objective(trial) -> float:
            folds = cv_fold_scores(spec, data, spec.search_space(trial, profile), profile)
            trial.set_user_attr("folds", folds)
            return float(np.nanmean(folds))

        study.optimize(objective, n_trials=profile.trials + int(baseline),
                       callbacks=[_trial_logger(f"cv_{spec.primary_metric}", tracking.experiment_id())])
        chosen = study.best_trial
        if baseline and chosen.number != 0:  # the baseline is trial 0; a draw replaces it only clearly
            first = study.trials[0]
            if not beats_on_every_fold(chosen.user_attrs["folds"], first.user_attrs["folds"]):
                chosen = first
        best = dict(chosen.params)
        mlflow.log_params({f"best_{k}": v for k, v in best.items()})
        mlflow.log_metrics({f"best_cv_{spec.primary_metric}": chosen.value, "trials": len(study.trials),
                            "tuning_rows": len(data), "kept_baseline": float(baseline and chosen.number == 0)})
        tracking.log_to(run_id, params=best, metrics={f"cv_{spec.primary_metric}": chosen.value})
        Path(params_out).parent.mkdir(parents=True, exist_ok=True)
        Path(params_out).write_text(json.dumps(best, indent=2))
    return best


def _trial_logger(metric: str, experiment_id: str):
    """An Optuna callback that records each finished trial as a nested MLflow run (optuna-integration's
    MLflowCallback is deprecated and leaving for OptunaHub)."""
    import mlflow

    def log(study, trial) -> None:
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, experiment_id=experiment_id,
                              tags={"optuna.study": study.study_name, "optuna.trial": str(trial.number),
                                    "optuna.state": trial.state.name}):
            mlflow.log_params(trial.params)
            if trial.value is not None:
                mlflow.log_metric(metric, trial.value)
            if trial.duration is not None:
                mlflow.log_metric("trial_seconds", trial.duration.total_seconds())

    return log


# ---- train ---------------------------------------------------------------------------------------
def recalibration_split(spec: ModelSpec, frame: pd.DataFrame, days: int) -> np.ndarray:
    """True for the rows of the last `days` days of the training window, which fit the per-segment
    offsets instead of the model (none when `days` is 0 or the spec has no segment)."""
    if not days or not spec.segment:
        return np.zeros(len(frame), dtype=bool)
    if spec.segment not in frame.columns:
        raise TrainingDataError(f"recalibration needs the segment column {spec.segment!r} in the training frame")
    newest = time_split(frame, days)
    if newest.all() or len(frame) - int(newest.sum()) < spec.min_training_rows:
        raise TrainingDataError(f"recalibrating on the last {days} day(s) leaves {len(frame) - int(newest.sum())} rows "
                                f"to fit the model on, need at least {spec.min_training_rows}")
    return newest


def train_step(spec: ModelSpec, tracking: Tracking, run_id: str, profile: TrainingProfile, train_path: str | Path,
               params_path: str | Path, model_out: str | Path, seed: int = 0, recalibration_days: int = 0) -> TrainedModel:
    """Fit the final model on the training window with the tuned parameters; with
    `recalibration_days`, fit it on the window before those days and the per-segment offsets on them."""
    import mlflow

    from adaptive_delivery.platform.training.recalibration import fit_segment_offsets

    with tracking.step(run_id, "train"):
        whole = pd.read_parquet(train_path)
        newest = recalibration_split(spec, whole, recalibration_days)
        frame = _cap_rows(whole[~newest].reset_index(drop=True), profile.max_training_rows, seed)
        params = json.loads(Path(params_path).read_text())
        data = spec.to_dataset(frame)
        model = spec.fit(data, params, profile)
        bundle = TrainedModel(model_id=spec.model_id, classes=spec.classes, features=list(data.X.columns),
                              categorical=list(data.categories), categories=data.categories, model=model, params=params,
                              trained_rows=len(data), trained_until=str(frame["event_timestamp"].max()))
        if newest.any():
            recent = whole[newest].reset_index(drop=True)
            bundle.segment = spec.segment
            bundle.offsets = fit_segment_offsets(recent[LABEL].to_numpy(dtype=int), bundle.predict_proba(recent),
                                                 recent[spec.segment].to_numpy(), len(spec.classes),
                                                 partial=spec.partial_labels)
            bundle.trained_until = str(recent["event_timestamp"].max())
            mlflow.log_metrics({"recalibration_rows": len(recent), "recalibrated_segments": len(bundle.offsets)})
            mlflow.log_dict({"segment": spec.segment, "days": recalibration_days, "offsets": bundle.offsets,
                             "classes": list(spec.classes)}, "recalibration.json")
            tracking.log_to(run_id, metrics={"recalibrated_segments": len(bundle.offsets)})
        bundle.save(model_out)
        mlflow.log_params(params)
        mlflow.log_metric("training_rows", len(data))
        mlflow.set_tag("device", getattr(model, "device_used", "cpu"))
        losses = getattr(model, "losses", None) or []
        for epoch, loss in enumerate(losses):
            mlflow.log_metric("nn_train_loss", loss, step=epoch)
    return bundle


# ---- evaluate ------------------------------------------------------------------------------------
# The truth table's two oracles: `seen_p_*` knows the world's laws and every trait but an address's
# hidden state (dead, mailbox full) only as far as the sender's own records show it (the best any
# model could do); `p_*` also knows that state on the day of sending (no model can).
ORACLE_PREFIX = "seen_p_"
CLAIRVOYANT_PREFIX = "p_"


def _class_probabilities(aligned: pd.DataFrame, prefix: str, classes: tuple[str, ...]) -> np.ndarray:
    p = aligned[[f"{prefix}{c}" for c in classes]].to_numpy(dtype=float)
    return p / p.sum(axis=1, keepdims=True)


def truth_probabilities(truth_dir: str | Path, message_ids: pd.Series, classes: tuple[str, ...],
                        prefixes: tuple[str, ...] = (ORACLE_PREFIX,)) -> list[np.ndarray]:
    """The simulator's class probabilities for these messages (rows in the given order), one
    matrix per column prefix, read in one pass over the truth table."""
    aligned = truth_columns(truth_dir, message_ids, [f"{prefix}{c}" for prefix in prefixes for c in classes])
    return [_class_probabilities(aligned, prefix, classes) for prefix in prefixes]


def truth_labels(truth_dir: str | Path, message_ids: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    """The class each of these messages truly had (rows in the given order): the referee's labels."""
    return _class_codes(truth_columns(truth_dir, message_ids, ["true_class"]), classes)


def _class_codes(aligned: pd.DataFrame, classes: tuple[str, ...]) -> np.ndarray:
    return aligned["true_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)


def referee(spec: ModelSpec, truth_dir: str | Path, holdout: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true labels, records oracle, clairvoyant) for the holdout's rows: the spec's own referee
    (`ModelSpec.truth`) or the message truth tables' classes, read in one pass."""
    if spec.truth is not None:
        return spec.truth(Path(truth_dir), holdout)
    prefixes = (ORACLE_PREFIX, CLAIRVOYANT_PREFIX)
    aligned = truth_columns(truth_dir, holdout["message_id"],
                            ["true_class", *(f"{prefix}{c}" for prefix in prefixes for c in spec.classes)])
    return (_class_codes(aligned, spec.classes), *(_class_probabilities(aligned, p, spec.classes) for p in prefixes))


def oracle_probabilities(truth_dir: str | Path, message_ids: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    """The records oracle's class probabilities for these messages (rows in the given order)."""
    return truth_probabilities(truth_dir, message_ids, classes)[0]


def evaluate_bundle(spec: ModelSpec, bundle: TrainedModel, holdout: pd.DataFrame) -> dict[str, float]:
    """The spec's metrics for a trained model on a holdout frame."""
    proba = bundle.predict_proba(holdout)
    return spec_report(spec, holdout[LABEL].to_numpy(dtype=int), proba)


def evaluate_step(spec: ModelSpec, tracking: Tracking, run_id: str, model_path: str | Path, holdout_path: str | Path,
                  truth_dir: str | Path | None, report_out: str | Path) -> dict[str, float]:
    """Holdout metrics beside the oracle's, the HTML report and reliability plot; logged on the parent."""
    import mlflow

    from adaptive_delivery.platform.training import report

    with tracking.step(run_id, "evaluate"):
        bundle = TrainedModel.load(model_path)
        holdout = pd.read_parquet(holdout_path)
        y = holdout[LABEL].to_numpy(dtype=int)
        proba = bundle.predict_proba(holdout)
        oracle = oracle_metrics = clairvoyant_metrics = None
        if truth_dir:  # the referee knows every message's class, seen by the sender or not
            y, oracle, clairvoyant = referee(spec, truth_dir, holdout)
        else:  # a real sender's holdout: the rows whose class it saw
            known, _ = label_weights(y, len(spec.classes), spec.partial_labels)
            if not known.all():
                holdout, y, proba = holdout[known].reset_index(drop=True), y[known], proba[known]
        metrics = spec_report(spec, y, proba)
        if truth_dir:
            oracle_metrics = spec_report(spec, y, oracle)
            clairvoyant_metrics = spec_report(spec, y, clairvoyant)
        baseline_metrics = spec_report(spec, y, spec.baseline(holdout)) if spec.baseline is not None else {}
        report_out = Path(report_out)
        plot = report.reliability_plot(y, proba, spec.classes, report_out.parent / "reliability.png", oracle)
        actions = report.action_table(spec.decide(proba, holdout), y, spec.classes) if spec.decide else None
        report.write_html(report_out, f"{spec.model_id} {spec.name}: holdout evaluation", metrics, oracle_metrics, y, proba,
                          spec.classes, bundle.feature_importance(), plot, actions, clairvoyant_metrics)
        logged = {**metrics, **{f"oracle_{k}": v for k, v in (oracle_metrics or {}).items()},
                  **{f"clairvoyant_{k}": v for k, v in (clairvoyant_metrics or {}).items()},
                  **{f"baseline_{k}": v for k, v in baseline_metrics.items()},
                  **(spec.judge(Path(truth_dir), bundle, holdout) if truth_dir and spec.judge is not None else {})}
        logged = {k: v for k, v in logged.items() if not np.isnan(v)}
        mlflow.log_metrics(logged)
        client = tracking.client()
        tracking.log_to(run_id, metrics=logged)
        tracking.log_file(run_id, report_out, "reports/evaluation.html")
        tracking.log_file(run_id, plot, "reports/reliability.png")
        client.log_dict(run_id, bundle.feature_importance(), "reports/feature_importance.json")
    return metrics


# ---- register and gate ---------------------------------------------------------------------------
def register_step(spec: ModelSpec, tracking: Tracking, run_id: str, model_path: str | Path,
                  holdout_path: str | Path) -> str:
    """Log the pyfunc model on the parent run, register it, point `challenger` at it; returns the version."""
    import mlflow

    from adaptive_delivery.platform.training.pyfunc import log_bundle
    from adaptive_delivery.platform.training.registry import register_challenger

    with tracking.step(run_id, "register"):
        example = pd.read_parquet(holdout_path)
        client = tracking.client()
        with mlflow.start_run(run_id=run_id, nested=True):  # the model belongs to the parent run
            info = log_bundle(model_path, example)
        client.update_run(run_id, status="RUNNING")  # the gate step closes the parent run
        version = register_challenger(client, spec, run_id, model_uri=info.model_uri)
        mlflow.log_param("registered_version", version)
        client.set_tag(run_id, "registered_version", version)
    return version


def gate_step(spec: ModelSpec, tracking: Tracking, run_id: str, version: str, holdout_path: str | Path,
              drift_failures: list[str]) -> str:
    """Compare this run's registered version with the champion on this run's holdout and promote or
    stop (only over the champion it compared with); the verdict goes to the model version's tags,
    the run's tags, and the return value."""
    import mlflow

    from adaptive_delivery.platform.training.registry import alias_metrics, gate_and_promote

    with tracking.step(run_id, "gate"):
        client = tracking.client()
        holdout = pd.read_parquet(holdout_path)
        # the version this run registered: `challenger` may point at another run's by now
        challenger = registered_bundle(client, spec, f"models:/{spec.registered_name}/{version}")
        challenger_metrics = evaluate_bundle(spec, challenger, holdout)
        champion_version, _ = alias_metrics(client, spec, "champion")
        champion_metrics = None
        if champion_version is not None and champion_version != version:
            champion = registered_bundle(client, spec, f"models:/{spec.registered_name}/{champion_version}")
            champion_metrics = evaluate_bundle(spec, champion, holdout)  # same holdout: a fair comparison
        verdict = gate_and_promote(client, spec, version, challenger_metrics, drift_failures, champion_metrics,
                                   compared_with=champion_version)
        mlflow.log_metrics({f"challenger_{spec.primary_metric}": challenger_metrics[spec.primary_metric],
                            **({f"champion_{spec.primary_metric}": champion_metrics[spec.primary_metric]}
                               if champion_metrics else {})})
        mlflow.set_tag("verdict", verdict.summary()[:4900])
        client.set_tag(run_id, "verdict", verdict.summary()[:4900])
        client.set_tag(run_id, "promoted", str(verdict.passed).lower())
    tracking.finish_parent(run_id)
    return verdict.summary()


def registered_bundle(client, spec: ModelSpec, model_uri: str) -> TrainedModel:
    """The bundle inside a registered pyfunc model (loaded the way a consumer would load it)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().bundle
