"""One JSON file per record under a folder, written atomically (write, then rename): how rollouts
and A/B tests keep their state, so either survives a crash and is read by the next command."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class JsonStore(Generic[T]):
    """Records of one kind (`what` names them in errors), each a JSON file named by its id;
    `encode` and `decode` turn a record into JSON-ready data and back, `key` gives its id, and
    `valid_id` refuses an id that could not be a file name."""

    def __init__(self, root: str | Path, what: str, key: Callable[[T], str], encode: Callable[[T], dict[str, Any]],
                 decode: Callable[[dict[str, Any]], T], valid_id: Callable[[str], bool] = lambda _: True) -> None:
        self.root, self.what = Path(root), what
        self._key, self._encode, self._decode, self._valid_id = key, encode, decode, valid_id

    def path(self, record_id: str) -> Path:
        if not self._valid_id(record_id):
            raise ValueError(f"{self.what} id {record_id!r} is not a valid id")
        return self.root / f"{record_id}.json"

    def save(self, record: T) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(self._key(record))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._encode(record), indent=2, default=str))
        os.replace(tmp, path)
        return path

    def load(self, record_id: str) -> T:
        path = self.path(record_id)
        if not path.exists():
            raise FileNotFoundError(f"no {self.what} {record_id!r} under {self.root}")
        return self._decode(json.loads(path.read_text()))

    def list(self) -> list[T]:
        return [self.load(p.stem) for p in sorted(self.root.glob("*.json"))] if self.root.exists() else []
