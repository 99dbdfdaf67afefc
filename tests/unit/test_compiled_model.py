"""MDL-001 in its serving form (numpy and XGBoost's inplace prediction) answers as the registered
ensemble does, within 1e-6, and a served bundle refuses a compiled form that does not."""

import numpy as np
import pandas as pd
import pytest

from adaptive_delivery.delivery.models.mdl001_deliverability import model as mdl
from adaptive_delivery.delivery.models.mdl001_deliverability.model import CompiledEnsemble
from adaptive_delivery.delivery.models.mdl001_deliverability.spec import SPEC
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import profile


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Feature rows with a learnable class, a tenth of the numbers missing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in mdl.NUMERIC})
    for c in mdl.NUMERIC[:20]:
        frame.loc[rng.random(n) < 0.1, c] = np.nan
    frame["subscriber_features__email_domain"] = rng.choice(["gmail.com", "yahoo.com", "aol.com"], n)
    frame["subscriber_features__domain_category"] = rng.choice(["consumer", "business"], n)
    frame["provider"] = rng.choice(["gmail", "yahoo", "outlook"], n)
    score = frame["subscriber_features__engagement_score"].fillna(0).to_numpy() + rng.normal(0, 0.5, n)
    frame["label"] = np.select([score > 0.3, score > -0.3, score > -0.8, score > -1.4], [0, 1, 2, 3], 4)
    frame.loc[(frame["label"] <= 1) & (rng.random(n) < 0.5), "label"] = mdl.ACCEPTED_UNSEEN  # placement unseen
    frame["event_timestamp"] = pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC")
    frame["message_id"] = [f"m{i}" for i in range(n)]
    frame["subscriber_id"] = [f"s{i}" for i in range(n)]
    return frame


@pytest.fixture(scope="module")
def bundle() -> TrainedModel:
    data = SPEC.to_dataset(_frame(3000, 0))
    params = {"n_estimators": 60, "nn_weight": 0.3, "nn_epochs": 3, "placement_tree_weight": 0.4}
    model = SPEC.fit(data, params, profile("quick"))
    return TrainedModel("MDL-001", SPEC.classes, list(data.X.columns), list(data.categories), data.categories, model)


def test_the_compiled_ensemble_answers_as_the_registered_one_within_1e6(bundle):
    served = bundle.for_serving()
    assert isinstance(served.model, CompiledEnsemble) and served.model.net is not None
    assert served.model.placement_trees is not None and served.model.calibration is not None
    rows = _frame(700, 1)[mdl.FEATURES]
    rows.loc[3, "provider"] = "a-provider-never-seen"
    expected = bundle.predict_proba(rows)
    got = served.predict_proba(rows)
    assert got.shape == expected.shape == (700, 5)
    assert np.max(np.abs(got - expected)) <= 1e-6
    assert np.allclose(got.sum(axis=1), 1.0)
    one = rows.iloc[[5]].reset_index(drop=True)
    assert np.max(np.abs(served.predict_proba(one) - bundle.predict_proba(one))) <= 1e-6
    columns = {c: rows[c].to_numpy() for c in rows.columns}  # the decision service holds arrays, not frames
    assert np.array_equal(served.predict_proba(columns), got)


def test_a_value_far_outside_training_moves_the_linear_parts_no_further_than_the_training_extreme(bundle):
    """A rate that jumps for one new campaign must not drive the placement regression (a linear
    model) to certainty: beyond the training's 99.9% quantile the answer stays where it was."""
    column = "sender_domain_features__soft_bounce_rate_24h"
    rows = _frame(50, 2)
    model = bundle.model
    high = model._bounds[1][model.columns.index(column)]
    at_edge, far = rows.assign(**{column: high}), rows.assign(**{column: high * 1e4 + 1e3})
    encoded = [mdl.dataset_from_frame(r, bundle.categories).X for r in (at_edge, far)]
    np.testing.assert_array_equal(*(model.predict_spam_given_accepted(x) for x in encoded))
    far = far[mdl.FEATURES]
    served = bundle.for_serving()
    np.testing.assert_allclose(served.predict_proba(far), bundle.predict_proba(far), atol=1e-6)
    assert np.isfinite(served.predict_proba(far)).all()


def test_a_compiled_form_that_disagrees_is_refused(bundle, monkeypatch):
    real = CompiledEnsemble.predict_proba
    monkeypatch.setattr(CompiledEnsemble, "predict_proba", lambda self, x: real(self, x) + 1e-4)
    with pytest.raises(ValueError, match="differs from the registered one"):
        bundle.for_serving()


def test_a_model_without_a_compiled_form_is_served_as_it_is():
    class Plain:
        def predict_proba(self, X):
            return np.full((len(X), 5), 0.2)

    plain = TrainedModel("MDL-001", SPEC.classes, ["a"], [], {}, Plain())
    assert plain.for_serving() is plain
