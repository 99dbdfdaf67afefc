"""The model-spec contract, MDL-001's labels, the training-set checks, the ensemble and the metrics."""

import numpy as np
import pandas as pd
import pytest

from adaptive_delivery.delivery.models.mdl001_deliverability.model import (
    ACCEPTED_UNSEEN,
    CLASSES,
    DeliverabilityEnsemble,
    EnsembleConfig,
    labels_from_lake,
)
from adaptive_delivery.platform import spec as specs
from adaptive_delivery.platform.training.dataset import (
    Dataset,
    TrainingDataError,
    check_training_set,
    encode,
    time_split,
)
from adaptive_delivery.platform.training.evaluation import (
    classification_report,
    precision_at_recall,
)


def test_registry_lists_mdl_001_with_its_contract():
    s = specs.get("mdl-001")
    assert s.feature_service == "mdl_001_deliverability" and s.classes == CLASSES
    assert s.schedule is specs.Schedule.CONTINUOUS and s.schedule.cron == "@hourly"
    assert s.gates[0].metric == s.primary_metric == "macro_roc_auc" and s.gates[0].max_drop == 0.02
    assert s.registered_name == "mdl-001-deliverability-predictor"
    # every model pyproject.toml declares, and nothing else (a new model adds its line there only)
    import tomllib
    from pathlib import Path

    declared = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    ids = sorted(declared["project"]["entry-points"][specs.ENTRY_POINT_GROUP])
    assert {"MDL-001", "MDL-003", "MDL-007", "MDL-009", "MKT-001"} <= set(ids)
    assert [x.model_id for x in specs.all_specs()] == ids
    with pytest.raises(KeyError, match="unknown model"):
        specs.get("MDL-999")


def test_labels_are_the_final_outcome_of_each_message(tiny_world):
    from adaptive_delivery.delivery.events.lake import EventsLake

    labels = labels_from_lake(tiny_world / "lake")
    assert set(labels["label"]) == {*range(5), ACCEPTED_UNSEEN}
    out = EventsLake(tiny_world / "lake").read("outcomes").to_pandas()
    final = out.sort_values("event_ts").groupby("message_id").tail(1).set_index("message_id")
    sample = labels.sample(300, random_state=0)
    for r in sample.itertuples():
        f = final.loc[r.message_id]
        expected = {"inbox": 0, "spam": 1}.get(f.placement, ACCEPTED_UNSEEN) if f.status == "accepted" else (
            {"soft": 2, "hard": 3}[f.bounce_class] if f.status == "bounced" else 4)
        assert r.label == expected
    # placement is seen for the panel's few percent of accepted mail, the same subscribers every day
    accepted = labels[labels["label"].isin((0, 1, ACCEPTED_UNSEEN))]
    seen = accepted["label"] != ACCEPTED_UNSEEN
    assert 0.01 < seen.mean() < 0.06
    panel = set(accepted.loc[seen, "subscriber_id"])
    assert not panel & set(accepted.loc[~seen, "subscriber_id"])
    assert (labels["event_timestamp"] == labels["send_ts"]).all()


