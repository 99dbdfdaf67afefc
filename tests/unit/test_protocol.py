"""The evaluation protocol: seeds belong to one split, sealed worlds are reached only through a claim
and once per version, and the interval covers the truth as often as it says."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.platform import protocol as pr


def test_the_splits_do_not_overlap_and_hold_enough_worlds():
    sealed = pr.SEALED_SEEDS + pr.SEALED_RESERVE
    assert not set(pr.VALIDATION_SEEDS) & set(sealed) and len(set(sealed)) == len(sealed)
    assert max(pr.VALIDATION_SEEDS + sealed) < pr.TRAINING_SEED_FLOOR
    assert len(pr.SEALED_SEEDS) >= pr.MIN_WORLDS and len(pr.VALIDATION_SEEDS) >= pr.MIN_WORLDS
    assert [pr.split_of(s) for s in (pr.VALIDATION_SEEDS[0], pr.SEALED_SEEDS[-1], 10**6, 7)] == \
        ["validation", "sealed", "training", "other"]


def test_sealed_seeds_are_refused_outside_a_claim():
    assert pr.require_unsealed([1001, 1002]) == [1001, 1002]
    with pytest.raises(ValueError, match="sealed"):
        pr.require_unsealed([1001, pr.SEALED_SEEDS[0]])


def test_a_version_claims_the_sealed_worlds_once(tmp_path):
    ledger = pr.SealedLedger(tmp_path / "ledger.jsonl")
    use = ledger.claim("MDL-003", "abc", pr.SEALED_SEEDS[:5], command="model evaluate MDL-003 --sealed")
    assert use["seeds"] == list(pr.SEALED_SEEDS[:5]) and use["commit"]
    with pytest.raises(pr.SealedReuseError, match="already evaluated"):
        pr.SealedLedger(tmp_path / "ledger.jsonl").claim("MDL-003", "abc", pr.SEALED_SEEDS[:5])
    ledger.claim("MDL-003", "def", pr.SEALED_SEEDS[:5])  # a new version may
    ledger.claim("MDL-009", "abc", pr.SEALED_SEEDS[:5])  # the same hash of another model may
    assert [u["version"] for u in ledger.uses("MDL-003")] == ["abc", "def"] and len(ledger.uses()) == 3


def test_a_new_version_is_judged_on_sealed_worlds_the_model_has_not_seen(tmp_path):
    ledger = pr.SealedLedger(tmp_path / "ledger.jsonl")
    assert ledger.unseen_seeds("MDL-010", 5) == list(pr.SEALED_SEEDS[:5])
    ledger.claim("MDL-010", "v1", pr.SEALED_SEEDS[:5])
    ledger.claim("MDL-004", "v1", pr.SEALED_SEEDS[5:])  # another model's use does not count
    assert ledger.unseen_seeds("MDL-010", 5) == list(pr.SEALED_SEEDS[5:10])
    ledger.claim("MDL-010", "v2", ledger.unseen_seeds("MDL-010", 5))
    # every one of the first ten used: the reserve, which no earlier version saw
    assert ledger.unseen_seeds("MDL-010", 5) == list(pr.SEALED_RESERVE[:5])
    assert all(pr.split_of(s) == "sealed" for s in pr.SEALED_RESERVE)
    with pytest.raises(ValueError, match="sealed"):
        pr.require_unsealed([pr.SEALED_RESERVE[-1]])
    few = pr.SealedLedger(tmp_path / "few.jsonl")
    few.claim("MDL-010", "v1", pr.SEALED_SEEDS[:5])
    assert few.unseen_seeds("MDL-010", 5, sealed=pr.SEALED_SEEDS[:5]) == list(pr.SEALED_SEEDS[:5])  # none left: the first again


def test_a_claim_needs_enough_sealed_worlds(tmp_path):
    ledger = pr.SealedLedger(tmp_path / "ledger.jsonl")
    with pytest.raises(ValueError, match="at least"):
        ledger.claim("MDL-003", "abc", pr.SEALED_SEEDS[:pr.MIN_WORLDS - 1])
    with pytest.raises(ValueError, match="not sealed"):
        ledger.claim("MDL-003", "abc", [*pr.SEALED_SEEDS[:4], 1001])
    assert ledger.uses() == []


def test_the_version_is_the_content(tmp_path):
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    a.write_bytes(b"policy one")
    b.write_bytes(b"policy one")
    first = pr.artefact_version([a])
    a.write_bytes(b"policy two")
    assert pr.artefact_version([b]) == first != pr.artefact_version([a])
    folder = tmp_path / "recipe"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "model.py").write_text("x = 1")
    before = pr.artefact_version([folder])
    (folder / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"cache")
    assert pr.artefact_version([folder]) == before
    (folder / "model.py").write_text("x = 2")
    assert pr.artefact_version([folder]) != before


def test_the_interval_of_worlds_and_of_runs_by_worlds():
    one = pr.interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert one.mean == 3.0 and one.worlds == 5 and one.runs == 1
    assert one.half_width == pytest.approx(2.776 * np.sqrt(2.5 / 5), rel=1e-3)  # t(0.975, 4)
    grid = pr.interval(np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 3.0, 4.0, 5.0, 6.0], [3.0, 4.0, 5.0, 6.0, 7.0]]))
    assert grid.mean == 4.0 and (grid.runs, grid.worlds) == (3, 5)
    assert grid.half_width > pr.interval(np.array([[2.0, 3.0, 4.0, 5.0, 6.0]] * 3)).half_width
    with pytest.raises(ValueError, match="NaN"):
        pr.interval([1.0, float("nan")])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_the_interval_covers_the_true_mean_about_95_percent_of_the_time(seed):
    rng = np.random.default_rng(seed)
    runs_effect = rng.normal(0, 0.5, size=(400, 3, 1))
    worlds_effect = rng.normal(0, 1.0, size=(400, 1, 5))
    cells = 10.0 + runs_effect + worlds_effect + rng.normal(0, 0.2, size=(400, 3, 5))
    covered = np.mean([(iv.low <= 10.0 <= iv.high) for iv in map(pr.interval, cells)])
    assert 0.88 <= covered <= 1.0


def test_a_benchmark_run_from_its_folder_records_its_use_in_the_checkouts_ledger(tmp_path, monkeypatch):
    monkeypatch.delenv(pr.LEDGER_ENV, raising=False)
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "benchmarks")
    assert pr.ledger_path() == tmp_path / "benchmarks" / "results" / "sealed_ledger.jsonl"
    monkeypatch.chdir(tmp_path)
    assert pr.ledger_path() == tmp_path / "benchmarks" / "results" / "sealed_ledger.jsonl"
