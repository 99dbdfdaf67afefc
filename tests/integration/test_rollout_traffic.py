"""A rollout judged on real traffic: the arms' decisions from the prediction log, their messages'
outcomes from the lake (`jobs.traffic`). On the same decisions the counts equal the simulated
world's tally, and a candidate that lets the mail that bounces out is rolled back by the scheduled
step, the registry's champion given back, with no world anywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.jobs import traffic
from adaptive_delivery.delivery.jobs.deployment import Deployment, timeline
from adaptive_delivery.delivery.jobs.loop import progress_rollouts
from adaptive_delivery.delivery.scenarios.rollout import _arm_outcomes, _final
from adaptive_delivery.platform.rollout import controller as rc
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import CHAMPION
from adaptive_delivery.platform.training.tracking import default_tracking_uri

pytestmark = pytest.mark.integration
SPEC = get("MDL-001")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _log(path, rows: pd.DataFrame) -> None:
    """The decisions as the served model logs them: one JSON line each."""
    with path.open("w") as fh:
        for rec in rows.to_dict("records"):
            fh.write(json.dumps(rec) + "\n")


def _decisions(lake, version: str, ids: np.ndarray, action: np.ndarray, ts: float, rng) -> pd.DataFrame:
    p = rng.dirichlet(np.ones(len(SPEC.classes)), len(ids))
    return pd.DataFrame({"ts": ts, "message_id": ids, "model_version": version, "action": action,
                         **{f"p_{c}": p[:, i] for i, c in enumerate(SPEC.classes)}})


def test_the_traffic_tally_counts_what_the_simulated_tally_counts(tiny_world):
    lake = tiny_world / "lake"
    rng = np.random.default_rng(0)
    ids = EventsLake(lake).read("sends", columns=["message_id"]).column(0).to_numpy(zero_copy_only=False)
    action = rng.choice(["send", "send_monitored", "defer", "skip"], len(ids), p=[0.6, 0.2, 0.1, 0.1])
    decisions = _decisions(lake, "1", ids, action, T0.timestamp(), rng)
    labels, complaints = traffic.outcomes_of(lake)
    got = traffic.arm_stats(decisions, labels, complaints)
    sent = decisions.loc[decisions["action"].isin(traffic.SENT_ACTIONS), "message_id"].tolist()
    events = {k: EventsLake(lake).read(k) for k in ("outcomes", "complaints")}
    want = _arm_outcomes(_final(events), set(events["complaints"].column("message_id").to_pylist()), sent)
    assert got.messages == len(ids) and got.sent == len(sent)
    assert {k: getattr(got, k) for k in want} == want
    assert want["bounced"] > 0 and want["placed"] > 0 and got.delivered > 0.8 * got.sent
    # in shadow the predictions are scored on the outcomes that came; random ones rank at chance
    assert abs(traffic.arm_stats(decisions, labels, complaints, shadow=True).shadow_score - 0.5) < 0.05


def test_a_candidate_that_lets_bouncing_mail_out_is_rolled_back_on_real_traffic(tiny_world, tmp_path):
    lake = tiny_world / "lake"
    home = tmp_path / "loop"
    dep = Deployment("local", home, default_tracking_uri(tmp_path / "mlflow"), "local[1]", None, "local", "smoke",
                     world=None)
    client = MlflowClient(dep.tracking_uri, registry_uri=dep.tracking_uri)
    client.create_registered_model(SPEC.registered_name)
    for _ in range(2):
        client.create_model_version(SPEC.registered_name, source=str(tmp_path))
    client.set_registered_model_alias(SPEC.registered_name, CHAMPION, "2")  # the gate promoted v2
    home.mkdir(parents=True)
    (home / "lake").symlink_to(lake)

    exp = rc.start("mdl-001-v2", "MDL-001", "1", "2", T0, min_sample=500)
    exp.stage_index, exp.stage_started = 1, T0.isoformat()  # canary
    rc.RolloutStore(dep.rollouts).save(exp)

    rng = np.random.default_rng(1)
    labels, _ = traffic.outcomes_of(lake)
    ids = labels.index.to_numpy()
    candidate = rng.random(len(ids)) < 0.2
    bounced = np.isin(labels.to_numpy(), (traffic.SOFT, traffic.HARD))
    # the control sends everything; the candidate sends what bounces and holds back half of the rest
    held = rng.random(len(ids)) < 0.5
    cand_action = np.where(bounced | ~held, "send", "defer")[candidate]
    before = T0.timestamp() - 3_600  # decided before the stage began: not this stage's evidence
    _log(home / "predictions.jsonl", pd.concat([
        _decisions(lake, "2", ids[:50], np.full(50, "send"), before, rng),
        _decisions(lake, "1", ids[~candidate], np.full((~candidate).sum(), "send"), T0.timestamp() + 60, rng),
        _decisions(lake, "2", ids[candidate], cand_action, T0.timestamp() + 60, rng)]))

    control, cand = traffic.stage_stats(dep.predictions, dep.lake, exp)
    assert cand.messages == candidate.sum() and control.messages == (~candidate).sum()
    [step] = progress_rollouts(dep, T0 + timedelta(days=4))
    assert step["action"] == "rollback" and step["status"] == "rolled_back", step["reason"]
    assert "bounce_rate" in step["reason"]
    assert str(client.get_model_version_by_alias(SPEC.registered_name, CHAMPION).version) == "1"
    assert client.get_model_version(SPEC.registered_name, "2").tags["rollout"].startswith("rolled_back at canary")
    assert timeline(dep)[-1]["step"] == "rollout"
