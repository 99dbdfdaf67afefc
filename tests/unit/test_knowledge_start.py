"""MDL-003's start from the knowledge base, judged by the twin: when throughput settles, a throttling
world matched to a simulated sender's, and, on a small world, the learned start lying nearer the
hidden allowance than spec §6.2's default."""

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from adaptive_delivery.delivery.knowledge import learn
from adaptive_delivery.delivery.models.mdl003_throttle import knowledge_start as ks
from adaptive_delivery.delivery.models.mdl003_throttle.policies import AIMD, Trace
from adaptive_delivery.delivery.providers import PROVIDER_INDEX
from adaptive_delivery.twin import dynamics as dyn
from adaptive_delivery.twin.config import SenderConfig, WorldConfig
from adaptive_delivery.twin.simulator import World

SENDER = SenderConfig("steady", "news.steady.example", 1.0, n_ips=1, ip_prefix="198.18.0", send_rate_per_min=1_500.0,
                      audience_share=0.8)


def trace_of(delivered) -> Trace:
    return dataclasses.replace(Trace("p", "gmail", 0), delivered=[float(x) for x in delivered])


def test_throughput_settles_where_a_ramp_ends():
    ramp = np.r_[np.linspace(10, 100, 30), np.full(210, 100.0)]
    assert 25 <= trace_of(ramp).settling_step() <= 30 + 10  # the ramp's end, and at most one rolling window later
    assert trace_of(np.full(240, 100.0)).settling_step() == 0


def test_a_late_fall_unsettles_and_a_short_trace_never_settles():
    late = np.r_[np.full(100, 100.0), np.full(140, 50.0)]
    assert trace_of(late).settling_step() >= 100
    assert trace_of(np.full(50, 100.0)).settling_step() == 50
    assert trace_of(np.full(50, 100.0)).reaching_step() == 50


def test_reaching_is_the_first_entry_settling_the_last():
    dip = np.r_[np.linspace(10, 100, 30), np.full(60, 100.0), np.full(20, 40.0), np.full(130, 100.0)]
    trace = trace_of(dip)
    assert 25 <= trace.reaching_step() <= 40 < 110 <= trace.settling_step() <= 120
    overshoot = np.r_[np.full(10, 300.0), np.full(230, 100.0)]
    assert trace_of(overshoot).reaching_step() == trace_of(overshoot).settling_step() >= 10


def test_counting_noise_on_a_slow_provider_is_not_unsettled():
    rng = np.random.default_rng(0)
    assert trace_of(rng.poisson(4.0, 240)).settling_step() < 60


@pytest.fixture(scope="module")
def small_world():
    world = World(WorldConfig(subscribers=150_000, days=3, seed=1001, senders=(SENDER,)))
    outcomes = [world.step_day().events["outcomes"].select(learn.OUTCOME_COLUMNS) for _ in range(2)]
    return world, ks.learned_limits(pa.concat_tables(outcomes).to_pandas())


def test_the_matched_world_has_the_simulated_allowance(small_world):
    world, _ = small_world
    for provider in ("gmail", "aol"):
        p = PROVIDER_INDEX[provider]
        rep = 0.5 * world.ip_reputation[0, p] + 0.5 * world.domain_reputation[world.ip_sender[0], p]
        want = float(dyn.hourly_limit(np.array(p), rep, world.warm_capacity[0, p], 1.0))
        assert ks.matched_env(world, provider).hidden_limit_per_min() * 60 == pytest.approx(want, rel=1e-6)


def test_the_learned_start_lies_nearer_the_allowance_than_the_default(small_world):
    world, limits = small_world
    learned, default = [], []
    for provider in sorted(PROVIDER_INDEX):
        hidden = ks.matched_env(world, provider).hidden_limit_per_min()
        learned.append(abs(np.log(ks.arm_limit("knowledge base", provider, limits).start_rate_per_min / hidden)))
        default.append(abs(np.log(ks.arm_limit("spec defaults", provider, limits).start_rate_per_min / hidden)))
    assert np.mean(learned) < 0.5 * np.mean(default)


def test_both_arms_run_the_same_world_from_their_own_start(small_world):
    world, limits = small_world
    rows = ks.compare_starts([AIMD(signal="rate_limit")], world, limits, seed=1001, providers=["gmail"], steps=40)
    by_arm = {r["arm"]: r for r in rows}
    assert set(by_arm) == set(ks.ARMS)
    assert by_arm["spec defaults"]["hidden_limit_per_min"] == by_arm["knowledge base"]["hidden_limit_per_min"]
    assert by_arm["knowledge base"]["start_rate_per_min"] == limits.start_rate_per_min("gmail")
    assert by_arm["knowledge base"]["ceiling_per_min"] < by_arm["spec defaults"]["ceiling_per_min"]
    with pytest.raises(ValueError, match="unknown arm"):
        ks.arm_limit("guess", "gmail", limits)
