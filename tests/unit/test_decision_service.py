"""The decision service's request checks and spec §6.1 response, without a server."""

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_delivery.delivery.decisions.service import RequestError, decision_frame, feature_rows
from adaptive_delivery.platform.bundle import TrainedModel

CLASSES = ("inbox", "spam", "soft_bounce", "hard_bounce", "block")


class _Fixed:
    """A model answering fixed probabilities, so the response mapping can be checked exactly."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, dtype=float)

    def predict_proba(self, X):
        return np.repeat(self.rows[:1], len(X), axis=0) if len(self.rows) == 1 else self.rows[: len(X)]


def _bundle(rows):
    return TrainedModel("MDL-001", CLASSES, ["a", "dom"], ["dom"], {"dom": ["gmail.com"]}, _Fixed(rows))


def test_valid_columns_become_rows_with_message_ids():
    rows, ids = feature_rows({"a": [1, 2.5], "dom": ["gmail.com", "x.example"], "message_id": ["m1", "m2"]},
                             ["a", "dom"], ["dom"])
    assert list(rows["a"]) == [1.0, 2.5] and list(rows["dom"]) == ["gmail.com", "x.example"] and ids == ["m1", "m2"]
    assert feature_rows({"a": [3], "dom": ["y"]}, ["a", "dom"], ["dom"])[1] == ["0"]


@pytest.mark.parametrize(("columns", "message"), [
    ({}, "no inputs"),
    ({"a": [1, 2], "dom": ["x"]}, "different lengths"),
    ({"a": [], "dom": []}, "empty"),
    ({"a": [1]}, r"missing inputs: \['dom'\]"),
    ({"a": [1], "dom": ["x"], "colour": ["red"]}, "unknown inputs"),
    ({"a": ["high"], "dom": ["x"]}, "'a' must be numeric"),
    ({"a": ["1.5"], "dom": ["x"]}, "'a' must be numeric"),  # float() would take it
    ({"a": [1], "dom": [7]}, "'dom' is text"),
    ({"a": [1], "dom": ["x"], "message_id": [3]}, "'message_id' is text"),
    ({"a": [float("nan")], "dom": ["x"]}, "NaN or infinite"),
    ({"a": [[1, 2]], "dom": ["x"]}, "one value per message"),
    ({"a": [1e39], "dom": ["x"]}, "beyond"),
    ({"a": [-3.5e38], "dom": ["x"]}, "beyond"),
])
def test_malformed_requests_are_refused_with_a_reason(columns, message):
    with pytest.raises(RequestError, match=message):
        feature_rows(columns, ["a", "dom"], ["dom"])


def test_oversized_batches_are_refused():
    with pytest.raises(RequestError, match="exceeds the limit of 10"):
        feature_rows({"a": list(range(11)), "dom": ["x"] * 11}, ["a", "dom"], ["dom"], max_batch=10)


def test_response_carries_probabilities_action_reason_risk_confidence_and_version():
    proba = [[0.9, 0.05, 0.02, 0.02, 0.01], [0.1, 0.1, 0.1, 0.6, 0.1], [0.2, 0.7, 0.05, 0.03, 0.02]]
    rows = pd.DataFrame({"a": [1.0, 2.0, 3.0], "dom": ["gmail.com"] * 3})
    out = decision_frame(_bundle(proba), rows, ["m1", "m2", "m3"], "7")
    assert list(out["action"]) == ["send", "skip", "defer"]
    assert list(out["reason"]) == ["Good inbox probability", "High bounce/block risk", "High spam folder risk"]
    assert np.allclose(out["p_hard_bounce"], [0.02, 0.6, 0.03]) and np.allclose(out["confidence"], [0.9, 0.6, 0.7])
    assert np.allclose(out["risk_score"], [0.1, 0.7, 0.7]) and set(out["model_version"]) == {"7"}
    assert list(out["message_id"]) == ["m1", "m2", "m3"]


# ---- entity-key requests ---------------------------------------------------------------------
from adaptive_delivery.delivery.decisions import entities  # noqa: E402


def _keys(n: int = 3) -> dict:
    return {"subscriber_id": [f"s{i}" for i in range(n)], "sending_domain": ["mail.a.example"] * n,
            "sending_ip": ["198.51.100.1"] * n, "provider": ["gmail"] * n, "content_id": ["c1"] * n,
            "send_rate_per_min": [10.0] * n}


def test_entity_requests_are_told_apart_from_feature_requests():
    assert entities.is_entity_request(_keys())
    assert not entities.is_entity_request({"provider": ["gmail"], "send_rate_per_min": [1.0]})


def test_entity_messages_fill_the_documented_defaults():
    got = entities.entity_messages(_keys(2), now=1_775_000_000.0)
    assert got["message_id"].tolist() == ["0", "1"]
    assert (got["send_ts"] == pd.Timestamp(1_775_000_000, unit="s", tz="UTC")).all()  # default: when it arrives
    assert got["is_transactional"].tolist() == [0.0, 0.0]  # default campaign type: marketing
    cols = {**_keys(2), "campaign_type": [b"transactional", "marketing"], "send_ts": [0, 3600], "message_id": ["a", "b"]}
    got = entities.entity_messages(cols)
    assert got["is_transactional"].tolist() == [1.0, 0.0] and got["send_ts"].dt.hour.tolist() == [0, 1]
    assert got["message_id"].tolist() == ["a", "b"]


@pytest.mark.parametrize("change, message", [
    ({"send_rate_per_min": None}, "missing ['send_rate_per_min']"),
    ({"content_id": ["c1", None, "c3"]}, "must be a non-empty string"),
    ({"sending_ip": ["1", " ", "3"]}, "must be a non-empty string"),
    ({"send_rate_per_min": [1.0, float("nan"), 2.0]}, "must be finite"),
    ({"send_ts": [1.0, -1.0, 2.0]}, "must be finite and ≥ 0"),
    ({"send_ts": ["yesterday", "x", "y"]}, "must be numeric"),
    ({"send_ts": [1.0, 1e10, 2.0]}, "up to 9223372035 (year 2262); rows [1]"),  # no timestamp holds it: 400, not 500
    ({"provider": ["gmail"]}, "different lengths"),
    ({"engagement_score": [1.0, 2.0, 3.0]}, "not both"),
])
def test_malformed_entity_requests_are_refused_with_a_reason(change, message):
    cols = {k: v for k, v in {**_keys(), **change}.items() if v is not None}
    with pytest.raises(RequestError, match=re.escape(message)):
        entities.entity_messages(cols)


def test_oversized_and_empty_entity_batches_are_refused():
    with pytest.raises(RequestError, match="exceeds the limit"):
        entities.entity_messages(_keys(5), max_batch=4)
    with pytest.raises(RequestError, match="empty"):
        entities.entity_messages({k: [] for k in _keys()})


@given(st.lists(st.floats(min_value=0, max_value=entities.LAST_SECOND), min_size=1, max_size=50))
def test_send_times_become_the_moments_pandas_reads(seconds):
    got = entities.message_columns({**_keys(len(seconds)), "send_ts": seconds})["send_ts"]
    want = pd.to_datetime(np.asarray(seconds), unit="s").to_numpy(dtype="datetime64[ns]")
    assert np.abs(got.astype(np.int64) - want.astype(np.int64)).max() <= 1  # nanoseconds


def test_content_the_pre_send_check_failed_is_held_and_a_bad_score_refused():
    proba = [[0.9, 0.05, 0.02, 0.02, 0.01]] * 3
    features = ["a", "content_features__content_spam_risk", "dom"]
    bundle = TrainedModel("MDL-001", CLASSES, features, ["dom"], {"dom": ["gmail.com"]}, _Fixed(proba))
    rows = pd.DataFrame({"a": [1.0] * 3, "content_features__content_spam_risk": [-1.0, 0.2, 0.97], "dom": ["x"] * 3})
    out = decision_frame(bundle, rows, ["m1", "m2", "m3"], "7")
    assert list(out["action"]) == ["send", "send", "defer"] and out["reason"][2].startswith("Content held")
    rows.loc[1, "content_features__content_spam_risk"] = 1.4
    with pytest.raises(RequestError, match=r"P\(spam\).*rows \[1\]"):
        decision_frame(bundle, rows, ["m1", "m2", "m3"], "7")
