"""Failed-recipient extraction: this project's parser beside flufl.bounce (GNU Mailman's bounce
detectors), on the same messages, with speed.

Corpora:
- `benchmarks/data/flufl-bounce/`: flufl.bounce's own test messages (Apache-2.0) with the failed
  recipients its tests expect (`recipients.json`): recall, exact-set rate, wrong addresses,
  refused reports, delay warnings read as delays. flufl.bounce was built on these: its score here
  is the bar, not a fair fight.
- `../shared/data/bounces/` (sisimai/set-of-emails), where labels give the number of failed
  recipients per report but not their addresses: reports read with no address, reports with as
  many addresses as verdicts, and how often the two parsers name the same set.
- `--corpus DIR` (repeatable): any other corpus in the `maildir/` + `recipients.json` layout.

Run: `.venv/bin/python benchmarks/bounce_recipients.py` (writes
benchmarks/results/bounce_recipients.json).
"""

from __future__ import annotations

import argparse
import email
import json
import time
from pathlib import Path

from provenance import write_results

from adaptive_delivery.delivery.events.evaluate import Extraction, ours, score_recipients

HERE = Path(__file__).resolve().parent
FLUFL_CORPUS = HERE / "data" / "flufl-bounce"
SHARED_CORPUS = HERE.parents[1] / "shared" / "data" / "bounces"


def flufl(raw: bytes) -> Extraction:
    """flufl.bounce as a mailing-list manager calls it: every detector's temporary and permanent
    failures; nothing found is a refusal."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw))
    except Exception:  # noqa: BLE001 - a detector that breaks refuses the report
        return Extraction(frozenset(), True, False)
    found = frozenset(a.decode("utf-8", "replace").lower() for a in set(temporary) | set(permanent))
    return Extraction(found, not found, bool(temporary) and not permanent)


EXTRACTORS = {"ours": ours, "flufl_bounce": flufl}


def speed(raws: list[bytes], extract, rounds: int = 3) -> float:
    """Messages per second over the corpus, best of `rounds` passes."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in raws:
            extract(raw)
        best = min(best, time.perf_counter() - started)
    return round(len(raws) / best, 1)


def labelled(root: Path) -> dict:
    """Both parsers on a corpus with recipient labels."""
    raws = [p.read_bytes() for p in sorted((root / "maildir").iterdir())]
    return {name: {**score_recipients(root, f).summary(), "messages_per_second": speed(raws, f)}
            for name, f in EXTRACTORS.items()}


def counted(root: Path, timed: bool = True) -> dict:
    """Both parsers on the sisimai corpus: labels say how many recipients failed, not which
    (`timed`: with messages/s)."""
    expected = json.loads((root / "expected.json").read_text())
    names = sorted(expected)
    raws = [(root / "maildir" / n).read_bytes() for n in names]
    found = {name: [f(raw) for raw in raws] for name, f in EXTRACTORS.items()}
    out = {"reports": len(names), "verdicts": sum(len(v) for v in expected.values())}
    for name, results in found.items():
        out[name] = {
            "refused_reports": sum(r.refused for r in results),
            "reports_without_address": sum(not r.addresses for r in results),
            "reports_with_as_many_addresses_as_verdicts": sum(
                len(r.addresses) == len(expected[n]) for r, n in zip(results, names, strict=True)),
            **({"messages_per_second": speed(raws, EXTRACTORS[name])} if timed else {}),
        }
    out["same_addresses_where_both_name_some"] = sum(
        a.addresses == b.addresses for a, b in zip(found["ours"], found["flufl_bounce"], strict=True)
        if a.addresses and b.addresses)
    out["both_name_some"] = sum(bool(a.addresses and b.addresses)
                                for a, b in zip(found["ours"], found["flufl_bounce"], strict=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, action="append", default=[],
                        help="another corpus: DIR/maildir and DIR/recipients.json")
    args = parser.parse_args()
    report: dict = {"flufl_bounce_test_messages": labelled(FLUFL_CORPUS)}
    if (SHARED_CORPUS / "expected.json").exists():
        report["sisimai_set_of_emails"] = counted(SHARED_CORPUS)
    for extra in args.corpus:
        report[extra.resolve().name] = labelled(extra.resolve())
    write_results("bounce_recipients.json", report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
