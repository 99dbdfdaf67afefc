"""A world that lives across processes, for schedulers: each call loads the hidden state, advances it
whole days, writes what those days produced into the lake and saves the state again.

A scheduled run (the world DAG) advances the simulator to the end of its data interval, so
re-running an interval changes nothing and a missed interval is caught up. Events dated after the
world's current day (opens and complaints arrive days after the send) wait in the state and reach
the lake on the day they happen, as they would from a real mailbox provider; the lake after N
single-day advances equals `simulate` for N days.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.providers import PROVIDER_INDEX
from adaptive_delivery.twin.simulator import (
    DayResult,
    SendFilter,
    World,
    _epoch_us,
    write_day,
    write_dimensions,
)

STATE_FILE = "world_state.pkl"


class WorldStateError(RuntimeError):
    """The saved world cannot be advanced as asked (no state and no config, or past its horizon)."""


@dataclass
class LiveState:
    world: World
    pending: list[DayResult]  # events dated after the current day, by the day that generated them

    @property
    def today(self) -> date:
        """The first day not simulated yet."""
        return self.world.config.start + timedelta(days=self.world.day_index)


@dataclass(frozen=True)
class Advanced:
    days: list[date]  # the days simulated by this call
    events: dict[str, int]  # kind -> rows written to the lake (including earlier days' late events)
    today: date  # the first day not simulated yet

    def as_dict(self) -> dict:
        return {"days": [d.isoformat() for d in self.days], "events": self.events, "today": self.today.isoformat()}


def state_path(home: str | Path) -> Path:
    return Path(home) / STATE_FILE


def load(home: str | Path) -> LiveState | None:
    path = state_path(home)
    if not path.exists():
        return None
    with path.open("rb") as fh:
        return pickle.load(fh)


def save(home: str | Path, state: LiveState) -> Path:
    """Write the state atomically: a crash mid-write leaves the previous day's state intact."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return path


def create(home: str | Path, config: WorldConfig) -> LiveState:
    """A new world at its first day; `config.days` is its horizon (the population is sized for it)."""
    if state_path(home).exists():
        raise WorldStateError(f"{state_path(home)} already holds a world; advance it or remove the folder")
    state = LiveState(World(config), [])
    save(home, state)
    return state


def _split(result: DayResult, end_us: int) -> DayResult | None:
    """The events of `result` dated at or after `end_us` (None when there are none)."""
    later: dict[str, pa.Table] = {}
    for kind, table in result.events.items():
        ts = table.column("send_ts" if kind == "sends" else "event_ts").cast(pa.int64()).to_numpy()
        mask = ts >= end_us
        if mask.any():
            later[kind] = table.filter(pa.array(mask))
    return DayResult(result.day, later, {}) if later else None


def _flush(state: LiveState, lake: EventsLake, truth_dir: Path, result: DayResult | None, end_us: int,
           totals: dict[str, int]) -> None:
    """Write what is due by `end_us` (earlier days' late events, then `result`); keep the rest."""
    due = [*state.pending, *([result] if result is not None else [])]
    state.pending = []
    for item in due:
        for kind, n in write_day(item, lake, truth_dir, end_us).items():
            totals[kind] = totals.get(kind, 0) + n
        rest = _split(item, end_us)
        if rest is not None:
            state.pending.append(rest)


def advance(home: str | Path, days: int = 1, config: WorldConfig | None = None,
            send_filter: SendFilter | None = None) -> Advanced:
    """Advance the world under `home` by `days` (creating it from `config` when there is none yet)."""
    home = Path(home)
    state = load(home)
    if state is None:
        if config is None:
            raise WorldStateError(f"no world under {home}: pass a WorldConfig to create one")
        state = create(home, config)
    horizon = state.world.config.days
    if state.world.day_index + days > horizon:
        raise WorldStateError(f"the world under {home} was sized for {horizon} days and has run "
                              f"{state.world.day_index}; create a new one with a longer horizon")
    lake, truth_dir = EventsLake(home / "lake"), home / "truth"
    simulated: list[date] = []
    totals: dict[str, int] = {}
    for _ in range(days):
        result = state.world.step_day(send_filter)
        simulated.append(state.today - timedelta(days=1))
        _flush(state, lake, truth_dir, result if result.events else None, _epoch_us(state.today), totals)
    write_dimensions(state.world, lake, truth_dir)
    save(home, state)
    return Advanced(simulated, totals, state.today)


