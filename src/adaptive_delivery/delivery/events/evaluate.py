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
