"""The A/B test manager (marketing spec): multi-variant experiments with sticky assignment, pause
and complete, judged with the statistics the model rollouts use (two-proportion z-tests against
the control, Holm's correction over the variants).

Assignment is the rollouts' own: a user's FNV-1a bucket of (user id + experiment id) in [0, 1],
cut at the variants' cumulative shares, so a user keeps a variant for the whole experiment, and
no cache or table of assignments is needed. A paused experiment shows everyone the control; a
switched-off variant's users see the control while everyone else keeps theirs; a completed one
shows its winner (the control unless a winner was declared)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import numpy as np

from adaptive_delivery.platform.rollout.assignment import bucket
from adaptive_delivery.platform.rollout.stats import holm, two_proportion_z
from adaptive_delivery.platform.rollout.store import JsonStore

ALPHA = 0.05
MIN_TRIALS = 1_000  # per variant before a difference is judged at all
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class TestStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


@dataclass
class Variant:
    name: str
    share: float  # of the experiment's traffic, in (0, 1]
    description: str = ""
    active: bool = True


@dataclass
class ABTest:
    experiment_id: str
    variants: list[Variant]  # the first is the control
    started: str
    status: TestStatus = TestStatus.ACTIVE
    ended: str | None = None
    winner: str | None = None
    history: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not SAFE_ID.match(self.experiment_id):
            raise ValueError(f"experiment id {self.experiment_id!r}: letters, digits, '.', '_' or '-', at most 128")
        names = [v.name for v in self.variants]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"an experiment needs at least two variants with distinct names, not {names}")
        shares = np.array([v.share for v in self.variants], dtype=float)
        if (shares <= 0).any() or abs(shares.sum() - 1.0) > 1e-6:
            raise ValueError(f"variant shares must be positive and add up to 1, not {shares.tolist()}")
        if not self.variants[0].active:
            raise ValueError("the control (the first variant) cannot be switched off")

    @property
    def control(self) -> str:
        return self.variants[0].name

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"{self.experiment_id} has no variant {name!r}; it has {[v.name for v in self.variants]}")


def create(experiment_id: str, shares: dict[str, float], now: datetime, descriptions: dict[str, str] | None = None
           ) -> ABTest:
    """A new active experiment; the first variant named is the control."""
    return ABTest(experiment_id, [Variant(n, float(s), (descriptions or {}).get(n, "")) for n, s in shares.items()],
                  started=now.isoformat())


def assign(test: ABTest, user_ids) -> np.ndarray:
    """The variant each user sees now (names)."""
    users = [str(u) for u in user_ids]
    if test.status == TestStatus.PAUSED:
        return np.full(len(users), test.control, dtype=object)
    if test.status == TestStatus.COMPLETED:
        return np.full(len(users), test.winner or test.control, dtype=object)
    edges = np.cumsum([v.share for v in test.variants])
    edges[-1] = 1.0 + 1e-12  # the top bucket belongs to the last variant
    names = np.array([v.name if v.active else test.control for v in test.variants], dtype=object)
    points = np.array([bucket(u, test.experiment_id) for u in users])
    return names[np.searchsorted(edges, points, side="right")]


def _record(test: ABTest, action: str, now: datetime, **extra) -> None:
    test.history.append({"at": now.isoformat(), "action": action, **extra})


def pause(test: ABTest, now: datetime, reason: str) -> ABTest:
    if test.status != TestStatus.ACTIVE:
        raise ValueError(f"{test.experiment_id} is {test.status.value}; only an active experiment pauses")
    test.status = TestStatus.PAUSED
    _record(test, "pause", now, reason=reason)
    return test


def resume(test: ABTest, now: datetime) -> ABTest:
    if test.status != TestStatus.PAUSED:
        raise ValueError(f"{test.experiment_id} is {test.status.value}; only a paused experiment resumes")
    test.status = TestStatus.ACTIVE
    _record(test, "resume", now)
    return test


def switch(test: ABTest, name: str, active: bool, now: datetime) -> ABTest:
    """Switch a variant off (its users see the control) or back on."""
    if name == test.control and not active:
        raise ValueError("the control cannot be switched off")
    test.variant(name).active = active
    _record(test, "switch_on" if active else "switch_off", now, variant=name)
    return test


def complete(test: ABTest, now: datetime, winner: str | None = None, reason: str = "") -> ABTest:
    """End the experiment; everyone then sees `winner` (a variant's name; None: the control)."""
    if test.status == TestStatus.COMPLETED:
        raise ValueError(f"{test.experiment_id} is already completed")
    if winner is not None:
        test.variant(winner)
    test.status, test.ended, test.winner = TestStatus.COMPLETED, now.isoformat(), winner or test.control
    _record(test, "complete", now, winner=test.winner, reason=reason)
    return test


@dataclass
class VariantResult:
    name: str
    trials: int
    successes: int
    rate: float
    lift: float | None = None  # relative to the control
    z: float | None = None
    p: float | None = None
    p_holm: float | None = None
    better: bool = False
    worse: bool = False


def analyse(test: ABTest, tallies: dict[str, tuple[int, int]], alpha: float = ALPHA,
            min_trials: int = MIN_TRIALS) -> tuple[list[VariantResult], str | None]:
    """Each variant against the control from (successes, trials) tallies, Holm-corrected over the
    variants compared; returns the results and the variant a decision would pick now (the best
    significantly better one; None while nothing is)."""
    unknown = sorted(set(tallies) - {v.name for v in test.variants})
    if unknown:
        raise KeyError(f"tallies for unknown variants {unknown}")
    out = []
    for v in test.variants:
        s, n = tallies.get(v.name, (0, 0))
        if s < 0 or n < 0 or s > n:
            raise ValueError(f"{v.name}: {s} successes in {n} trials is impossible")
        out.append(VariantResult(v.name, int(n), int(s), s / n if n else float("nan")))
    control = out[0]
    compared = [r for r in out[1:] if r.trials >= min_trials and control.trials >= min_trials]
    for r in compared:
        r.z, r.p = two_proportion_z(control.successes, control.trials, r.successes, r.trials)
        r.lift = (r.rate - control.rate) / control.rate if control.rate else None
    for r, adjusted in zip(compared, holm([r.p for r in compared]), strict=True):
        r.p_holm = adjusted
        r.better, r.worse = adjusted < alpha and r.z > 0, adjusted < alpha and r.z < 0
    better = [r for r in compared if r.better]
    return out, (max(better, key=lambda r: r.rate).name if better else None)


class ABTestStore(JsonStore[ABTest]):
    """One JSON file per experiment under `root`, written atomically; `register` refuses an id in use."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root, "experiment", key=lambda test: test.experiment_id, encode=_encode, decode=_decode,
                         valid_id=lambda i: bool(SAFE_ID.match(i)))

    def register(self, test: ABTest) -> Path:
        if self.path(test.experiment_id).exists():
            raise FileExistsError(f"experiment {test.experiment_id!r} exists; complete it or pick another id")
        return self.save(test)


def _encode(test: ABTest) -> dict:
    return {**asdict(test), "status": test.status.value}


def _decode(data: dict) -> ABTest:
    return ABTest(**{**data, "variants": [Variant(**v) for v in data["variants"]], "status": TestStatus(data["status"])})
