"""Online gradient descent and the drift watch on synthetic streams: a head learns a shifted
relationship and lowers its loss, stays near the trained weights where the feedback says nothing
new, counts only the outcomes a row observed; ADWIN stays quiet on a steady stream of errors and
fires soon after their mean moves; retraining requests are taken once and merged with the
monitor's per model."""

from __future__ import annotations

import numpy as np

from adaptive_delivery.platform.online.retraining import request_retraining, take_requests, triggers
from adaptive_delivery.platform.online.sgd import ErrorDrift, LogisticHead


def _stream(rng, w, n):
    h = rng.normal(size=(n, w.shape[0]))
    p = 1 / (1 + np.exp(-(h @ w)))
    return h, (rng.random(p.shape) < p).astype(float)


def test_a_head_learns_a_shifted_relationship():
    rng = np.random.default_rng(0)
    trained, moved = np.array([[1.0], [-0.5], [0.2]]), np.array([[0.2], [-0.5], [1.0]])
    head = LogisticHead(trained, np.zeros(1), learning_rate=0.5)
    for _ in range(150):
        head.step(*_stream(rng, moved, 200))
    h, y = _stream(rng, moved, 5_000)

    def loss(p):
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    frozen = LogisticHead(trained, np.zeros(1))
    assert loss(head.predict(h)) < loss(frozen.predict(h)) - 0.03
    assert np.allclose(head.weight, moved, atol=0.35)


def test_the_pull_keeps_a_head_near_its_trained_weights_on_noise():
    rng = np.random.default_rng(1)
    trained = np.array([[1.0], [-0.5], [0.2]])
    head = LogisticHead(trained, np.zeros(1), learning_rate=0.05)
    for _ in range(100):
        head.step(*_stream(rng, trained, 200))
    assert np.abs(head.weight - trained).max() < 0.3


def test_only_the_observed_outcomes_teach():
    rng = np.random.default_rng(2)
    head = LogisticHead(np.zeros((3, 2)), np.zeros(2), learning_rate=1.0)
    h, y = rng.normal(size=(50, 3)), rng.integers(0, 2, (50, 2)).astype(float)
    observed = np.column_stack([np.ones(50), np.zeros(50)])
    head.step(h, y, observed)
    assert np.all(head.weight[:, 1] == 0) and head.bias[1] == 0 and np.any(head.weight[:, 0] != 0)


def test_the_drift_watch_is_quiet_on_a_steady_stream_and_fires_after_a_shift():
    rng = np.random.default_rng(3)
    steady = ErrorDrift()
    for _ in range(40):
        steady.update((rng.random(500) < 0.15) - 0.15)
    assert steady.detections == []
    shifted = ErrorDrift()
    for _ in range(20):
        shifted.update((rng.random(500) < 0.15) - 0.15)
    for _ in range(20):
        shifted.update((rng.random(500) < 0.08) - 0.15)  # the outcome got rarer than predicted
    assert shifted.detections and 10_000 < shifted.detections[0] < 13_000
    assert shifted.recent_mean < -0.03


def test_requests_are_taken_once_and_merged_with_the_monitors(tmp_path):
    request_retraining(tmp_path, "MKT-001", "online: errors moved", feedback_seen=1200)
    request_retraining(tmp_path, "MKT-001", "online: errors moved")
    request_retraining(tmp_path, "MDL-001", "online: something else")
    taken = take_requests(tmp_path)
    assert [r["model_id"] for r in taken] == ["MKT-001", "MKT-001", "MDL-001"] and taken[0]["feedback_seen"] == 1200
    assert take_requests(tmp_path) == []
    monitor = [{"model_id": "MDL-001", "retrain": ["AUC dropped"]}, {"model_id": "MDL-003", "retrain": []}]
    out = {t["trigger_dag_id"]: t["conf"] for t in triggers(monitor, taken, lambda m: f"dag_{m}", {"window": 1})}
    assert out == {"dag_MDL-001": {"reason": "monitor: AUC dropped; online: something else", "window": 1},
                   "dag_MKT-001": {"reason": "online: errors moved"}}
