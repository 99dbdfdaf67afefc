"""Measure the bounce/ARF parser on a labelled corpus (the sisimai set-of-emails layout).

`expected.json` maps a file name to its verdicts (one per failed recipient, in order): enhanced
`status`, SMTP `reply_code`, `reason`, `hard_bounce` and, for ARF, `feedback_type`. Accuracy is per
verdict; a missing verdict counts as wrong. `status` is scored only where the expected code is a
real RFC 3463 code: codes of the form X.0.9NN are another tool's private pseudo-codes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from adaptive_delivery.delivery.events.dsn import MalformedMessage, parse_message
from adaptive_delivery.delivery.events.ingest import lake_status
from adaptive_delivery.delivery.events.reasons import outcome_for

PSEUDO_STATUS = re.compile(r"^[245]\.0\.9\d\d$")


@dataclass
class CorpusScore:
    verdicts: int = 0
    correct: Counter = field(default_factory=Counter)
    scored: Counter = field(default_factory=Counter)
    confusion: Counter = field(default_factory=Counter)  # (expected reason, got reason)
    errors: list[str] = field(default_factory=list)
    not_bounce_total: int = 0
    not_bounce_rejected: int = 0

    def accuracy(self) -> dict[str, float]:
        return {k: self.correct[k] / self.scored[k] for k in sorted(self.scored) if self.scored[k]}


def score_corpus(root: str | Path) -> CorpusScore:
    root = Path(root)
    expected = json.loads((root / "expected.json").read_text())
    score = CorpusScore()
    for name, verdicts in sorted(expected.items()):
        try:
            got = parse_message((root / "maildir" / name).read_bytes()).verdicts
        except MalformedMessage as exc:
            got = []
            score.errors.append(f"{name}: {exc.reason}")
        for i, exp in enumerate(verdicts):
            g = got[i] if i < len(got) else None
            score.verdicts += 1
            exp_outcome = outcome_for(exp["reason"], exp["hard_bounce"])
            checks = {
                "outcome_class": (g.outcome if g else None) == exp_outcome,
                "reason": (g.reason if g else None) == exp["reason"],
                "hard_bounce": (g.hard_bounce if g else None) == exp["hard_bounce"],
                "reply_code": (g.reply_code if g else None) == exp["reply_code"],
            }
            if exp["status"] and not PSEUDO_STATUS.match(exp["status"]):
                checks["status"] = (g.status if g else None) == exp["status"]
            if exp.get("feedback_type"):
                checks["feedback_type"] = (g.feedback_type if g else None) == exp["feedback_type"]
            for k, ok in checks.items():
                score.scored[k] += 1
                score.correct[k] += int(ok)
            score.confusion[(exp["reason"], g.reason if g else "<missing>")] += 1
    not_dir = root / "not-bounce"
    for path in sorted(not_dir.glob("*")) if not_dir.exists() else []:
        score.not_bounce_total += 1
        try:
            kind = parse_message(path.read_bytes()).kind
        except MalformedMessage:
            kind = "malformed"
        score.not_bounce_rejected += int(kind not in ("dsn", "arf"))  # not a failure report or complaint
    return score


# ---- failed-recipient extraction -------------------------------------------------------------
# A corpus for it: `maildir/` and `recipients.json`, which maps a file name to
# {"recipients": [the failed addresses], "delayed": true where the report is a delay warning}.
# Files with no expected recipient are read (a parser must not crash on them) but not scored.


@dataclass
class Extraction:
    """What one parser read from one report: the failed addresses (lower case), whether it
    refused the message as no failure report, and whether it read a delay (not a bounce)."""

    addresses: frozenset[str]
    refused: bool
    delayed: bool


@dataclass
class RecipientScore:
    files: int = 0  # scored: with at least one expected recipient
    expected: int = 0
    found: int = 0  # expected addresses that were extracted
    exact: int = 0  # files whose extracted set is the expected set
    wrong: int = 0  # extracted addresses that are not among the expected ones
    refused: int = 0  # failure reports refused as not being one
    no_recipient: int = 0  # accepted as a failure report, with no address
    delayed: int = 0  # delay warnings
    delayed_read_as_delay: int = 0
    wrong_files: list[str] = field(default_factory=list)
    missed_files: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"files": self.files, "expected_recipients": self.expected,
                "recipient_recall": round(self.found / max(self.expected, 1), 4),
                "exact_set_rate": round(self.exact / max(self.files, 1), 4), "wrong_addresses": self.wrong,
                "refused_reports": self.refused, "accepted_without_recipient": self.no_recipient,
                "delay_warnings": self.delayed, "delay_warnings_read_as_delays": self.delayed_read_as_delay}


def ours(raw: bytes) -> Extraction:
    """This project's parser (`dsn.parse_message`), as the lake would record the report: not
    a failure report or complaint is a refusal; a report all of whose recipients are deferred is
    a delay."""
    try:
        parsed = parse_message(raw)
    except MalformedMessage:
        return Extraction(frozenset(), True, False)
    if parsed.kind not in ("dsn", "arf"):  # a complaint report names its recipient too
        return Extraction(frozenset(), True, False)
    statuses = [lake_status(v)[0] for v in parsed.verdicts]
    return Extraction(frozenset(v.recipient.lower() for v in parsed.verdicts if v.recipient), False,
                      bool(statuses) and all(s == "deferred" for s in statuses))


def score_recipients(root: str | Path, extract=ours) -> RecipientScore:
    """Score an extractor (`ours`, or any bytes -> Extraction) on a recipients corpus."""
    root = Path(root)
    labels = json.loads((root / "recipients.json").read_text())
    score = RecipientScore()
    for name, label in sorted(labels.items()):
        got = extract((root / "maildir" / name).read_bytes())
        expected = {a.lower() for a in label["recipients"]}
        if not expected:
            continue
        score.files += 1
        score.expected += len(expected)
        score.found += len(expected & got.addresses)
        score.exact += int(got.addresses == expected)
        score.wrong += len(got.addresses - expected)
        score.refused += int(got.refused)
        score.no_recipient += int(not got.refused and not got.addresses)
        if got.addresses - expected:
            score.wrong_files.append(name)
        if expected - got.addresses:
            score.missed_files.append(name)
        if label.get("delayed"):
            score.delayed += 1
            score.delayed_read_as_delay += int(got.delayed)
    return score
