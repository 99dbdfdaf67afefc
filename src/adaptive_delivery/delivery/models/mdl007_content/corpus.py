"""Labelled mail for MDL-007 and the split it is judged on.

The SpamAssassin public corpus comes in folders (`easy_ham`, `hard_ham`, `spam`, and their `_2`
sequels collected later). The split keeps time order inside every folder: each folder's messages are
sorted by their Date header and cut into five contiguous blocks; seed k tests on block k of every
folder, validates on the block after it, and trains on the other three. So every folder (every kind
of ham, every spam wave) is in every split, and every message is tested exactly once over the five
seeds. No content is both learned and judged: identical content (the same hash after normalising case
and spacing; the corpus holds such copies across folders) is dropped from training and validation
when it is in the test block, and from training when it is in the validation block.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adaptive_delivery.delivery.models.mdl007_content.content import Content, from_message

HAM_FOLDERS = ("easy_ham", "easy_ham_2", "hard_ham", "hard_ham_2")
SPAM_FOLDERS = ("spam", "spam_2")
BLOCKS = 5  # five time blocks: five seeds, each message tested exactly once
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Labelled:
    """One corpus message: its content, whether it is spam, where and when it was written."""

    content: Content
    spam: bool
    folder: str
    name: str
    sent: datetime


@dataclass(frozen=True)
class Split:
    """One seed's partition (lists of indices into the corpus)."""

    seed: int
    train: list[int]
    validation: list[int]
    test: list[int]


def _sent(msg: email.message.Message) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    # Some spam claims dates decades off; those sort by the folder's file order instead.
    return when if datetime(1995, 1, 1, tzinfo=UTC) < when < datetime(2010, 1, 1, tzinfo=UTC) else None


def read_folder(folder: Path, spam: bool) -> list[Labelled]:
    """Every message file of one folder ('cmds' index files are not mail)."""
    out: list[Labelled] = []
    previous = _EPOCH
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "cmds"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        # an undated message sorts right after the one before it in the folder's own order
        sent = _sent(msg) or previous
        previous = sent
        out.append(Labelled(from_message(msg), spam, folder.name, path.name, sent))
    return out


def read_spamassassin(root: Path, folders: Iterable[str] = HAM_FOLDERS + SPAM_FOLDERS) -> list[Labelled]:
    """The corpus under `root` (one sub-folder per corpus folder); a missing folder is an error."""
    messages: list[Labelled] = []
    for name in folders:
        folder = root / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a SpamAssassin corpus folder")
        messages += read_folder(folder, spam=name in SPAM_FOLDERS)
    return messages


def _blocks(messages: Sequence[Labelled]) -> list[int]:
    """The time block (0..BLOCKS-1) of every message, cut per folder by date."""
    block = [0] * len(messages)
    by_folder: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        by_folder.setdefault(m.folder, []).append(i)
    for members in by_folder.values():
        ordered = sorted(members, key=lambda i: (messages[i].sent, messages[i].name))
        for rank, i in enumerate(ordered):
            block[i] = rank * BLOCKS // len(ordered)
    return block


def time_splits(messages: Sequence[Labelled]) -> list[Split]:
    """Seeds 0..4: test on time block k of every folder, validate on block k+1, train on the rest."""
    block = _blocks(messages)
    keys = [m.content.key for m in messages]
    splits = []
    for seed in range(BLOCKS):
        test = [i for i, b in enumerate(block) if b == seed]
        test_keys = {keys[i] for i in test}
        validation = [i for i, b in enumerate(block)
                      if b == (seed + 1) % BLOCKS and keys[i] not in test_keys]
        held = test_keys | {keys[i] for i in validation}
        train = [i for i, b in enumerate(block)
                 if b not in (seed, (seed + 1) % BLOCKS) and keys[i] not in held]
        splits.append(Split(seed, train, validation, test))
    return splits
