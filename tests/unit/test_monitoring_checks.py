"""When monitoring asks for retraining, and when it only alerts."""

import numpy as np
import pandas as pd

from adaptive_delivery.platform.monitoring import checks
from adaptive_delivery.platform.monitoring.drift import DriftResult
from adaptive_delivery.platform.spec import get

SPEC = get("MDL-001")
CALM = DriftResult(checked=["a", "b"], drifted={}, share=0.0, drift_share=0.8)
DRIFTED = DriftResult(checked=["a", "b"], drifted={"a": 0.01, "b": 0.02}, share=1.0, drift_share=0.8)


def test_a_confirmed_drop_retrains_and_drift_only_alerts():
    retrain, alerts = checks.judge(SPEC, 0.70, 0.76, 5_000, DRIFTED, {}, upper=0.73)
    assert len(retrain) == 1 and "below the 0.7600" in retrain[0]
    assert any("data drift" in a for a in alerts)


def test_a_drop_inside_the_sampling_noise_alerts_instead():
    retrain, alerts = checks.judge(SPEC, 0.74, 0.76, 5_000, CALM, {}, upper=0.77)
    assert retrain == [] and any("within the sample's noise" in a for a in alerts)


def test_small_windows_and_the_floor():
    assert checks.judge(SPEC, 0.5, 0.76, 100, CALM, {})[0] == []
    floor = next(g.floor for g in SPEC.gates if g.metric == SPEC.primary_metric)
    retrain, _ = checks.judge(SPEC, floor - 0.01, floor - 0.005, 5_000, CALM, {})
    assert any("under the floor" in r for r in retrain)


def test_feature_shift_counts_training_standard_deviations():
    ref = pd.DataFrame({"x": np.random.default_rng(0).normal(0, 1, 2_000), "y": np.ones(2_000)})
    cur = pd.DataFrame({"x": np.random.default_rng(1).normal(3, 1, 500), "y": np.ones(500)})
    shifted = checks.feature_shift(ref, cur, ["x", "y"])
    assert set(shifted) == {"x"} and 2.5 < shifted["x"] < 3.5


def test_bootstrap_bound_separates_a_good_model_from_chance():
    rng = np.random.default_rng(0)
    y = rng.integers(0, len(SPEC.classes), 3_000)
    good = np.full((3_000, len(SPEC.classes)), 0.05)
    good[np.arange(3_000), y] = 0.8
    chance = rng.dirichlet(np.ones(len(SPEC.classes)), 3_000)
    assert checks.metric_upper_bound(SPEC, y, good, resamples=50) > 0.95
    assert checks.metric_upper_bound(SPEC, y, chance, resamples=50) < 0.56


def test_a_provider_whose_outcomes_left_the_predictions_asks_for_retraining():
    rng = np.random.default_rng(3)
    n = 4_000
    segment = np.where(np.arange(n) < n // 2, "gmail", "yahoo")
    proba = np.tile([0.8, 0.17, 0.01, 0.01, 0.01], (n, 1))
    inbox = np.where(segment == "gmail", 0.68, 0.80)  # gmail now sends 12 points more to spam
    y = np.where(rng.random(n) < inbox, 0, 1)
    rates = checks.segment_rates(SPEC.classes, y, proba, segment)  # the panel kept for every day
    gaps = checks.calibration_gaps(rates)
    assert {(g["segment"], g["class"]) for g in gaps} == {("gmail", "inbox"), ("gmail", "spam")}
    retrain, _ = checks.judge(SPEC, 0.78, 0.78, n, CALM, {}, calibration=gaps)
    assert any(r.startswith("gmail: inbox observed") for r in retrain)
    # In the loop a gap alerts on its first day and retrains when the next day's check sees it again.
    retrain, alerts = checks.judge(SPEC, 0.78, 0.78, n, CALM, {}, calibration=gaps, seen_before=[])
    assert retrain == [] and any("first day seen" in a for a in alerts)
    retrain, _ = checks.judge(SPEC, 0.78, 0.78, n, CALM, {}, calibration=gaps, seen_before=gaps[:1])
    assert len(retrain) == 1 and retrain[0].startswith(f"gmail: {gaps[0]['class']} observed")
    calm = checks.calibration_gaps(checks.segment_rates(SPEC.classes, np.where(rng.random(n) < 0.8, 0, 1), proba, segment))
    assert calm == []
    assert rates["gmail"]["rows"] == n // 2 and rates["gmail"]["predicted"]["inbox"] == 0.8
    assert abs(rates["gmail"]["observed"]["inbox"] - 0.68) < 0.03 and abs(rates["yahoo"]["observed"]["inbox"] - 0.8) < 0.03
