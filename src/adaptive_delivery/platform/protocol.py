"""The evaluation protocol every model is judged by, the same for all of them.

- **Training worlds** draw seeds at or above `TRAINING_SEED_FLOOR`.
- **Validation worlds** (`VALIDATION_SEEDS`) serve every choice: hyper-parameters, defaults, the
  tuning of the rule baselines, which policy to ship.
- **Sealed worlds** (`SEALED_SEEDS`) serve headlines only, once per model version: `model evaluate
  --sealed` claims them in the ledger before it runs, and a second claim for the same version is
  refused. A version is the content hash of what is judged (a policy file, or a model's recipe).

Figures are means with a 95% interval over at least `MIN_WORLDS` worlds and, for a policy learned
by a randomised trainer, over at least `MIN_TRAINING_RUNS` training runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import stats

TRAINING_SEED_FLOOR = 100_000
VALIDATION_SEEDS: tuple[int, ...] = tuple(range(1001, 1021))
SEALED_SEEDS: tuple[int, ...] = tuple(range(9001, 9011))
# sealed worlds beyond the first ten, drawn only by a model that has used all ten: a version changed
# after a sealed result still meets worlds no earlier version of it was judged on
SEALED_RESERVE: tuple[int, ...] = tuple(range(9011, 9101))
MIN_WORLDS = 5
MIN_TRAINING_RUNS = 3
SPLITS = ("training", "validation", "sealed")
LEDGER_ENV = "AD_SEALED_LEDGER"
DEFAULT_LEDGER = Path("benchmarks") / "results" / "sealed_ledger.jsonl"


class SealedReuseError(RuntimeError):
    """A model version asked for the sealed worlds a second time."""


def split_of(seed: int) -> str:
    """Which split a world seed belongs to ('other' for seeds no split owns, e.g. ad-hoc worlds)."""
    if seed >= TRAINING_SEED_FLOOR:
        return "training"
    if seed in VALIDATION_SEEDS:
        return "validation"
    if seed in SEALED_SEEDS or seed in SEALED_RESERVE:
        return "sealed"
    return "other"


def require_unsealed(seeds: Iterable[int]) -> list[int]:
    """The seeds, unless one of them is sealed: sealed worlds are reached only through a claim."""
    seeds = list(seeds)
    sealed = [s for s in seeds if split_of(s) == "sealed"]
    if sealed:
        raise ValueError(f"seeds {sealed} are sealed test worlds: they are used once per model version, "
                         "through `model evaluate --sealed`; choose on validation seeds "
                         f"{VALIDATION_SEEDS[0]}-{VALIDATION_SEEDS[-1]}")
    return seeds


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% interval, and what it is over."""

    mean: float
    low: float
    high: float
    worlds: int
    runs: int = 1

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.half_width:.2g}"

    def to_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "half_width": self.half_width}


def interval(cells: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Mean and t-interval of a metric measured on worlds (a vector) or on training runs x worlds
    (a matrix, one row per run). For a matrix the variance adds the spread between worlds (each
    world averaged over runs) and between runs (each run averaged over worlds), each over its own
    count: run-to-run luck is part of what a reader of the figure would get by training again.
    The degrees of freedom are the smaller count less one, which errs wide."""
    values = np.atleast_2d(np.asarray(cells, dtype=float))
    if np.isnan(values).any():
        raise ValueError("a cell is NaN: every run must be measured on every world")
    runs, worlds = values.shape
    mean = float(values.mean())
    if worlds < 2 and runs < 2:
        return Interval(mean, float("nan"), float("nan"), worlds, runs)
    var = 0.0
    if worlds > 1:
        var += values.mean(axis=0).var(ddof=1) / worlds
    if runs > 1:
        var += values.mean(axis=1).var(ddof=1) / runs
    dof = max(min(w for w in (worlds, runs) if w > 1) - 1, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, dof) * np.sqrt(var))
    return Interval(mean, mean - half, mean + half, worlds, runs)


def artefact_version(paths: Iterable[str | Path]) -> str:
    """The content hash of what is judged: files, or folders (every file in them but caches), in a
    stable order. Two copies of the same policy are the same version; a retrained one is not."""
    digest = hashlib.sha256()
    for root in sorted(Path(p) for p in paths):
        files = [root] if root.is_file() else sorted(
            f for f in root.rglob("*") if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc")
        if not files:
            raise FileNotFoundError(f"nothing to version at {root}")
        for f in files:
            digest.update(str(f.relative_to(root)).encode())  # "." for a file: a renamed copy is the same
            digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()[:16]


def ledger_path() -> Path:
    """The sealed-use ledger: $AD_SEALED_LEDGER, else benchmarks/results/sealed_ledger.jsonl of the
    checkout the command runs in (found from the working folder upwards, so that a benchmark run
    from benchmarks/ records its use in the same ledger; kept in git, so every headline's one use
    is on record)."""
    if os.environ.get(LEDGER_ENV):
        return Path(os.environ[LEDGER_ENV])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_LEDGER.parent).is_dir():
            return folder / DEFAULT_LEDGER
    return DEFAULT_LEDGER


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


@dataclass(frozen=True)
class SealedLedger:
    """An append-only record of every use of the sealed worlds, one JSON line per use."""

    path: Path

    def uses(self, model_id: str | None = None) -> list[dict]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return [r for r in rows if model_id is None or r["model_id"] == model_id]

    def use_of(self, model_id: str, version: str) -> dict | None:
        """The recorded use of the sealed worlds by this version (None: it has not used them)."""
        return next((u for u in self.uses(model_id) if u["version"] == version), None)

    def unseen_seeds(self, model_id: str, n: int, sealed: Sequence[int] = SEALED_SEEDS + SEALED_RESERVE) -> list[int]:
        """The first `n` sealed worlds no earlier version of `model_id` was judged on (the first ten,
        then the reserve), so that a version changed after a sealed result is judged on worlds that
        result did not come from; the first `n` of all once fewer than `n` are left (the ledger still
        records each use)."""
        seen = {s for u in self.uses(model_id) for s in u["seeds"]}
        fresh = [s for s in sealed if s not in seen]
        return fresh[:n] if len(fresh) >= n else list(sealed[:n])

    def claim(self, model_id: str, version: str, seeds: Sequence[int], command: str = "") -> dict:
        """Record a use of the sealed worlds by `version` of `model_id` before it happens (a crash
        mid-run still counts as the use); refuse a second use of the same version."""
        if (use := self.use_of(model_id, version)) is not None:
            raise SealedReuseError(
                f"{model_id} version {version} was already evaluated on the sealed worlds on {use['date']} "
                f"(commit {use['commit']}); a version sees them once. Choose on validation worlds, "
                "and bring a new version (retrained or changed) for a new headline.")
        if len(seeds) < MIN_WORLDS:
            raise ValueError(f"a headline needs at least {MIN_WORLDS} worlds, got {len(seeds)}")
        bad = [s for s in seeds if split_of(s) != "sealed"]
        if bad:
            raise ValueError(f"seeds {bad} are not sealed worlds")
        use = {"model_id": model_id, "version": version, "seeds": list(seeds),
               "date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _commit(),
               "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
               "command": command}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(use) + "\n")
        return use