def step_one(home: str | Path, make_filter: Callable[[World], SendFilter], config: WorldConfig | None = None) -> DayResult:
    """Simulate one day with the send filter `make_filter` builds from the loaded world (a decision
    service in the loop: it needs the world's campaigns and lake); returns the day's events."""
    home = Path(home)
    state = load(home) or (create(home, config) if config is not None else None)
    if state is None:
        raise WorldStateError(f"no world under {home}: pass a WorldConfig to create one")
    if state.world.day_index + 1 > state.world.config.days:
        raise WorldStateError(f"the world under {home} was sized for {state.world.config.days} days and has run them all")
    result = state.world.step_day(make_filter(state.world))
    _flush(state, EventsLake(home / "lake"), home / "truth", result if result.events else None,
           _epoch_us(state.today), {})
    write_dimensions(state.world, EventsLake(home / "lake"), home / "truth")
    save(home, state)
    return result


def advance_until(home: str | Path, until: date, config: WorldConfig | None = None,
                  send_filter: SendFilter | None = None) -> Advanced:
    """Simulate every day before `until` not simulated yet (nothing when the world is already there)."""
    state = load(home)
    today = state.today if state is not None else (config.start if config is not None else None)
    if today is None:
        raise WorldStateError(f"no world under {home}: pass a WorldConfig to create one")
    return advance(home, max((until - today).days, 0), config, send_filter)


def change_provider(home: str | Path, provider: str, limit_scale: float = 1.0, strictness_scale: float = 1.0,
                    inbox_shift: float = 0.0, from_day: date | None = None) -> WorldConfig:
    """A mailbox provider changes its behaviour from `from_day` (default: the next simulated day):
    its hidden limit is multiplied by `limit_scale` and its spam filter's strictness by
    `strictness_scale`, and its inbox logit moves by `inbox_shift` for all mail (negative: it
    tightens its filter on bulk mail). The models are not told; they must notice."""
    if provider not in PROVIDER_INDEX:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(sorted(PROVIDER_INDEX))}")
    if limit_scale <= 0 or strictness_scale <= 0:
        raise ValueError("limit_scale and strictness_scale must be positive")
    state = load(home)
    if state is None:
        raise WorldStateError(f"no world under {home}")
    start = from_day or state.today
    day = (start - state.world.config.start).days
    state.world.config = replace(state.world.config, change_day=day, change_provider=provider,
                                 limit_scale=float(limit_scale), strictness_scale=float(strictness_scale),
                                 inbox_shift=float(inbox_shift))
    save(home, state)
    return state.world.config


def status(home: str | Path) -> dict:
    """What the saved world is: where it stands, its horizon, any behaviour change in force."""
    state = load(home)
    if state is None:
        return {"exists": False}
    c = state.world.config
    return {"exists": True, "start": c.start.isoformat(), "today": state.today.isoformat(),
            "days_run": state.world.day_index, "horizon_days": c.days, "subscribers": int(state.world.pop.size),
            "pending_late_events": int(sum(t.num_rows for r in state.pending for t in r.events.values())),
            "change": None if c.change_day is None else {
                "provider": c.change_provider, "from": (c.start + timedelta(days=c.change_day)).isoformat(),
                "limit_scale": c.limit_scale, "strictness_scale": c.strictness_scale, "inbox_shift": c.inbox_shift}}
