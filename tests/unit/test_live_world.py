"""The world that lives across processes: day-by-day advances equal one batch simulation."""

from datetime import date

import numpy as np
import pyarrow.dataset as ds
import pytest

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.twin import live
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

CONFIG = WorldConfig(subscribers=600, days=4, seed=11)


def _rows(lake: EventsLake, kind: str) -> dict[date, int]:
    return {d: ds.dataset(lake.files(kind, [d])).count_rows() for d in lake.partitions(kind)}


def test_single_day_advances_write_the_same_lake_as_one_simulation(tmp_path):
    simulate(CONFIG, tmp_path / "batch", progress=False)
    for _ in range(CONFIG.days):
        live.advance(tmp_path / "live", 1, CONFIG)
    batch, stepped = EventsLake(tmp_path / "batch" / "lake"), EventsLake(tmp_path / "live" / "lake")
    for kind in ("sends", "outcomes", "engagement", "complaints"):
        assert _rows(batch, kind) == _rows(stepped, kind), kind
    state = live.status(tmp_path / "live")
    assert state["days_run"] == 4 and state["today"] == "2026-03-06"
    assert state["pending_late_events"] > 0  # opens after the last day wait for their day


def test_advance_until_is_idempotent(tmp_path):
    first = live.advance_until(tmp_path, date(2026, 3, 4), CONFIG)
    again = live.advance_until(tmp_path, date(2026, 3, 4), CONFIG)
    assert [d.isoformat() for d in first.days] == ["2026-03-02", "2026-03-03"] and again.days == []


def test_late_events_reach_the_lake_on_their_day(tmp_path):
    live.advance(tmp_path, 1, CONFIG)
    lake = EventsLake(tmp_path / "lake")
    assert lake.partitions("engagement") == [date(2026, 3, 2)]  # nothing from the future yet
    live.advance(tmp_path, 1, CONFIG)
    assert date(2026, 3, 3) in lake.partitions("engagement")


def test_provider_change_is_saved_and_takes_effect_from_its_day(tmp_path):
    live.advance(tmp_path, 1, CONFIG)
    config = live.change_provider(tmp_path, "gmail", limit_scale=0.5, strictness_scale=1.5, inbox_shift=-1.0)
    assert config.change_day == 1 and live.status(tmp_path)["change"]["provider"] == "gmail"
    world = live.load(tmp_path).world
    assert world._scales(1)[0].min() == 0.5 and world._scales(0)[0].min() == 1.0
    assert world._scales(1)[2].min() == -1.0 and world._scales(0)[2].min() == 0.0
    with pytest.raises(ValueError, match="unknown provider"):
        live.change_provider(tmp_path, "no-such-isp")


def test_a_tighter_filter_lowers_every_senders_inbox_chance():
    from adaptive_delivery.twin import dynamics as dyn

    args = dict(provider=np.zeros(3, int), reputation=70.0, engagement=np.array([0.1, 0.3, 0.6]), spamminess=0.3,
                quality=0.5, one_click=True, domain_age_days=400.0, complaint_rate=0.0)
    assert (dyn.inbox_probability(**args, inbox_shift=-1.5) < dyn.inbox_probability(**args)).all()


def test_clear_errors_without_a_world_or_past_the_horizon(tmp_path):
    with pytest.raises(live.WorldStateError, match="pass a WorldConfig"):
        live.advance(tmp_path / "none", 1)
    with pytest.raises(live.WorldStateError, match="sized for 4 days"):
        live.advance(tmp_path / "short", 5, CONFIG)
