"""Publishing feature tables: readers find a whole set at every instant, a build killed at any
point leaves the last set published, a partial build keeps the other tables, and what died or
was superseded is cleaned up."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adaptive_delivery.platform import feature_publish as pub

TABLES = ("subscriber", "provider", "calendar")


def _stage(out: Path, generation: int, tables=TABLES, rows: int = 50) -> Path:
    staging = pub.staging_folder(out)
    for name in tables:
        (staging / name).mkdir(parents=True)
        pq.write_table(pa.table({"generation": [generation] * rows}), staging / name / "part-0.parquet")
    return staging


def _generations(out: Path) -> dict[str, set[int]]:
    return {name: set(pq.read_table(out / name).column("generation").to_pylist()) for name in TABLES}


def test_a_partial_build_keeps_the_other_tables_and_the_old_version_goes(tmp_path):
    out = tmp_path / "features"
    first = pub.publish(_stage(out, 1), out)
    assert out.is_symlink() and _generations(out) == {name: {1} for name in TABLES}
    inode = (out / "subscriber" / "part-0.parquet").stat().st_ino
    pub.publish(_stage(out, 2, tables=("provider",)), out, keep=TABLES)
    assert _generations(out) == {"subscriber": {1}, "provider": {2}, "calendar": {1}}
    assert not first.exists() and pub.versions(out) == [out.resolve()]
    assert (out / "subscriber" / "part-0.parquet").stat().st_ino == inode  # linked, not copied


def test_a_relative_output_path_keeps_what_it_published(tmp_path, monkeypatch):
    """`--out runs/features` from the working folder: the published version is not taken for an old one."""
    monkeypatch.chdir(tmp_path)
    out = Path("runs") / "features"
    out.parent.mkdir()
    pub.publish(_stage(out, 1), out)
    pub.publish(_stage(out, 2, tables=("provider",)), out, keep=TABLES)
    assert _generations(out) == {"subscriber": {1}, "provider": {2}, "calendar": {1}}
    assert pub.versions(out) == [out.resolve().relative_to(tmp_path)]


def test_the_first_publish_over_a_folder_from_before_versions(tmp_path):
    out = tmp_path / "features"
    staging = _stage(out, 1)
    staging.rename(out)  # a plain folder, as builds published before
    pub.publish(_stage(out, 2, tables=("calendar",)), out, keep=TABLES)
    assert out.is_symlink() and _generations(out) == {"subscriber": {1}, "provider": {1}, "calendar": {2}}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".features.lock") == sorted(["features", out.resolve().name])


def test_a_dangling_published_link_is_pointed_at_the_newest_version(tmp_path):
    out = tmp_path / "features"
    version = pub.publish(_stage(out, 1), out)
    out.unlink()
    out.symlink_to("nowhere")
    pub.recover(out)
    assert out.resolve() == version


def test_staging_of_a_dead_build_is_removed_once_stale_and_a_live_one_is_kept(tmp_path):
    out = tmp_path / "features"
    pub.publish(_stage(out, 1), out)
    dead, live = _stage(out, 9), _stage(out, 10)
    old = time.time() - pub.STALE_SECONDS - 60
    os.utime(dead, (old, old))
    assert pub.clean(out) == [dead] and live.exists()


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    import pyarrow as pa, pyarrow.parquet as pq
    from adaptive_delivery.platform import feature_publish as pub
    out, generation = Path(sys.argv[1]), int(sys.argv[2])
    while True:
        generation += 1
        staging = pub.staging_folder(out)
        for name in ("subscriber", "provider", "calendar"):
            (staging / name).mkdir(parents=True)
            pq.write_table(pa.table({"generation": [generation] * 50}), staging / name / "part-0.parquet")
        pub.publish(staging, out, keep=("provider",) if generation % 3 == 0 else ())
        print("published", flush=True)  # the parent kills it at a random point of a later publish
""")


def test_publishing_killed_at_random_points_always_leaves_a_whole_published_set(tmp_path):
    out = tmp_path / "features"
    pub.publish(_stage(out, 0), out)
    rng = random.Random(7)
    published = []
    for _ in range(20):
        start = max(max(g) for g in _generations(out).values())
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(start + 1_000)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "published", child.communicate()[1][-2000:]
        time.sleep(rng.uniform(0.0, 0.1))
        child.send_signal(signal.SIGKILL)
        child.wait()
        found = _generations(out)  # no recovery first: what a reader finds right after the crash
        assert all(len(g) == 1 for g in found.values()) and found["subscriber"] == found["calendar"], found
        published.append(max(max(g) for g in found.values()))
    assert len(set(published)) > 5, published  # the kills did land between many different publishes
    pub.clean(out)
    assert pub.versions(out) == [out.resolve()]


@pytest.mark.parametrize("tables", [("subscriber",), TABLES])
def test_every_table_present_after_a_publish(tmp_path, tables):
    out = tmp_path / "features"
    pub.publish(_stage(out, 1), out)
    pub.publish(_stage(out, 2, tables=tables), out, keep=TABLES)
    assert sorted(p.name for p in out.iterdir()) == sorted(TABLES)
