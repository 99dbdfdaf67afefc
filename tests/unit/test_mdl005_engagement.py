"""MDL-005 on synthetic feature rows and on a tiny world's lake: what it reads (heatmap elements,
the habit at the send hour), what it learns (a person's habit at the send hour ranks opens better
than their overall open rate), what it answers (P(click) never above P(open), bad requests refused
with a reason), and how its labels are cut from the engagement events (people's opens and clicks
within the attribution window; machine opens are not engagement)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.models.mdl005_engagement import model as mdl
from adaptive_delivery.delivery.models.mdl005_engagement import service
from adaptive_delivery.delivery.models.mdl005_engagement.spec import SPEC
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import profile
from adaptive_delivery.platform.training.dataset import encode
from adaptive_delivery.platform.training.evaluation import binary_calibration_error, spec_report


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Feature rows whose opens follow each person's habit at the send hour, not their open rate."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in mdl.NUMERIC if "[" not in c})
    frame["subscriber_features__emails_received_30d"] = rng.integers(0, 30, n)
    frame["subscriber_features__opens_30d"] = rng.binomial(frame["subscriber_features__emails_received_30d"], 0.2)
    frame["subscriber_features__clicks_30d"] = rng.binomial(frame["subscriber_features__opens_30d"], 0.2)
    hour = rng.integers(0, 24, n)
    frame["temporal_features__hour_of_day"] = hour
    peak = rng.integers(0, 24, n)  # each person reads mail around one hour
    distance = np.minimum((np.arange(24)[None, :] - peak[:, None]) % 24, (peak[:, None] - np.arange(24)[None, :]) % 24)
    heat = np.exp(-distance / 2.0)
    heat /= heat.sum(axis=1, keepdims=True)
    frame[mdl.OPEN_HEATMAP] = list(heat)
    frame[mdl.CLICK_HEATMAP] = list(heat)
    at_hour = heat[np.arange(n), hour]
    p_open = 1 / (1 + np.exp(-(-1.5 + 12.0 * at_hour)))
    opened = rng.random(n) < p_open
    clicked = opened & (rng.random(n) < 0.3)
    frame["label"] = np.where(clicked, mdl.CLICKED, np.where(opened, mdl.OPENED, 0))
    for c in mdl.CATEGORICAL:
        frame[c] = rng.choice(["a", "b", "c"], n)
    frame["event_timestamp"] = pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC")
    frame["message_id"] = [f"m{i}" for i in range(n)]
    frame["subscriber_id"] = [f"s{i}" for i in range(n)]
    return frame


@pytest.fixture(scope="module")
def trained() -> tuple[TrainedModel, pd.DataFrame]:
    data = mdl.dataset_from_frame(_frame(6_000, 0))
    model = mdl.fit(data, mdl.baseline_params(), profile("smoke"))
    bundle = TrainedModel(model_id="MDL-005", classes=mdl.CLASSES, features=list(data.X.columns),
                          categorical=list(data.categories), categories=data.categories, model=model)
    return bundle, _frame(3_000, 1)


def test_a_feature_named_with_an_index_reads_that_element_of_an_array_feature():
    frame = pd.DataFrame({"heat": [np.array([0.1, 0.9]), None, np.array([0.5, 0.5])], "x": [1.0, 2.0, 3.0]})
    X, _ = encode(frame, ["heat[1]", "x", "heat[0]"], [])
    assert X["heat[1]"].tolist()[::2] == [0.9, 0.5] and np.isnan(X["heat[1]"][1])
    assert X["heat[0]"].tolist()[::2] == [0.1, 0.5] and X["x"].tolist() == [1.0, 2.0, 3.0]
    as_matrix, _ = encode({"heat": np.array([[0.1, 0.9], [0.3, 0.7]])}, ["heat[1]"], [])
    assert as_matrix["heat[1]"].tolist() == [0.9, 0.7]


def test_the_habit_at_the_send_hour_is_derived_from_the_heatmap_and_the_hour():
    frame = _frame(50, 3)
    X, _ = encode(frame, mdl.FEATURES, mdl.CATEGORICAL)
    derived = mdl.with_derived(X)
    heat = np.vstack(frame[mdl.OPEN_HEATMAP].to_numpy())
    hour = frame["temporal_features__hour_of_day"].to_numpy()
    assert np.allclose(derived["open_share_send_hour"], heat[np.arange(50), hour])
    ahead = sum(heat[np.arange(50), (hour + k) % 24] for k in range(3))
    assert np.allclose(derived["open_share_next_3h"], ahead)


def test_the_model_learns_the_habit_and_beats_the_open_rate_rule(trained):
    bundle, holdout = trained
    y = holdout["label"].to_numpy()
    ours = spec_report(SPEC, y, bundle.predict_proba(holdout))
    rule = spec_report(SPEC, y, mdl.historical_rates(holdout))
    assert ours["open_roc_auc"] > rule["open_roc_auc"] + 0.1, (ours["open_roc_auc"], rule["open_roc_auc"])
    assert ours["open_ece"] < 0.05 and ours["open_ece"] < rule["open_ece"]
    importance = bundle.feature_importance()
    assert max(importance, key=importance.get) in {"open_share_send_hour", "open_share_next_3h"}


def test_p_click_is_never_above_p_open_and_the_classes_sum_to_one(trained):
    bundle, holdout = trained
    for proba in (bundle.predict_proba(holdout), mdl.historical_rates(holdout)):
        p_open, p_click = mdl.open_and_click(proba)
        assert np.allclose(proba.sum(axis=1), 1.0) and (p_click <= p_open + 1e-12).all() and (proba >= 0).all()


def test_the_report_scores_opens_and_clicks_against_their_own_outcomes():
    y = np.array([0, 1, 2, 0, 2, 1])
    perfect = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=float)
    out = mdl.report(y, perfect)
    assert out["open_roc_auc"] == 1.0 and out["click_roc_auc"] == 1.0 and out["open_ece"] == 0.0
    reversed_ = mdl.report(y, perfect[:, ::-1])
    assert reversed_["click_roc_auc"] < 0.5 and reversed_["open_ece"] > 0.3


def test_binary_calibration_error_is_the_weighted_gap_of_each_bin():
    p = np.array([0.1, 0.1, 0.9, 0.9])
    assert binary_calibration_error(np.array([0, 0, 1, 1]), p) == pytest.approx(0.1)
    assert binary_calibration_error(np.array([1, 1, 0, 0]), p) == pytest.approx(0.9)


def _request(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    columns = {c: frame[c].to_numpy() for c in mdl.FEATURES if "[" not in c}
    for base in (mdl.OPEN_HEATMAP, mdl.CLICK_HEATMAP):
        columns[base] = np.vstack(frame[base].to_numpy())
    columns["message_id"] = frame["message_id"].to_numpy(dtype=object)
    return columns


def test_the_service_answers_as_the_bundle_does_and_refuses_bad_requests_with_a_reason(trained):
    bundle, holdout = trained
    rows = holdout.head(40)
    out = service.answer(bundle, _request(rows))
    p_open, p_click = mdl.open_and_click(bundle.predict_proba(rows))
    assert np.allclose(out["p_open"], p_open) and np.allclose(out["p_click"], p_click)
    assert out["message_id"].tolist() == rows["message_id"].tolist()
    assert set(service.OUTPUTS) == set(out)

    bad = _request(rows)
    bad[mdl.OPEN_HEATMAP] = bad[mdl.OPEN_HEATMAP][:, :12]
    with pytest.raises(RequestError, match=r"shape \[n, 24\]"):
        service.answer(bundle, bad)
    missing = _request(rows)
    del missing[mdl.CLICK_HEATMAP]
    with pytest.raises(RequestError, match="click_hour_heatmap"):
        service.answer(bundle, missing)
    text = _request(rows)
    text["subscriber_features__opens_30d"] = text["subscriber_features__opens_30d"].astype(str)
    with pytest.raises(RequestError, match="must be numeric"):
        service.answer(bundle, text)


def test_labels_count_people_not_machines_within_the_window(tiny_world):
    labels = mdl.labels_from_lake(tiny_world / "lake")
    lake = EventsLake(tiny_world / "lake")
    sends = lake.read("sends", columns=["message_id", "send_ts"]).to_pandas()
    outcomes = lake.read("outcomes", columns=["message_id", "status"]).to_pandas()
    accepted = set(outcomes.loc[outcomes["status"] == "accepted", "message_id"])
    assert set(labels["message_id"]) <= accepted and labels["message_id"].is_unique
    assert labels["send_ts"].max() <= sends["send_ts"].max() - mdl.ATTRIBUTION  # every label has matured
    assert set(np.unique(labels["label"])) == {0, mdl.OPENED, mdl.CLICKED}

    import pyarrow.dataset as ds

    truth = ds.dataset(tiny_world / "truth" / "messages", format="parquet", partitioning="hive").to_table(
        columns=["message_id", "human_open", "clicked"]).to_pandas()
    joined = labels.merge(truth, on="message_id")
    assert len(joined) == len(labels)
    # the twin's people open within the window, so the sender's labels are the truth
    assert ((joined["label"] >= mdl.OPENED) == joined["human_open"]).all()
    assert ((joined["label"] == mdl.CLICKED) == joined["clicked"]).all()
    machine = lake.read("engagement", columns=["message_id", "machine_open"]).to_pandas()
    only_machine = set(machine.loc[machine["machine_open"], "message_id"]) - set(truth.loc[truth["human_open"], "message_id"])
    assert (labels.loc[labels["message_id"].isin(only_machine), "label"] == 0).all() and only_machine & set(labels["message_id"])


def test_the_history_bound_ceiling_learns_each_person_from_their_own_matured_history():
    from mdl005_ceiling import history_ceiling

    rng = np.random.default_rng(0)
    people, per_person = 600, 12
    propensity = rng.normal(-1.3, 1.2, people)
    rows = pd.DataFrame({"subscriber_id": np.repeat([f"s{i}" for i in range(people)], per_person),
                         "day": np.tile(np.arange(per_person), people)})
    logit = np.repeat(propensity, per_person)
    rows["subscriber_engagement"] = 1 / (1 + np.exp(-logit))
    rows["p_open_inbox"] = rows["subscriber_engagement"]  # no offsets: the propensity alone
    rows["seen_p_open_if_accepted"] = rows["p_open_inbox"]  # every message reaches the inbox
    rows["label"] = np.where(rng.random(len(rows)) < rows["p_open_inbox"], mdl.OPENED, 0)
    rows["event_timestamp"] = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(rows["day"], unit="D")
    rows["hold"] = rows["day"] >= 10
    frame = rows.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
    ceiling = history_ceiling(frame)
    hold = frame["hold"].to_numpy()
    assert np.isnan(ceiling[~hold]).all() and np.isfinite(ceiling[hold]).all()
    truth = frame["p_open_inbox"].to_numpy()[hold]
    # eight matured messages of history (days 0-7 before a send on day 10 or 11) place each person
    # far better than the population's prior alone, and never better than knowing the propensity
    assert np.corrcoef(ceiling[hold], truth)[0, 1] > 0.7
    y = frame["label"].to_numpy()[hold] >= mdl.OPENED
    assert roc_auc_score(y, truth) > roc_auc_score(y, ceiling[hold]) > 0.6
    # history newer than the lag is not used: with a 10-day lag a send sees at most its first day or two
    short = history_ceiling(frame, lag_hours=24 * 10)
    assert np.corrcoef(short[hold], truth)[0, 1] < np.corrcoef(ceiling[hold], truth)[0, 1]
