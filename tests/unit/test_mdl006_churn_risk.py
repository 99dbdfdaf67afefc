"""MDL-006 on synthetic feature rows and on a tiny world's lake: what it learns (disengaged people
unsubscribe and complain more, beyond the days since their last open), how complaints it cannot
see are kept out of the complaint head, what it answers (risks per message and per 30 days, the
policy's action; bad requests refused with a reason), how the policy carries out its actions day
by day, and how the labels are cut from the lake's unsubscribes and feedback-loop reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.models.mdl006_churn_risk import model as mdl
from adaptive_delivery.delivery.models.mdl006_churn_risk import policy, service
from adaptive_delivery.delivery.models.mdl006_churn_risk.spec import SPEC
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import profile
from adaptive_delivery.platform.training.evaluation import spec_report

SEEN_PROVIDER, UNSEEN_PROVIDER = sorted(mdl.FEEDBACK_LOOP_PROVIDERS)[0], "gmail"


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Feature rows whose unsubscribes and complaints follow a person's open rate (one who never
    reads the mail minds it most), while the days since their last open say little."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.gamma(2.0, 3.0, n) for c in mdl.NUMERIC})
    received = rng.integers(1, 30, n)
    rate = rng.beta(1.0, 3.0, n)
    frame[mdl.RECEIVED] = received
    frame["subscriber_features__opens_30d"] = rng.binomial(received, rate)
    frame["subscriber_features__clicks_30d"] = rng.binomial(frame["subscriber_features__opens_30d"], 0.2)
    frame[mdl.DAYS_SINCE_OPEN] = rng.uniform(0, 20, n)
    dislike = 1 / (1 + np.exp(-(-4.0 - 6.0 * rate)))  # ~2% for a non-reader, ~0.05% for a keen one
    unsub = rng.random(n) < dislike
    complained = ~unsub & (rng.random(n) < dislike)
    provider = np.where(rng.random(n) < 0.5, SEEN_PROVIDER, UNSEEN_PROVIDER)
    seen = provider == SEEN_PROVIDER
    label = np.select([unsub & seen, unsub, complained & seen, ~seen],
                      [mdl.UNSUBSCRIBED, mdl.UNSUBSCRIBED_UNSEEN, mdl.COMPLAINED, mdl.COMPLAINT_UNSEEN], mdl.STAYED)
    frame["label"] = label
    frame["provider"] = provider
    for c in mdl.CATEGORICAL[:-1]:
        frame[c] = rng.choice(["a", "b", "c"], n)
    frame["event_timestamp"] = pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC")
    frame["message_id"] = [f"m{i}" for i in range(n)]
    frame["subscriber_id"] = [f"s{i}" for i in range(n)]
    return frame


def _bundle(data, model) -> TrainedModel:
    return TrainedModel(model_id="MDL-006", classes=mdl.CLASSES, features=list(data.X.columns),
                        categorical=list(data.categories), categories=data.categories, model=model)


@pytest.fixture(scope="module")
def trained() -> tuple[TrainedModel, pd.DataFrame]:
    data = mdl.dataset_from_frame(_frame(40_000, 0))
    return _bundle(data, mdl.fit(data, mdl.baseline_params(), profile("smoke"))), _frame(20_000, 1)


@pytest.mark.parametrize("learner", mdl.LEARNERS)
def test_each_learner_ranks_the_disengaged_above_the_sunset_rule(learner, trained):
    _, holdout = trained
    data = mdl.dataset_from_frame(_frame(40_000, 0))
    params = {"learner": learner, "c": 0.1} if learner == "logistic" else {"learner": learner}
    bundle = _bundle(data, mdl.fit(data, params, profile("smoke")))
    y = holdout["label"].to_numpy()
    ours = spec_report(SPEC, y, bundle.predict_proba(holdout))
    rule = spec_report(SPEC, y, mdl.sunset_rates(holdout))
    assert ours["risk_roc_auc"] > rule["risk_roc_auc"] + 0.1, (ours["risk_roc_auc"], rule["risk_roc_auc"])
    assert ours["unsubscribe_roc_auc"] > 0.65 and ours["unsubscribe_ece"] < 0.005


def test_complaints_unseen_are_neither_stays_nor_complaints_to_the_complaint_head(trained):
    bundle, holdout = trained
    proba = bundle.predict_proba(holdout)
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()
    # half the rows cannot show a complaint; had they been read as stays the head would predict
    # about half the rate the reporting providers show
    seen = ~np.isin(holdout["label"].to_numpy(), mdl.UNSEEN)
    observed = (holdout["label"].to_numpy()[seen] == mdl.COMPLAINED).mean()
    assert proba[:, mdl.COMPLAINED].mean() == pytest.approx(observed, rel=0.35)
    out = mdl.report(holdout["label"].to_numpy(), proba)
    assert out["complaint_positives"] == (holdout["label"] == mdl.COMPLAINED).sum()


def test_a_head_without_positives_predicts_the_smoothed_base_rate():
    data = mdl.dataset_from_frame(_frame(2_000, 4).assign(label=mdl.STAYED))
    model = mdl.fit(data, mdl.baseline_params(), profile("smoke"))
    proba = model.predict_proba(data.X)
    assert np.allclose(proba[:, mdl.UNSUBSCRIBED], 0.5 / 2_001)


def test_fit_refuses_unknown_parameters_and_learners():
    data = mdl.dataset_from_frame(_frame(500, 5))
    with pytest.raises(ValueError, match="unknown MDL-006 parameters"):
        mdl.fit(data, {"depth": 3}, profile("smoke"))
    with pytest.raises(ValueError, match="unknown MDL-006 learner"):
        mdl.fit(data, {"learner": "forest"}, profile("smoke"))


def test_never_opened_reads_as_the_whole_tenure():
    frame = pd.DataFrame({mdl.DAYS_SINCE_OPEN: [3.0, 999.0, np.nan], mdl.TENURE: [40.0, 40.0, 12.0]})
    assert mdl.days_since_open(frame).tolist() == [3.0, 40.0, 12.0]


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 200), st.floats(0, 200))
@settings(max_examples=200, deadline=None)
def test_thirty_day_risk_is_a_probability_rising_with_risk_and_cadence(p, q, m, k):
    risk = policy.thirty_day_risk(np.array([p, max(p, q)]), np.array([m, m]))
    assert 0.0 <= risk[0] <= risk[1] <= 1.0
    assert policy.thirty_day_risk(np.array([p]), np.array([min(m, k)]))[0] <= \
        policy.thirty_day_risk(np.array([p]), np.array([max(m, k)]))[0] + 1e-12
    assert policy.thirty_day_risk(np.array([p]), np.array([1.0]))[0] == pytest.approx(p, abs=1e-9)


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 0.01), st.floats(0, 1)), min_size=1, max_size=50))
@settings(max_examples=200, deadline=None)
def test_a_riskier_or_less_engaged_person_never_gets_a_milder_action(people):
    unsub, complaint, opens = (np.array(v) for v in zip(*people, strict=True))
    t = policy.RiskThresholds()
    base = policy.decide(unsub, policy.complaints_per_open(complaint, opens), t)
    severity = {policy.SEND: 0, policy.REDUCE: 1, policy.REPERMISSION: 2, policy.SUPPRESS: 3}
    for worse in (policy.decide(np.minimum(unsub * 1.5, 1), policy.complaints_per_open(complaint * 1.5, opens), t),
                  policy.decide(unsub, policy.complaints_per_open(complaint, opens / 2), t)):
        assert all(severity[w] >= severity[b] for w, b in zip(worse, base, strict=True))
    ratio = policy.complaints_per_open(complaint, opens)
    assert (base[ratio >= t.suppress_complaints_per_open] == policy.SUPPRESS).all()
    assert np.isfinite(ratio).all()  # no one's open rate reads as none


def test_thresholds_are_in_range():
    with pytest.raises(ValueError, match="suppress_complaints_per_open"):
        policy.RiskThresholds(suppress_complaints_per_open=0.0)


def test_the_list_policy_carries_out_each_action_day_by_day():
    people = ["keep", "less", "ask", "stop", "ask_again"]
    acts = [policy.SEND, policy.REDUCE, policy.REPERMISSION, policy.SUPPRESS, policy.REPERMISSION]
    plan = policy.ListPolicy()
    plan.set_actions(people, acts)
    sent = {p: [] for p in people}
    for day in range(7):
        ids = people + ["stop"]  # a transactional message to the suppressed person
        marketing = np.array([True] * len(people) + [False])
        keep = plan.keep(day, ids, marketing)
        for s, k, m in zip(ids, keep, marketing, strict=True):
            if k and m:
                sent[s].append(day)
        assert keep[-1]  # transactional mail is owed
        if day == 1:
            plan.opened(["ask_again"])  # confirms the re-permission request of day 0
    assert sent["keep"] == list(range(7)) and sent["stop"] == []
    assert sent["less"] == [0, 3, 6]  # one message in REDUCED_EVERY_DAYS days
    assert sent["ask"] == [0]  # asked on day 0, no open within the wait: suppressed
    assert sent["ask_again"] == [0, 2, 3, 4, 5, 6]  # confirmed on day 1: mail resumes the next day


def _request(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    columns = {c: frame[c].to_numpy() for c in mdl.FEATURES}
    columns["subscriber_id"] = frame["subscriber_id"].to_numpy(dtype=object)
    return columns


def test_the_service_answers_as_the_bundle_and_the_policy_do_and_refuses_bad_requests(trained):
    bundle, holdout = trained
    rows = holdout.head(40)
    out = service.answer(bundle, _request(rows))
    proba = bundle.predict_proba(rows)
    assert np.allclose(out["p_unsubscribe"], proba[:, mdl.UNSUBSCRIBED])
    assert np.allclose(out["p_complaint_30d"], policy.thirty_day_risk(proba[:, mdl.COMPLAINED], rows[mdl.RECEIVED]))
    ratio = policy.complaints_per_open(proba[:, mdl.COMPLAINED], mdl.open_rate(rows))
    assert np.allclose(out["complaints_per_open"], ratio)
    assert out["subscriber_id"].tolist() == rows["subscriber_id"].tolist() and set(service.OUTPUTS) == set(out)
    assert set(out["action"]) <= set(policy.ACTIONS)
    strict = service.answer(bundle, {**_request(rows), "suppress_complaints_per_open": np.array([1e-6])})
    assert (strict["action"] == "suppress").all()
    planned = service.answer(bundle, {**_request(rows), "messages_30d": np.full(40, 60.0)})
    assert (planned["p_complaint_30d"] >= out["p_complaint_30d"] - 1e-12).all()

    for bad, reason in (({"suppress_complaints_per_open": np.array([2.0])}, "between"),
                        ({"suppress_complaints_per_open": np.array([0.1, 0.2])}, "one value"),
                        ({"messages_30d": np.full(40, -1.0)}, "messages_30d"),
                        ({mdl.RECEIVED: np.array(["x"] * 40, dtype=object)}, "must be numeric")):
        with pytest.raises(RequestError, match=reason):
            service.answer(bundle, {**_request(rows), **bad})
    missing = _request(rows)
    del missing[mdl.DAYS_SINCE_OPEN]
    with pytest.raises(RequestError, match="days_since_last_open"):
        service.answer(bundle, missing)


def test_labels_are_the_lakes_unsubscribes_and_reported_complaints_within_the_window(tiny_world):
    labels = mdl.labels_from_lake(tiny_world / "lake")
    lake = EventsLake(tiny_world / "lake")
    sends = lake.read("sends", columns=["message_id", "send_ts"]).to_pandas()
    outcomes = lake.read("outcomes", columns=["message_id", "status"]).to_pandas()
    accepted = set(outcomes.loc[outcomes["status"] == "accepted", "message_id"])
    assert set(labels["message_id"]) <= accepted and labels["message_id"].is_unique
    assert labels["send_ts"].max() <= sends["send_ts"].max() - mdl.ATTRIBUTION
    unseen = ~labels["provider"].isin(mdl.FEEDBACK_LOOP_PROVIDERS)
    assert (labels.loc[unseen, "label"].isin(mdl.UNSEEN)).all()
    assert not labels.loc[~unseen, "label"].isin(mdl.UNSEEN).any()

    import pyarrow.dataset as ds

    truth = ds.dataset(tiny_world / "truth" / "messages", format="parquet", partitioning="hive").to_table(
        columns=["message_id", "complained"]).to_pandas()
    joined = labels.merge(truth, on="message_id")
    assert len(joined) == len(labels)
    # where complaints are reported the sender's complaint labels are the truth
    assert ((joined["label"] == mdl.COMPLAINED) == (joined["complained"] & ~unseen.to_numpy())).all()
    engaged = lake.read("engagement", columns=["message_id", "event_type"]).to_pandas()
    unsubscribed = set(engaged.loc[engaged["event_type"] == "unsubscribe", "message_id"])
    assert (labels["message_id"].isin(unsubscribed) == mdl.unsubscribed(labels["label"])).all()
    assert (labels["label"] == mdl.UNSUBSCRIBED).any() and (labels["label"] == mdl.UNSUBSCRIBED_UNSEEN).any()


def test_a_model_that_only_knows_the_provider_ranks_no_risk_on_the_rows_the_metrics_read():
    """Unsubscribes where complaints go unseen are kept apart: among the known rows they would be
    positives without negatives, and knowing the provider alone would rank them."""
    y = np.array([mdl.STAYED] * 50 + [mdl.UNSUBSCRIBED] * 5 + [mdl.COMPLAINT_UNSEEN] * 50
                 + [mdl.UNSUBSCRIBED_UNSEEN] * 5)
    knows_provider = np.where(np.arange(len(y)) >= 55, 0.01, 0.001)
    proba = np.column_stack([1 - knows_provider, knows_provider, np.zeros(len(y))])
    out = spec_report(SPEC, y, proba)
    assert out["risk_roc_auc"] == 0.5 and out["unsubscribe_roc_auc"] == 0.5


def test_the_loop_benchmark_brings_a_morning_forward_and_compares_at_equal_opens_lost():
    from mdl006_in_loop import SUBSCRIBER, SUNSET_DAYS, advance, at_equal_opens_lost

    morning = pd.DataFrame({f"{SUBSCRIBER}{c}": [2.0, mdl.NEVER_DAYS] for c in (
        "days_since_last_open", "days_since_last_click", "days_since_last_delivery", "tenure_days")}
        | {f"{SUBSCRIBER}{c}": [3, 0] for c in ("emails_received_30d", "emails_received_total", "opens_30d")},
        index=["a", "b"])
    sends = pd.DataFrame({"subscriber_id": ["a", "b", "b"]})
    nxt = advance(morning, sends, pd.Series(["b"]))
    assert nxt[mdl.RECEIVED].tolist() == [4, 2] and nxt[f"{SUBSCRIBER}opens_30d"].tolist() == [3, 1]
    # a day older where something happened before; "never" stays never until it happens
    assert nxt[mdl.DAYS_SINCE_OPEN].tolist() == [3.0, 0.5]
    assert nxt[f"{SUBSCRIBER}days_since_last_click"].tolist() == [3.0, mdl.NEVER_DAYS]

    row = pd.Series({"none_opens_lost": 0.0, "none_expected_complaint_rate": 0.0005,
                     **{f"sunset_{n}_opens_lost": 0.1 * k for k, n in enumerate(SUNSET_DAYS, 1)},
                     **{f"sunset_{n}_expected_complaint_rate": 0.0005 - 0.00005 * k for k, n in enumerate(SUNSET_DAYS, 1)},
                     "mdl006_q5_opens_lost": 0.15})
    assert at_equal_opens_lost(row, "mdl006_q5") == pytest.approx(0.0005 - 0.000075)


def test_tuning_folds_may_lack_a_rare_class_the_spec_names():
    from dataclasses import replace

    from adaptive_delivery.platform.training.dataset import TrainingDataError
    from adaptive_delivery.platform.training.steps import cv_fold_scores

    frame = _frame(6_000, 6)
    early = np.arange(len(frame)) < 5_000  # complaints only in the last block: every fold's past lacks them
    frame.loc[early & (frame["label"] == mdl.COMPLAINED).to_numpy(), "label"] = mdl.STAYED
    data = mdl.dataset_from_frame(frame)
    scores = cv_fold_scores(SPEC, data, mdl.baseline_params(), profile("smoke"))
    assert scores and all(np.isfinite(scores))
    with pytest.raises(TrainingDataError, match="no cross-validation fold holds every class"):
        cv_fold_scores(replace(SPEC, rare_classes=()), data, mdl.baseline_params(), profile("smoke"))


def test_a_training_window_without_a_rare_class_still_trains_but_not_one_without_a_common_class():
    from adaptive_delivery.platform.training.dataset import TrainingDataError, check_training_set

    frame = _frame(3_000, 7)
    frame.loc[frame["label"] == mdl.COMPLAINED, "label"] = mdl.STAYED
    # the only unsubscribes are where complaints go unseen: still unsubscribes
    frame.loc[frame["label"] == mdl.UNSUBSCRIBED, "label"] = mdl.UNSUBSCRIBED_UNSEEN
    data = mdl.dataset_from_frame(frame)
    holdout = np.arange(len(frame)) >= 2_500
    check_training_set(data, SPEC.classes, 1_000, holdout, SPEC.partial_labels, SPEC.rare_classes)
    with pytest.raises(TrainingDataError, match="complained"):
        check_training_set(data, SPEC.classes, 1_000, holdout, SPEC.partial_labels)
    data.y[np.isin(data.y, mdl.UNSEEN[1:])] = mdl.STAYED
    with pytest.raises(TrainingDataError, match="unsubscribed"):
        check_training_set(data, SPEC.classes, 1_000, holdout, SPEC.partial_labels, SPEC.rare_classes)
