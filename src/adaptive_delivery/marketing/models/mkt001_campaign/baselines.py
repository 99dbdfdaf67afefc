"""What the campaign network is judged against, each fitted on the same training rows and tuned
only on the validation rows:
- response: a logistic regression and a gradient-boosting model (LightGBM, early-stopped on
  validation) per outcome, reading the customer and the e-mail sent (one-hot);
- uplift of one e-mail against none: the two-model logistic baseline (one regression per group,
  the difference of their predictions) and the class-transformation model (gradient boosting on
  z = 1 when treated-and-visited or control-and-not, uplift = 2 P(z) - 1; Jaskowski & Jaroszewicz,
  2012), the two standard references on this data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GBM_PARAMS = {"n_estimators": 1_000, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 100,
              "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "verbose": -1}
EARLY_STOPPING = 50  # rounds without a better validation loss


def with_arm(x: np.ndarray, arm: np.ndarray, n_arms: int) -> np.ndarray:
    return np.hstack([x, np.eye(n_arms)[arm]])


def _logistic():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000))


def _gbm(x, y, x_val, y_val, seed: int):
    import lightgbm as lgb

    model = lgb.LGBMClassifier(**GBM_PARAMS, random_state=seed)
    model.fit(x, y, eval_X=(x_val,), eval_y=(y_val,), callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)])
    return model


@dataclass
class ResponseBaselines:
    """Per outcome, a logistic and a gradient-boosting model of P(outcome | customer, e-mail)."""

    n_arms: int
    logistic: list
    gbm: list

    @classmethod
    def fit(cls, x, arm, y, train, validation, n_arms: int, seed: int) -> ResponseBaselines:
        xa = with_arm(x, arm, n_arms)
        logistic = [_logistic().fit(xa[train], y[train, k]) for k in range(y.shape[1])]
        gbm = [_gbm(xa[train], y[train, k], xa[validation], y[validation, k], seed) for k in range(y.shape[1])]
        return cls(n_arms=n_arms, logistic=logistic, gbm=gbm)

    def predict(self, kind: str, x: np.ndarray, arm: np.ndarray) -> np.ndarray:
        """(n, outcomes) probabilities for the e-mail each row got."""
        models = {"logistic": self.logistic, "gbm": self.gbm}[kind]
        xa = with_arm(x, arm, self.n_arms)
        return np.stack([m.predict_proba(xa)[:, 1] for m in models], axis=1)


@dataclass
class UpliftBaselines:
    """For one treatment arm against the control, on one outcome."""

    two_model: tuple  # (treated model, control model)
    class_transformation: object

    @classmethod
    def fit(cls, x, treated, y, train, validation, seed: int) -> UpliftBaselines:
        t_rows, c_rows = train[treated[train] == 1], train[treated[train] == 0]
        two = (_logistic().fit(x[t_rows], y[t_rows]), _logistic().fit(x[c_rows], y[c_rows]))
        z = (y == treated).astype(int)
        ct = _gbm(x[train], z[train], x[validation], z[validation], seed)
        return cls(two_model=two, class_transformation=ct)

    def uplift(self, kind: str, x: np.ndarray) -> np.ndarray:
        if kind == "two_model_logistic":
            return self.two_model[0].predict_proba(x)[:, 1] - self.two_model[1].predict_proba(x)[:, 1]
        if kind == "class_transformation_gbm":
            return 2 * self.class_transformation.predict_proba(x)[:, 1] - 1
        raise KeyError(kind)