def test_partial_labels_weigh_the_seen_members_for_their_group():
    from adaptive_delivery.platform.training.evaluation import label_weights

    y = np.array([0, 1, ACCEPTED_UNSEEN, ACCEPTED_UNSEEN, ACCEPTED_UNSEEN, 4, 2])
    known, weight = label_weights(y, 5, {ACCEPTED_UNSEEN: (0, 1)})
    other = ACCEPTED_UNSEEN + 1  # a second code for the same classes (say, "unseen but opened") weighs as one
    split = np.where(np.arange(len(y)) == 3, other, y)
    np.testing.assert_array_equal(label_weights(split, 5, {ACCEPTED_UNSEEN: (0, 1), other: (0, 1)})[1], weight)
    assert known.tolist() == [True, True, False, False, False, True, True]
    assert weight.tolist() == [2.5, 2.5, 0, 0, 0, 1, 1] and weight.sum() == len(y)
    with pytest.raises(ValueError, match="neither classes nor declared"):
        label_weights(y, 5)
    # a model that ranks well on the seen rows scores the same whichever unseen rows surround them
    rng = np.random.default_rng(0)
    truth = rng.choice(5, size=4_000, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    proba = np.eye(5)[truth] * 0.5 + rng.dirichlet(np.ones(5), size=len(truth)) * 0.5
    hidden = np.where(np.isin(truth, (0, 1)) & (rng.random(len(truth)) > 0.3), ACCEPTED_UNSEEN, truth)
    full = classification_report(truth, proba, CLASSES)
    partial = classification_report(hidden, proba, CLASSES, {ACCEPTED_UNSEEN: (0, 1)})
    assert abs(partial["macro_roc_auc"] - full["macro_roc_auc"]) < 0.02
    assert abs(partial["ece"] - full["ece"]) < 0.03


def _synthetic(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    logits = np.stack([2 * x1, x2, -x1, -2 * x2, 0.5 * x1 * x2], axis=1)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1).clip(0, 4)
    X = pd.DataFrame({"x1": x1, "x2": x2, "noise": rng.normal(size=n)})
    X.loc[rng.random(n) < 0.05, "x2"] = np.nan  # missing values must be handled
    return X, y, p


def test_ensemble_learns_and_its_network_loss_falls():
    X, y, truth = _synthetic()
    model = DeliverabilityEnsemble(EnsembleConfig(nn_epochs=6)).fit(X[:2400], y[:2400])
    assert model.losses[-1] < model.losses[0]
    proba = model.predict_proba(X[2400:])
    assert proba.shape == (600, 5) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    ours = classification_report(y[2400:], proba, CLASSES)["macro_roc_auc"]
    oracle = classification_report(y[2400:], truth[2400:], CLASSES)["macro_roc_auc"]
    assert ours > 0.6 and oracle >= ours - 0.05
    assert next(iter(model.feature_importance())) in {"x1", "x2"}
    # predict_proba makes the heads' inputs once for both: it answers as the heads do one by one
    fate, spam = model.predict_fates(X[2400:]), model.predict_spam_given_accepted(X[2400:])
    assert np.array_equal(proba, np.column_stack([fate[:, 0] * (1 - spam), fate[:, 0] * spam, fate[:, 1:]]))


def test_metrics_on_known_cases():
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    perfect = np.eye(5)[y]
    rep = classification_report(y, perfect, CLASSES)
    assert rep["macro_roc_auc"] == 1.0 and rep["macro_f1"] == 1.0 and rep["ece"] == pytest.approx(0.0)
    assert precision_at_recall(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx(2 / 3)


def _dataset(labels):
    X = pd.DataFrame({"a": np.arange(len(labels), dtype=float)})
    keys = pd.DataFrame({"event_timestamp": pd.date_range("2026-03-01", periods=len(labels), freq="h", tz="UTC")})
    return Dataset(X, np.asarray(labels), keys, {})


def test_training_set_checks_stop_with_reasons():
    ok = _dataset([i % 5 for i in range(24 * 20)])
    hold = time_split(ok.keys, 7)
    check_training_set(ok, CLASSES, 100, hold)
    assert hold.sum() == 24 * 7
    with pytest.raises(TrainingDataError, match="too small"):
        check_training_set(ok, CLASSES, 10_000, hold)
    no_block = _dataset([i % 4 for i in range(24 * 20)])
    with pytest.raises(TrainingDataError, match=r"missing from the training rows: \['block'\]"):
        check_training_set(no_block, CLASSES, 100, time_split(no_block.keys, 7))
    with pytest.raises(TrainingDataError, match="missing feature columns"):
        encode(pd.DataFrame({"a": [1.0]}), ["a", "b"], [])


def test_categorical_encoding_is_stable_between_training_and_serving():
    train, cats = encode(pd.DataFrame({"dom": ["gmail.com", "yahoo.com", None]}), ["dom"], ["dom"])
    serve, _ = encode(pd.DataFrame({"dom": ["yahoo.com", "unseen.example"]}), ["dom"], ["dom"], cats)
    assert list(train["dom"]) == [0.0, 1.0, -1.0] and list(serve["dom"]) == [1.0, -1.0]
