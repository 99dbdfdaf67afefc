"""MKT-002's served bid: the registered trees walked in numpy answer as XGBoost does, a model for
other features is refused, the bid is the click's value times the pacing with the spec's
confidence and reasons, the served answer is the twin's optimiser's own bid, bad requests are
refused with a reason, and the training rows carry only what was known when each click was bought."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adaptive_delivery.marketing import bidding as bd
from adaptive_delivery.marketing.models.mkt002_bidding import service, training
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.spec import get
from adaptive_delivery.twin import marketing as tw


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return training.train_and_save(3, 0, tmp_path_factory.mktemp("mkt002"))


@pytest.fixture(scope="module")
def model(model_file):
    return service.load_value_model(model_file)


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: frame[c].to_numpy() for c in frame.columns}


def test_the_numpy_trees_answer_as_xgboost(model_file, model):
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(model_file))
    rng = np.random.default_rng(0)
    x = bd.value_features(rng.integers(0, 24, 500), rng.integers(0, 7, 500), rng.integers(0, 4, 500),
                          rng.integers(0, 3, 500), rng.uniform(0, 0.1, 500), rng.uniform(0, 30, 500),
                          rng.uniform(0, 5, 500))
    want = booster.inplace_predict(x)
    assert np.allclose(model(x), want, atol=1e-6)
    assert 0 < want.min() < want.max() < 1


def test_a_model_reading_other_features_is_refused(model_file, tmp_path):
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(model_file))
    booster.feature_names = [f"f{k}" for k in range(len(bd.VALUE_FEATURES))]
    other = tmp_path / "other.json"
    booster.save_model(str(other))
    with pytest.raises(ValueError, match="retrain MKT-002"):
        service.load_value_model(other)


def test_the_bid_is_the_value_times_the_pacing_with_confidence_and_reasons(model):
    frame = service.example_request()
    out = service.answer_rows(model, _columns(frame))
    assert list(out) == list(service.OUTPUTS)
    assert np.allclose(out["value_per_click"], out["predicted_cvr"] * frame["value_per_conversion"])
    assert np.allclose(out["bid"], out["value_per_click"] * frame["pacing_multiplier"])
    assert ((out["confidence"] > 0) & (out["confidence"] <= 1)).all()
    assert "little budget left today" in out["reasons"][2] and "little budget" not in out["reasons"][0]
    # the budget behind the bid and the history behind the value both count
    assert out["confidence"][2] < out["confidence"][0]
    without = service.answer_rows(model, _columns(frame.drop(columns="pacing_multiplier")))
    assert np.allclose(without["bid"], without["value_per_click"])


def test_without_a_model_the_campaigns_own_rate_prices_the_click():
    frame = service.example_request()
    out = service.answer_rows(None, _columns(frame))
    assert np.allclose(out["predicted_cvr"], frame["historical_cvr"])


def test_the_served_answer_is_the_optimisers_own_bid(model):
    world = tw.MarketingWorld.build(1002, n_campaigns=1, daily_opportunities=6_000)
    opt = bd.BidOptimiser(prior=model)
    for day in range(2):
        tw.run_day(world, 0, day, opt)
    opt.model = None  # its own clicks are too few yet: the registered model prices them
    opp = world.opportunities(0, 2, 13)
    context = {"day": 2, "hour": 13, "weekday": 2, "segment": opp.segment, "device": opp.device,
               "budget": 400.0, "budget_left": 150.0, "value_per_conversion": 90.0}
    want = opt.answer(context)
    n = len(opp)
    request = {"hour": np.full(n, 13), "weekday": np.full(n, 2),
               "segment": np.array([bd.SEGMENTS[s] for s in opp.segment], dtype=object),
               "device": np.array([bd.DEVICES[d] for d in opp.device], dtype=object),
               "historical_cvr": opt.rates[opp.segment, opp.device], "campaign_age": np.full(n, opt.campaign_age),
               "hour_cpc": np.full(n, opt.hour_cpc[13]), "value_per_conversion": np.full(n, 90.0),
               "budget": np.full(n, 400.0), "budget_left": np.full(n, 150.0),
               "pacing_multiplier": np.full(n, opt.multiplier)}
    got = service.answer_rows(model, request)
    assert np.allclose(got["bid"], want.bid) and np.allclose(got["confidence"], want.confidence)
    assert got["reasons"][0] == "; ".join(want.reasons[0])


@pytest.mark.parametrize(("change", "says"), [
    (lambda f: f.drop(columns="hour_cpc"), "missing input 'hour_cpc'"),
    (lambda f: f.assign(segment=["loyal", "vip", "new"]), "unknown values ['vip']"),
    (lambda f: f.assign(hour=[12, 24, 3]), "'hour' must be finite and within [0, 23]"),
    (lambda f: f.assign(hour=[12.5, 2, 3]), "'hour' must be whole numbers"),
    (lambda f: f.assign(historical_cvr=[0.1, np.nan, 0.2]), "'historical_cvr' must be finite"),
    (lambda f: f.assign(budget_left=[600.0, 1.0, 1.0]), "'budget_left' exceeds 'budget'"),
    (lambda f: f.assign(budget=[0.0, 500.0, 300.0]), "must be > 0"),
    (lambda f: f.assign(pacing_multiplier=[9.0, 1.0, 1.0]), "'pacing_multiplier' must be finite and within"),
    (lambda f: f.assign(competitor_bid=[1.0, 2.0, 3.0]), "unknown inputs ['competitor_bid']"),
    (lambda f: f.assign(device=[1, 2, 3]), "'device' has unknown values"),
    (lambda f: f.iloc[:0], "the batch is empty"),
])
def test_bad_requests_are_refused_with_a_reason(model, change, says):
    with pytest.raises(RequestError) as refused:
        service.answer_rows(model, _columns(change(service.example_request())))
    assert says in str(refused.value)


def test_the_training_rows_carry_what_was_known_when_each_click_was_bought():
    # day 0: nothing known yet (the published rate); day 1: day 0's clicks alone
    clicks = np.array([[9, 0, 2, 1, 0, 1.0], [10, 0, 2, 1, 0, 1.0], [11, 1, 2, 1, 1, 0.0], [11, 1, 0, 0, 1, 0.0]])
    known = bd.rates_known_before(clicks)
    assert known[0] == known[1] == pytest.approx(bd.PRIOR_CVR)
    assert known[2] == pytest.approx(bd.segment_device_cvr(clicks[:2])[2, 1]) and known[2] > known[3]


def test_the_declared_inputs_are_what_the_service_reads():
    assert list(get("MKT-002").served_inputs) == list(service.INPUTS)
