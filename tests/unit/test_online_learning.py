"""Online gradient descent and the drift watch on synthetic streams: a head learns a shifted
relationship and lowers its loss, stays near the trained weights where the feedback says nothing
new, counts only the outcomes a row observed; ADWIN stays quiet on a steady stream of errors and
fires soon after their mean moves; retraining requests are taken once and merged with the
monitor's per model."""

from __future__ import annotations

import numpy as np
import pytest

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


def _tiny_campaign_net(seed: int = 0, design: str = "heads"):
    """A campaign network with small random weights (no training needed): the heads design, or the
    wide one (the e-mail as input, which the output layer also reads beside the hidden layer)."""
    from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom
    from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet

    rng = np.random.default_rng(seed)
    width, arms = len(hillstrom.FEATURES), len(hillstrom.ARMS)
    n_in, n_out = (width, arms * 2) if design == "heads" else (width * arms + arms, 2)
    skip = 0 if design == "heads" else n_in  # the wide design's output layer reads the input too
    layers = [(rng.normal(0, 0.3, (n_in, 8)).astype(np.float32), np.zeros(8, np.float32)),
              (rng.normal(0, 0.3, (8 + skip, n_out)).astype(np.float32), np.full(n_out, -1.8, np.float32))]
    return ArrayNet(np.zeros(width), np.ones(width), [layers], arms, 2, design)


def _campaign_stream(net, rng, n, lose_from, arm_lost):
    """Customers whose outcomes follow the network, until one e-mail's visits are partly lost."""
    x = rng.normal(size=(n, len(net.mean)))
    arm = rng.integers(0, net.n_arms, n)
    p = net.predict(x)[np.arange(n), arm]
    y = (rng.random(p.shape) < p).astype(float)
    y[:, 1] = y[:, 1] * y[:, 0]
    lost = (np.arange(n) >= lose_from) & (arm == arm_lost) & (rng.random(n) < 0.6)
    y[lost] = 0.0
    return x, arm, y


@pytest.mark.parametrize("watch", ["pooled", "per_email"])
def test_a_steady_campaign_stream_raises_no_alarm(watch):
    from adaptive_delivery.marketing.models.mkt001_campaign.online import OnlineCampaign

    net, rng = _tiny_campaign_net(), np.random.default_rng(5)
    learner = OnlineCampaign(net, watch=watch)
    x, arm, y = _campaign_stream(net, rng, 30_000, 30_000, 2)
    for start in range(0, len(x), 500):
        learner.update(x[start:start + 500], arm[start:start + 500], y[start:start + 500])
    assert learner.detections == [] and learner.rows == 30_000


def test_watching_each_email_finds_a_change_in_one_email_sooner():
    from adaptive_delivery.marketing.models.mkt001_campaign.online import OnlineCampaign

    net = _tiny_campaign_net()
    found = {}
    for watch in ("pooled", "per_email"):
        rng = np.random.default_rng(6)  # the same stream for both
        learner = OnlineCampaign(net, watch=watch)
        x, arm, y = _campaign_stream(net, rng, 40_000, 10_000, 2)
        for start in range(0, len(x), 500):
            learner.update(x[start:start + 500], arm[start:start + 500], y[start:start + 500])
        found[watch] = next((d for d in learner.detections if d > 10_000), None)
    assert found["per_email"] is not None
    assert found["pooled"] is None or found["per_email"] < found["pooled"]
    with pytest.raises(ValueError, match="unknown watch"):
        OnlineCampaign(net, watch="psychic")


def test_the_wide_design_learns_online_in_its_output_layer_wide_part_included():
    from adaptive_delivery.marketing.models.mkt001_campaign.online import OnlineCampaign

    net, rng = _tiny_campaign_net(design="wide"), np.random.default_rng(7)
    learner = OnlineCampaign(net)
    x, arm, y = _campaign_stream(net, rng, 20_000, 0, 2)  # the women's e-mail loses 60% of its visits
    for start in range(0, len(x), 500):
        learner.update(x[start:start + 500], arm[start:start + 500], y[start:start + 500])
    updated = learner.network()
    probe = rng.normal(size=(2_000, len(net.mean)))
    before, after = net.predict(probe)[:, :, 0].mean(axis=0), updated.predict(probe)[:, :, 0].mean(axis=0)
    truth = 0.4 * before[2]
    assert truth < after[2] < before[2] - 0.25 * (before[2] - truth)  # on its way; the pull holds it back
    assert abs(after[0] - before[0]) < abs(after[2] - before[2])
    wide_rows = slice(8, None)  # the output layer's weights on the input, past the 8 hidden units
    moved = np.abs(updated.members[0][-1][0][wide_rows] - net.members[0][-1][0][wide_rows]).max()
    assert updated.design == "wide" and moved > 0.01


def _feedback_entries(ids: list[str]) -> list:
    """Stream entries of campaign feedback, one per id (the same customer each time)."""
    import json

    from adaptive_delivery.marketing.models.mkt001_campaign import online
    from adaptive_delivery.platform.streams import EVENT_FIELD, KIND_FIELD, Entry

    customer = {"recency": 3, "history": 120.0, "mens": 1, "womens": 0, "newbie": 0, "zip_code": "Urban",
                "channel": "Web", "email": "Mens E-Mail", "visit": 1, "conversion": 0}
    return [Entry(f"{k}-0", {KIND_FIELD: online.FEEDBACK_KIND.encode(),
                             EVENT_FIELD: json.dumps({**customer, online.FEEDBACK_ID: i}).encode()})
            for k, i in enumerate(ids)]


def test_the_learned_ids_survive_a_restart_and_a_crash_between_the_id_file_and_the_network(tmp_path):
    from adaptive_delivery.marketing.models.mkt001_campaign import online

    def sink():
        return online.FeedbackSink(online.OnlineCampaign(_tiny_campaign_net()), tmp_path / "online", tmp_path / "r")

    first = sink()
    assert first(_feedback_entries(["a", "b"])).accepted == 2
    assert first(_feedback_entries(["b", "c"])).duplicates == 1
    # a batch whose ids reached the id file but whose network and state were never written (a crash)
    with (tmp_path / "online" / online.SEEN_FILE).open("a") as ids:
        ids.write("d\n")
    again = sink()
    assert again.seen == {"a", "b", "c"}, "the state counts three ids: the fourth line is dropped"
    assert (tmp_path / "online" / online.SEEN_FILE).read_text().splitlines() == ["a", "b", "c"]
    batch = again(_feedback_entries(["c", "d", "line\nbreak"]))
    assert (batch.duplicates, batch.accepted, batch.quarantined) == (1, 1, 1)
