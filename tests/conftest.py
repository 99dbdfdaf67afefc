"""Shared fixtures: a tiny simulated world built once per session, and the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """6,000 subscribers over 7 days: every event kind appears, in a few seconds."""
    out = tmp_path_factory.mktemp("tiny_world")
    simulate(WorldConfig(subscribers=6_000, days=7, seed=11), out, progress=False)
    return out


@pytest.fixture(scope="session")
def bounce_corpus() -> Path:
    path = SHARED_DATA / "bounces"
    if not (path / "expected.json").exists():
        pytest.skip(f"the shared bounce corpus is not beside this checkout ({path}); it ships with the team's shared data")
    return path
