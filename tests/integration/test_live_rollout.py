"""A rollout inside the long-lived world: the gate's promotion starts it, each simulated day runs
both arms in the sending loop, and the progress step judges the tally and records the decision."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from adaptive_delivery.delivery import jobs
from adaptive_delivery.delivery.scenarios import live_rollout as rollout_live
from adaptive_delivery.delivery.scenarios import rollout as sim
from adaptive_delivery.delivery.scenarios.provider_change import _fit, _register
from adaptive_delivery.platform.rollout import controller as rc
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import CHAMPION, REPLACED_TAG
from adaptive_delivery.platform.training.tracking import Tracking
from adaptive_delivery.twin import live
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CONFIG = WorldConfig(subscribers=1_500, days=12, seed=5)


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("live-rollout")
    env = {"AD_HOME": str(root / "home"), "AD_WORLD_SUBSCRIBERS": "1500", "AD_WORLD_HORIZON_DAYS": "12",
           "AD_WORLD_SEED": "5", "AD_ROLLOUT_TIME_SCALE": str(1 / 7), "AD_ROLLOUT_MIN_SAMPLE": "200"}
    dep = jobs.deployment(env)
    live.advance(dep.home, 5, CONFIG)
    # two versions trained on a twin world's decision-time rows, registered as the gate would leave them
    history = sim.warm_up(World(CONFIG), root / "twin" / "lake", root / "twin" / "truth", 5, log=lambda _: None)
    spec = get("MDL-001")
    cut = history["event_timestamp"].min() + pd.Timedelta(days=2)
    old, new = _fit(spec, history[history["event_timestamp"] < cut], 1), _fit(spec, history, 1)
    tracking = Tracking(dep.tracking_uri, experiment="live-rollout-test")
    versions = [_register(tracking, spec, b, name, root / "bundles", history) for name, b in (("old", old), ("new", new))]
    client = tracking.client()
    client.set_registered_model_alias(spec.registered_name, CHAMPION, versions[1])
    client.set_model_version_tag(spec.registered_name, versions[1], REPLACED_TAG, versions[0])
    return dep, versions


def test_promotion_starts_one_rollout_that_runs_the_world_and_is_judged(loop):
    dep, (old, new) = loop
    day5 = datetime.combine(CONFIG.start + timedelta(days=5), datetime.min.time(), tzinfo=UTC)
    started = jobs.start_rollout(dep, "MDL-001", day5)
    assert started == {"experiment": started["experiment"], "control": old, "candidate": new}
    assert jobs.start_rollout(dep, "MDL-001", day5) is None  # one rollout per promotion

    done = jobs.simulate_until(dep, (day5 + timedelta(days=1)).date())
    assert done["days"] == ["2026-03-07"] and done["rollout"] == started["experiment"]
    store = rc.RolloutStore(dep.rollouts)
    tally = rollout_live.load_tally(store, started["experiment"])
    assert tally.control.messages > 0 and tally.shadow["y"], "shadow: both arms predicted, control decided"
    logged = pd.read_parquet(dep.home / "predictions")
    assert set(logged["arm"]) == {"control", "candidate"} and not logged.loc[logged["arm"] == "candidate", "sent"].any()

    decided = jobs.progress_rollouts(dep, day5 + timedelta(days=1))
    assert len(decided) == 1 and decided[0]["stage"] == "shadow"
    assert decided[0]["action"] in {"advance", "rollback", "hold"} and decided[0]["evidence"]
    exp = store.load(started["experiment"])
    assert exp.history and exp.history[-1]["action"] == decided[0]["action"]
    steps = [e["step"] for e in jobs.timeline(dep)]
    assert steps.count("rollout") == 2 and "world" in steps
