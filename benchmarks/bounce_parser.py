"""Bounce/ARF parser: per-field accuracy and messages per second on the real corpus, beside a
baseline that classifies from the enhanced status code alone (what many ESPs still do).

Run: `make bench` (needs ../shared/data/bounces). Writes benchmarks/results/bounce_parser.json.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from provenance import write_results

from adaptive_delivery.delivery.events.dsn import MalformedMessage, parse_message
from adaptive_delivery.delivery.events.evaluate import score_corpus
from adaptive_delivery.delivery.events.reasons import outcome_for, reason_from_status

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "bounces"


def status_only_baseline(root: Path) -> dict:
    """Reason from the expected status code alone: an upper bound for a code-only classifier."""
    expected = json.loads((root / "expected.json").read_text())
    n = reason_ok = outcome_ok = 0
    for verdicts in expected.values():
        for exp in verdicts:
            n += 1
            reason = reason_from_status(exp["status"]) or ("undefined" if exp["status"] else "undefined")
            hard = reason in {"userunknown", "hostunknown", "hasmoved", "notaccept"}
            reason_ok += reason == exp["reason"]
            outcome_ok += outcome_for(reason, hard) == outcome_for(exp["reason"], exp["hard_bounce"])
    return {"reason": round(reason_ok / n, 4), "outcome_class": round(outcome_ok / n, 4)}


def main() -> None:
    if not (CORPUS / "expected.json").exists():
        sys.exit(f"corpus not found at {CORPUS}")
    files = sorted((CORPUS / "maildir").iterdir())
    raws = [f.read_bytes() for f in files]
    t0 = time.perf_counter()
    for raw in raws * 3:
        with contextlib.suppress(MalformedMessage):
            parse_message(raw)
    seconds = time.perf_counter() - t0
    score = score_corpus(CORPUS)
    report = {
        "verdicts": score.verdicts,
        "ours": {k: round(v, 4) for k, v in score.accuracy().items()},
        "status_code_only_baseline": status_only_baseline(CORPUS),
        "not_bounce_rejected": f"{score.not_bounce_rejected}/{score.not_bounce_total}",
        "messages_per_second": round(3 * len(raws) / seconds),
    }
    write_results("bounce_parser.json", report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
