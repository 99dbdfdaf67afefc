"""One binary model for a rare event, the building block of models that predict a few kinds of
rare outcome from the same inputs (MDL-006's unsubscribes and complaints, MDL-010's bounces).

The learner is chosen on validation by the pipeline's search (`search_space`): an L2-regularised
logistic regression on standardised inputs, or LightGBM with few, large leaves. A head that saw no
positive (or no negative) in training answers the smoothed base rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adaptive_delivery.platform.training.threads import training_threads

LEARNERS = ("logistic", "lightgbm")
LGBM_PARAMS = ("num_leaves", "learning_rate", "n_estimators", "min_child_samples", "reg_lambda")


@dataclass
class HeadConfig:
    learner: str = "logistic"
    # logistic: the inverse L2 strength (rare positives: a strong prior toward the base rate)
    c: float = 0.1
    # lightgbm: few, large leaves (a few hundred positives per head at most)
    lgbm_params: dict = field(default_factory=lambda: {
        "num_leaves": 7, "learning_rate": 0.03, "n_estimators": 200, "min_child_samples": 400,
        "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.7, "reg_lambda": 5.0})
    seed: int = 0


class BinaryHead:
    """P(positive | x) over a numeric matrix whose `categorical` columns hold category codes
    (negative: missing)."""

    def __init__(self, config: HeadConfig, categorical: list[int]) -> None:
        self.config, self.categorical = config, categorical
        self.model = None
        self.rate = 0.0
        self.centre: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.levels: dict[int, np.ndarray] = {}

    def _design(self, matrix: np.ndarray) -> np.ndarray:
        """Logistic inputs: numeric columns standardised (missing -> the training mean, plus a
        missing flag), categorical ones one-hot over the training vocabulary."""
        numeric = [j for j in range(matrix.shape[1]) if j not in self.categorical]
        values = matrix[:, numeric]
        missing = np.isnan(values)
        filled = np.where(missing, self.centre, values)
        parts = [(filled - self.centre) / self.scale, missing.astype(float)]
        parts += [(matrix[:, [j]] == self.levels[j][None, :]).astype(float) for j in self.categorical]
        return np.hstack(parts)

    def fit(self, matrix: np.ndarray, y: np.ndarray) -> BinaryHead:
        y = np.asarray(y, dtype=bool)
        self.rate = float((y.sum() + 0.5) / (len(y) + 1.0))
        if y.all() or not y.any():
            return self
        if self.config.learner == "logistic":
            from sklearn.linear_model import LogisticRegression

            numeric = [j for j in range(matrix.shape[1]) if j not in self.categorical]
            self.centre = np.nan_to_num(np.nanmean(matrix[:, numeric], axis=0))
            self.scale = np.nan_to_num(np.nanstd(matrix[:, numeric], axis=0), nan=1.0)
            self.scale[self.scale == 0] = 1.0
            self.levels = {j: np.unique(matrix[:, j][matrix[:, j] >= 0]) for j in self.categorical}
            self.model = LogisticRegression(C=self.config.c, max_iter=2_000).fit(self._design(matrix), y)
        else:
            import lightgbm as lgb

            params = {**self.config.lgbm_params}
            rounds = int(params.pop("n_estimators"))
            params.update(objective="binary", seed=self.config.seed, verbosity=-1, num_threads=training_threads(), deterministic=True,
                          force_row_wise=True)
            self.model = lgb.train(params, lgb.Dataset(matrix.astype(np.float32), y.astype(float)),
                                   num_boost_round=rounds)
        return self

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        if self.model is None:
            return np.full(len(matrix), self.rate)
        if self.config.learner == "logistic":
            return self.model.predict_proba(self._design(matrix))[:, 1]
        return np.asarray(self.model.predict(matrix.astype(np.float32)), dtype=float)


def search_space(trial) -> dict:
    """Optuna's search space: which learner, and its regularisation."""
    learner = trial.suggest_categorical("learner", list(LEARNERS))
    if learner == "logistic":
        return {"learner": learner, "c": trial.suggest_float("c", 1e-3, 10.0, log=True)}
    return {"learner": learner,
            "num_leaves": trial.suggest_int("num_leaves", 3, 15),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            "n_estimators": trial.suggest_int("n_estimators", 50, 400, step=50),
            "min_child_samples": trial.suggest_int("min_child_samples", 100, 2_000, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 20.0, log=True)}


def baseline_params() -> dict:
    """HeadConfig's defaults as a point of the search space (Optuna's first trial)."""
    return {"learner": HeadConfig().learner, "c": HeadConfig().c}


def config_from(params: dict, model_id: str) -> HeadConfig:
    """A HeadConfig from a search point; an unknown parameter or learner is the caller's error."""
    unknown = set(params) - set(LGBM_PARAMS) - {"learner", "c", "seed"}
    if unknown:
        raise ValueError(f"unknown {model_id} parameters {sorted(unknown)}")
    learner = str(params.get("learner", HeadConfig().learner))
    if learner not in LEARNERS:
        raise ValueError(f"unknown {model_id} learner {learner!r}; known: {list(LEARNERS)}")
    base = HeadConfig()
    return HeadConfig(learner=learner, c=float(params.get("c", base.c)), seed=int(params.get("seed", 0)),
                      lgbm_params={**base.lgbm_params, **{k: params[k] for k in LGBM_PARAMS if k in params}})
