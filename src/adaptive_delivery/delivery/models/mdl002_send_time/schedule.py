"""MDL-002 stage 2: each subscriber's send hour for one campaign, from their P(open) at each of
the next hours, under the campaign's constraints (spec §3.3): only the hours it may send in (a
business-hours window, the deadline), and no hour carrying more than `max_hour_share` of its
volume (batch smoothing, 15% by default), so the providers see no spike.

The assignment maximises the campaign's expected opens under those caps: each hour gets a price
(the opens a subscriber must gain to be worth its place there) raised while it is over its cap,
every subscriber takes the hour of highest P(open) less price, and a last pass moves whoever is
still over a cap to their best hour with room, the subscribers who lose least first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_HOUR_SHARE = 0.15  # spec §3.3: max_hourly_percentage
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ScheduleError(ValueError):
    """The constraints cannot all hold (too few hours for the cap); the message says which."""


@dataclass(frozen=True)
class Schedule:
    hour: np.ndarray  # the chosen column of each row (an hour offset from the campaign's start)
    expected_opens: float  # sum of the chosen P(open)
    price: np.ndarray  # per hour: the P(open) a subscriber gave up to keep that hour within its cap


def capacity(rows: int, max_hour_share: float = MAX_HOUR_SHARE) -> int:
    """The most rows one hour may take: `max_hour_share` of the campaign, at least one."""
    return max(1, math.floor(rows * max_hour_share + 1e-9))


def assign(p_open: np.ndarray, allowed: np.ndarray | None = None, max_hour_share: float = MAX_HOUR_SHARE,
           rounds: int = 60) -> Schedule:
    """Each row's hour (column of `p_open`, rows x hours) maximising the sum of P(open), with no
    hour over its cap and only `allowed` hours (a boolean per hour, or rows x hours) used."""
    p = np.asarray(p_open, dtype=float)
    n, hours = p.shape
    ok = np.ones_like(p, dtype=bool) if allowed is None else np.broadcast_to(np.asarray(allowed, dtype=bool), p.shape)
    if n == 0:
        return Schedule(np.zeros(0, dtype=int), 0.0, np.zeros(hours))
    cap = capacity(n, max_hour_share)
    if not ok.any(axis=1).all():
        raise ScheduleError(f"{int((~ok.any(axis=1)).sum())} subscriber(s) have no allowed hour")
    if ok.any(axis=0).sum() * cap < n:
        raise ScheduleError(f"{int(ok.any(axis=0).sum())} allowed hour(s) x {cap} per hour cannot carry {n} sends "
                            f"at most {max_hour_share:.0%} an hour: allow more hours or a larger share")
    value = np.where(ok, p, -np.inf)
    price = np.zeros(hours)
    step = max(float(np.nanstd(p[ok])), 1e-6) / 4
    for _ in range(rounds):
        load = np.bincount(np.argmax(value - price, axis=1), minlength=hours)
        over = load > cap
        if not over.any():
            break
        price[over] += step * (load[over] / cap - 1 + 0.05)
        step *= 0.93
    hour = _repair(value, price, np.argmax(value - price, axis=1), cap)
    return Schedule(hour, float(p[np.arange(n), hour].sum()), price)


def _repair(value: np.ndarray, price: np.ndarray, hour: np.ndarray, cap: int) -> np.ndarray:
    """Move rows out of hours over the cap, those losing least first, each to its best hour with room."""
    n, hours = value.shape
    hour = hour.copy()
    load = np.bincount(hour, minlength=hours)
    if (load <= cap).all():
        return hour
    net = value - price
    for h in np.flatnonzero(load > cap):
        rows = np.flatnonzero(hour == h)
        alternative = np.where(np.arange(hours)[None, :] == h, -np.inf, net[rows])
        loss = net[rows, h] - alternative.max(axis=1)
        for r in rows[np.argsort(loss)][: load[h] - cap]:
            room = load < cap
            room[h] = False
            target = int(np.argmax(np.where(room, value[r], -np.inf)))
            if not (room[target] and np.isfinite(value[r, target])):
                raise ScheduleError(f"subscriber row {r} has no allowed hour left under the cap: allow more hours")
            hour[r], load[h], load[target] = target, load[h] - 1, load[target] + 1
    return hour


def answer(p_open: np.ndarray, start_hour_utc: int, start_weekday: int, schedule: Schedule,
           fallbacks: int = 3, allowed: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Spec §3.3's per-subscriber answer: the chosen hour (UTC) and day, the confidence (how far
    the chosen hour's P(open) stands above the person's mean over the allowed hours, as a share of
    their spread there, 0-1), and the next best allowed hours as fallbacks."""
    p = np.asarray(p_open, dtype=float)
    n = len(p)
    ok = np.ones_like(p, dtype=bool) if allowed is None else np.broadcast_to(np.asarray(allowed, dtype=bool), p.shape)
    chosen = p[np.arange(n), schedule.hour]
    high, low = np.where(ok, p, -np.inf).max(axis=1), np.where(ok, p, np.inf).min(axis=1)
    mean = np.where(ok, p, 0.0).sum(axis=1) / ok.sum(axis=1).clip(1)
    spread = high - low
    confidence = np.where(spread > 0, (chosen - mean) / np.where(spread > 0, spread, 1), 0.0)
    order = np.argsort(-np.where(ok, p, -np.inf), axis=1, kind="stable")
    others = [row[(row != h) & ok_row[row]][:fallbacks] for row, h, ok_row in zip(order, schedule.hour, ok, strict=True)]
    absolute = start_hour_utc + schedule.hour
    return {
        "optimal_hour_utc": absolute % 24,
        "optimal_day": np.array([WEEKDAYS[(start_weekday + a // 24) % 7] for a in absolute], dtype=object),
        "confidence": np.clip(confidence, 0.0, 1.0),
        "fallback_hours": np.array([list((start_hour_utc + o) % 24) for o in others], dtype=object),
        "p_open": chosen,
    }
