"""Per-provider recalibration: the offsets a retraining fits on its newest days, the bundle that
applies them, and the training step that keeps those days out of the model's own fit."""

import json

import numpy as np
import pytest
from test_training_platform import _frame

from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import get, profile
from adaptive_delivery.platform.training import recalibration as rc
from adaptive_delivery.platform.training.dataset import TrainingDataError
from adaptive_delivery.platform.training.steps import recalibration_split, train_step
from adaptive_delivery.platform.training.tracking import Tracking


def _sample(proba: np.ndarray, rng) -> np.ndarray:
    cum = proba.cumsum(axis=1)
    return (rng.random((len(proba), 1)) > cum).sum(axis=1)


def test_offsets_recover_a_providers_shift_and_match_its_observed_rates():
    rng = np.random.default_rng(0)
    base = rng.dirichlet([8, 2, 1, 1, 0.5], size=20_000)
    true_shift = np.array([-1.5, 0.0, 0.0, 0.0, 0.0])  # the provider's filter tightened: fewer inbox
    y = _sample(rc.shift(base, true_shift), rng)
    offsets = rc.fit_offsets(y, base, 5)
    fitted = rc.shift(base, offsets)
    observed = np.bincount(y, minlength=5) / len(y)
    assert np.allclose(fitted.mean(axis=0), observed, atol=1e-4)
    assert abs(base[:, 0].mean() - observed[0]) > 0.1  # the base model was far off
    recovered = offsets - offsets[1:].mean()  # up to softmax's shift: relative to the unchanged classes
    assert recovered[0] == pytest.approx(-1.5, abs=0.15) and np.abs(recovered[1:]).max() < 0.15


def test_a_class_absent_from_the_slice_is_not_driven_to_zero_and_small_segments_keep_the_model():
    rng = np.random.default_rng(1)
    base = rng.dirichlet([5, 2, 1, 1, 1], size=2_000)
    y = rng.choice([0, 1, 2, 3], size=2_000, p=[0.5, 0.3, 0.1, 0.1])  # no block observed
    offsets = rc.fit_offsets(y, base, 5)
    assert np.isfinite(offsets).all() and rc.shift(base, offsets)[:, 4].mean() > 0.01
    segment = np.array(["gmail"] * 1_700 + ["tiny"] * 300)
    fitted = rc.fit_segment_offsets(y, base, segment, 5)
    assert set(fitted) == {"gmail"}
    out = rc.apply_segment_offsets(base, segment, fitted)
    assert np.allclose(out[segment == "tiny"], base[segment == "tiny"])
    assert not np.allclose(out[segment == "gmail"], base[segment == "gmail"])
    assert np.allclose(out.sum(axis=1), 1.0)


def test_bundle_applies_offsets_to_its_segment_only_and_old_bundles_still_predict(tmp_path):
    spec = get("MDL-001")
    data = spec.to_dataset(_frame())
    model = spec.fit(data, {"n_estimators": 20, "nn_weight": 0.0}, profile("quick"))
    plain = TrainedModel("MDL-001", spec.classes, list(data.X.columns), list(data.categories), data.categories, model)
    shifted = TrainedModel("MDL-001", spec.classes, list(data.X.columns), list(data.categories), data.categories, model,
                           segment="provider", offsets={"gmail": [-2.0, 0.0, 0.0, 0.0, 0.0]})
    raw = _frame(400, seed=5)
    gmail = raw["provider"].to_numpy() == "gmail"
    a, b = plain.predict_proba(raw), TrainedModel.load(shifted.save(tmp_path / "b.joblib")).predict_proba(raw)
    assert np.allclose(a[~gmail], b[~gmail]) and (b[gmail, 0] < a[gmail, 0]).all()
    old_state = {k: v for k, v in plain.__dict__.items() if k not in ("segment", "offsets")}
    old = TrainedModel.__new__(TrainedModel)
    old.__setstate__(old_state)  # a bundle pickled before recalibration existed
    assert old.offsets == {} and old.segment == "" and np.allclose(old.predict_proba(raw), a)


def test_train_step_fits_the_model_before_the_newest_days_and_the_offsets_on_them(tmp_path):
    spec = get("MDL-001")
    frame = _frame(15_000, days=10)  # ~1,500 on the newest day: both providers above the minimum
    late = frame["event_timestamp"] >= frame["event_timestamp"].max().normalize()
    # On the newest day gmail's mail lands in spam far more often than before.
    flip = late & (frame["provider"] == "gmail") & (frame["label"] == 0) & (np.arange(len(frame)) % 2 == 0)
    frame.loc[flip, "label"] = 1
    frame.to_parquet(tmp_path / "train.parquet")
    (tmp_path / "params.json").write_text(json.dumps({"n_estimators": 30, "nn_weight": 0.0}))
    tracking = Tracking(f"sqlite:///{tmp_path}/mlflow.db", "recalibration-test")
    run_id = tracking.start_parent("test", {}, {})
    bundle = train_step(spec, tracking, run_id, profile("quick"), tmp_path / "train.parquet", tmp_path / "params.json",
                        tmp_path / "model.joblib", recalibration_days=1)
    assert bundle.trained_rows == int((~late).sum())  # the newest day fitted only the offsets
    assert bundle.segment == "provider" and set(bundle.offsets) <= {"gmail", "yahoo"} and "gmail" in bundle.offsets
    recent = frame[late & (frame["provider"] == "gmail")]
    predicted = bundle.predict_proba(recent)[:, 1].mean()
    assert predicted == pytest.approx((recent["label"] == 1).mean(), abs=0.01)
    with pytest.raises(TrainingDataError, match="leaves .* rows to fit the model on"):
        recalibration_split(spec, frame, 10)
    assert not recalibration_split(spec, frame, 0).any()
    assert not recalibration_split(get("MDL-003"), frame, 1).any()  # no segment declared: nothing to recalibrate
