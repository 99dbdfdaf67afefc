"""The provider-change scenario live through a real Redis: every window the MTA logs is read once by
the controller and answered by one decision; the frozen arm through the streams sends exactly what
the same policy does offline in the harness; the online arm updates every N actions; a record that
cannot be read is quarantined with its reason and the others are still decided."""

import json

import pytest

from adaptive_delivery.delivery.models.mdl003_throttle.online import WINDOW_KIND, OnlineThrottle
from adaptive_delivery.delivery.models.mdl003_throttle.policies import run_policy
from adaptive_delivery.delivery.models.mdl003_throttle.training import load_policy, train_ppo
from adaptive_delivery.delivery.scenarios import throttle_live as tl
from adaptive_delivery.platform.rl.ppo import load_model, save_policy
from adaptive_delivery.platform.streams import Entry, connect

pytestmark = [pytest.mark.integration]
WORLD = tl.LiveWorld("yahoo", 1001, hours_before=0.25, hours_after=0.5)  # 30 windows, then 60 after the cut


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return save_policy(train_ppo(timesteps=1_024, seed=1, n_envs=2).model,
                       tmp_path_factory.mktemp("throttle-live") / "mdl003_ppo")


@pytest.fixture(scope="module")
def live(redis_server, policy):
    rows, runs = tl.run_worlds(connect(redis_server), policy, [WORLD], update_every=40, keep=1, log=lambda _: None)
    return {r["arm"]: r for r in rows}, {r.arm: r for r in runs}


def test_every_window_is_read_once_and_answered_once(live):
    _, runs = live
    for run in runs.values():
        assert run.published == WORLD.steps == sum(line["windows"] for line in run.ledger)
        assert sum(line["decisions"] for line in run.ledger) == WORLD.steps
        assert [d["after_window"] for d in run.decisions] == list(range(WORLD.steps))
        assert not any(line["quarantined"] for line in run.ledger)


def test_the_frozen_arm_through_the_streams_sends_what_the_policy_sends_offline(live, policy):
    _, runs = live
    offline = run_policy(load_policy(policy), WORLD.env(), WORLD.seed, WORLD.steps)
    frozen = runs["frozen"].trace
    assert frozen.rate == pytest.approx(offline.rate, rel=1e-5)
    assert frozen.delivered == offline.delivered and frozen.rate_blocks == offline.rate_blocks


def test_the_online_arm_updates_every_n_actions_and_the_frozen_arm_never(live):
    rows, runs = live
    # 89 rewarded actions: updates before the 41st and the 81st decisions
    assert rows["online"]["updates"] == 2 and rows["frozen"]["updates"] == 0
    assert [d["updates"] for d in runs["online"].decisions] == [0] * 40 + [1] * 40 + [2] * 10
    assert rows["online"]["fallbacks"] == rows["frozen"]["fallbacks"] == 0


def test_a_record_that_cannot_be_read_is_quarantined_with_its_reason(redis_server, policy):
    client = connect(redis_server)
    client.delete("quarantine-test:rates")
    controller = OnlineThrottle(load_model(policy), "yahoo", learn=False)
    sink = tl.ControllerSink(client, controller, "quarantine-test:rates")
    env = WORLD.env()
    env.reset(seed=5)
    obs, _, _, _, info = env.step_rate(env.rate)
    good = tl.WindowRecord("yahoo", 0, info["rate_per_min"], tuple(map(float, obs)), info["counts"])
    kind = WINDOW_KIND.encode()
    entries = [
        Entry("1-0", {b"kind": kind, b"event": json.dumps(good.to_event()).encode()}),
        Entry("2-0", {b"kind": kind, b"event": b"{not json"}),
        Entry("3-0", {b"kind": kind, b"event": json.dumps({**good.to_event(), "provider": "hotmail.example"}).encode()}),
        Entry("4-0", {b"kind": b"mail_event", b"event": json.dumps(good.to_event()).encode()}),
    ]
    assert sink(entries) == {"windows": 4, "decisions": 1, "quarantined": 3}
    assert any("unknown provider" in r for r in sink.reasons) and any("unexpected kind" in r for r in sink.reasons)
    assert client.xlen("quarantine-test:rates") == 1
