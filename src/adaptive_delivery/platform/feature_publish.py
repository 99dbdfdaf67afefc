"""Publishing a feature build so that readers always find a whole set of tables.

The published folder (`features/`) is a symbolic link to a version folder beside it
(`.features.v-<time>-<id>/`). A build writes a new version in full (tables it did not rebuild are
hard-linked from the current version), then one rename replaces the link: a reader, or a crash at
any instant, sees the old set or the new one, never a mix and never nothing. Superseded versions,
and what an interrupted build left behind, are removed after each publish.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

STALE_SECONDS = 6 * 3600  # a staging folder untouched this long belongs to a build that died


def _version_prefix(out: Path) -> str:
    return f".{out.name}.v-"


def versions(out: Path) -> list[Path]:
    """The version folders beside `out`, oldest first (their names start with the publish time)."""
    return sorted(p for p in out.parent.glob(_version_prefix(out) + "*") if p.is_dir() and not p.is_symlink())


def staging_folder(out: Path) -> Path:
    """Where a build writes before it publishes (beside `out`, on the same file system)."""
    return out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def publish_lock(out: Path) -> Iterator[None]:
    """One publisher at a time per published folder (builds themselves may overlap)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.parent / f".{out.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def recover(out: Path) -> None:
    """Where `out` is missing (a crash inside the one-time move of a folder from before versions),
    point it at the newest whole version."""
    if out.exists():  # follows the link: a dangling one is replaced
        return
    found = versions(out)
    if found:
        _point(out, found[-1])


def _point(out: Path, version: Path) -> None:
    """Replace `out` with a link to `version` in one rename (a relative link: the parent may move)."""
    link = out.parent / f".{out.name}.link-{uuid.uuid4().hex[:8]}"
    link.symlink_to(version.name, target_is_directory=True)
    os.replace(link, out)


def current_tables(out: Path) -> list[str]:
    """The tables of the published version (every product's), to keep beside a partial build."""
    current = out.resolve() if out.exists() else None
    return sorted(p.name for p in current.iterdir() if p.is_dir()) if current is not None else []


def build_and_publish(out: Path, build: Callable[[Path], dict[str, int]]) -> dict[str, int]:
    """Run `build(staging)`, which writes tables into a staging folder and returns their rows by
    name, then publish them as one new version beside every other current table (every
    product's); a build that fails leaves nothing behind. Returns what `build` returned."""
    out = Path(out)
    staging = staging_folder(out)
    try:
        rows = build(staging)
        publish(staging, out, keep=[t for t in current_tables(out) if t not in rows])
        return rows
    except Exception:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staging: Path, out: Path, keep: Iterable[str] = ()) -> Path:
    """Make `staging` the published set: the tables named in `keep` that `staging` lacks are
    hard-linked from the current version first, then `out` is switched to it in one rename.
    Returns the new version folder."""
    with publish_lock(out):
        recover(out)
        current = out.resolve() if out.exists() else None
        for name in keep:
            if current is not None and (current / name).is_dir() and not (staging / name).exists():
                shutil.copytree(current / name, staging / name, copy_function=os.link)
        version = out.parent / f"{_version_prefix(out)}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        staging.rename(version)
        if out.exists() and not out.is_symlink():  # a folder from before versions: moved aside once
            out.rename(out.parent / f"{_version_prefix(out)}{0:020d}-legacy-{uuid.uuid4().hex[:8]}")
        _point(out, version)
        clean(out)
    return version


def clean(out: Path) -> list[Path]:
    """Remove every version but the published one, leftover links, and staging folders of builds
    that died (untouched for STALE_SECONDS); returns what was removed."""
    out = out.absolute()  # a relative `out` must not make the published version look like a stale one
    published = out.resolve() if out.exists() else None
    removed = []
    for path in out.parent.glob(f".{out.name}.*"):
        if path.name.endswith(".lock") or (not path.is_symlink() and path.resolve() == published):
            continue
        stale_staging = ".staging-" in path.name and time.time() - path.stat().st_mtime > STALE_SECONDS
        if path.is_symlink() and ".link-" in path.name:
            path.unlink()
        elif path.name.startswith(_version_prefix(out)) or ".old-" in path.name or stale_staging:
            shutil.rmtree(path, ignore_errors=True)
        else:
            continue
        removed.append(path)
    return removed
