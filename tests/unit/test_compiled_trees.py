"""XGBoost ensembles walked in numpy (`platform.compiled_trees`) answer as XGBoost's own
prediction does, missing values and a cut at the best iteration included, and step aside for
what they do not do."""

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.platform.compiled_trees import NumpyTrees


def _data(n: int, seed: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.normal(0, 0.3, n), np.linspace(-1, 1, classes - 1))
    x[rng.random(x.shape) < 0.15] = np.nan
    return x, y


@pytest.fixture(scope="module")
def models() -> dict:
    x, y4 = _data(800, 0, 4)
    _, y2 = _data(800, 0, 2)
    multi = xgb.XGBClassifier(n_estimators=40, max_depth=4, early_stopping_rounds=5, eval_metric="mlogloss")
    multi.fit(x[:600], y4[:600], eval_set=[(x[600:], y4[600:])], verbose=False)
    binary = xgb.XGBClassifier(n_estimators=25, max_depth=3).fit(x, y2)
    return {"multi": multi, "binary": binary}


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 40), seed=st.integers(0, 10_000), which=st.sampled_from(["multi", "binary"]))
def test_the_walk_answers_as_xgboost(models, rows, seed, which):
    model = models[which]
    iterations = model._get_iteration_range(None)
    walk = NumpyTrees.of(model.get_booster(), iterations)
    x, _ = _data(rows, seed, 4)
    expected = model.get_booster().inplace_predict(x, iteration_range=iterations)
    assert np.max(np.abs(walk.predict(x) - expected)) <= 1e-6


def test_a_cut_at_the_best_iteration_uses_only_those_trees(models):
    model = models["multi"]
    full = NumpyTrees.of(model.get_booster())
    cut = NumpyTrees.of(model.get_booster(), model._get_iteration_range(None))
    assert model.best_iteration + 1 < 40  # early stopping did cut
    assert len(cut.roots) == 4 * (model.best_iteration + 1) < len(full.roots)


def test_what_the_walk_does_not_do_stays_with_xgboost():
    x, y = _data(300, 1, 2)
    ranker = xgb.XGBRegressor(n_estimators=5, objective="reg:squarederror").fit(x, y)
    assert NumpyTrees.of(ranker.get_booster()) is None  # another objective
    linear = xgb.XGBClassifier(n_estimators=5, booster="gblinear").fit(x, y)
    assert NumpyTrees.of(linear.get_booster()) is None
