"""Monitoring a model trained on the twin's logs (`platform.monitoring.logs`): what its gated
metrics on the deployment's logs say, when drift is judged, and that its findings alert a person
rather than retrain (retraining in the twin would not answer them)."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from adaptive_delivery.platform.monitoring.logs import (
    MAX_LOG_METRIC_DROP,
    Observed,
    check,
    judge_metrics,
)
from adaptive_delivery.platform.spec import get

SPEC = get("MDL-004")  # gates: block_event_auc_model (floor 0.8), listing_auc_model (floor 0.6)
WINDOW = (datetime(2026, 3, 11, tzinfo=UTC), datetime(2026, 3, 14, tzinfo=UTC))


def frames(n: int, shift: float = 0.0, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    inputs = pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.normal(0, 1, n)})
    return inputs, pd.DataFrame({"p": 1 / (1 + np.exp(-inputs["a"]))})


@pytest.mark.parametrize(("value", "registered", "says"), [
    (0.70, 0.90, "past its floor 0.8"),
    (0.90 * (1 - MAX_LOG_METRIC_DROP) - 0.01, 0.90, "below the 0.9000 it scored at registration"),
    (0.90 * (1 - MAX_LOG_METRIC_DROP) + 0.01, 0.90, None),
])
def test_a_metric_past_its_floor_or_well_below_registration_alerts(value, registered, says):
    alerts = judge_metrics(SPEC, {"block_event_auc_model": value}, {"block_event_auc_model": registered})
    assert (says is None and alerts == []) or (len(alerts) == 1 and says in alerts[0])


def test_a_metric_left_out_is_not_judged():
    assert judge_metrics(SPEC, {}, {"block_event_auc_model": 0.9}) == []


def test_drift_is_judged_on_the_inputs_and_outputs_and_the_verdict_alerts(tmp_path):
    (ref, ref_out), (cur, cur_out) = frames(600, seed=1), frames(600, shift=3.0, seed=2)
    observed = Observed(ref, cur, ref_out, cur_out, metrics={"block_event_auc_model": 0.7}, labelled=400,
                        alerts=["the model's own finding"], details={"units": 3})
    result = check(SPEC, observed, version="4", registered={"block_event_auc_model": 0.9}, out_dir=tmp_path,
                   window=WINDOW)
    assert result.retrain == []  # nothing here is a retraining's to answer
    assert result.alerts[0] == "the model's own finding" and any("past its floor" in a for a in result.alerts)
    assert "a" in result.data_drift["drifted"] and "b" not in result.data_drift["drifted"]
    assert result.prediction_drift["drifted"] and result.shifted.get("a", 0) > 2
    assert result.metric == "block_event_auc_model" and result.current == 0.7 and result.registered == 0.9
    body = (tmp_path / "monitor.json").read_text()
    assert '"source": "the deployment\'s logs"' in body and '"units": 3' in body
    assert (tmp_path / "data_drift.html").stat().st_size > 10_000


def test_a_calm_window_is_ok_and_an_empty_one_says_drift_was_not_judged(tmp_path):
    (ref, ref_out), (cur, cur_out) = frames(600, seed=1), frames(600, seed=2)
    calm = check(SPEC, Observed(ref, cur, ref_out, cur_out), version="1", registered=None, out_dir=tmp_path / "calm",
                 window=WINDOW)
    assert calm.retrain == [] and not calm.data_drift["drifted"] and calm.current is None
    empty = check(SPEC, Observed(ref.iloc[:0], cur, ref_out.iloc[:0], cur_out), version="1", registered=None,
                  out_dir=tmp_path / "empty", window=WINDOW)
    assert any("drift not judged: 0 reference" in a for a in empty.alerts)
    assert empty.data_drift["summary"] == "not judged" and "data_drift" not in empty.reports


def test_the_monitoring_dag_checks_the_feature_models_and_those_that_observe_their_logs():
    from adaptive_delivery.platform.spec import all_specs

    monitored = {s.model_id for s in all_specs() if s.monitored}
    assert {s.model_id for s in all_specs() if s.trains_on_features} | {"MDL-004", "MDL-008"} <= monitored
    assert not {"MDL-003", "MDL-009"} & monitored  # judged by their rails, rollouts and evaluations
