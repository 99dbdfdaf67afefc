"""The whole system against spec §11 (`adaptive-delivery kpi`'s run) with its results JSON: business
as usual, adaptive and oracle senders from the same moment of the same worlds, the ablations and the
per-provider breakdown; mean and 95% interval over the worlds.

Run: `.venv/bin/python benchmarks/kpi_report.py --seeds 1001-1005 --content-scorer FILE` (validation:
benchmarks/results/kpi_validation.json); `--sealed` claims the sealed worlds once for this version
(benchmarks/results/kpi_sealed.json). FILE is an exported MDL-007 scorer (`benchmarks/content_gate.py`
trains one as the pipeline does).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from provenance import RESULTS, provenance

from adaptive_delivery.delivery.kpi import harness
from adaptive_delivery.delivery.kpi.senders import Rules
from adaptive_delivery.platform import protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipelines import training as pipelines  # noqa: E402  (the KFP adapter lives beside the package)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1001-1005")
    parser.add_argument("--sealed", action="store_true")
    parser.add_argument("--worlds", type=int, default=5)
    parser.add_argument("--subscribers", type=int, default=harness.KpiSize.subscribers)
    parser.add_argument("--history-days", type=int, default=harness.KpiSize.history_days)
    parser.add_argument("--days", type=int, default=harness.KpiSize.days)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--content-scorer", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/kpi"))
    args = parser.parse_args()
    size = harness.KpiSize(subscribers=args.subscribers, history_days=args.history_days, days=args.days)
    rules = Rules()
    out = args.out
    if args.sealed:
        version, seeds = harness.claim_sealed(size, args.profile, rules, args.content_scorer, args.worlds,
                                              command=shlex.join(sys.argv))
        out = out / f"sealed-{version}"
    else:
        lo, _, hi = args.seeds.partition("-")
        seeds = protocol.require_unsealed(range(int(lo), int(hi or lo) + 1))
    summary = harness.run(out, list(seeds), size, train=lambda spec, **kw: pipelines.run_here(spec, "in-process", **kw),
                          profile=args.profile, rules=rules, scorer_file=args.content_scorer, ablations=True,
                          seeds_kind="sealed" if args.sealed else "validation", progress=lambda m: print(m, flush=True))
    summary["version"] = harness.kpi_version(size, args.profile, rules, args.content_scorer)
    summary["size"] = asdict(size)
    summary["provenance"] = provenance()
    RESULTS.mkdir(exist_ok=True)
    name = "kpi_sealed.json" if args.sealed else "kpi_validation.json"
    (RESULTS / name).write_text(json.dumps(summary, indent=2, default=float))
    print(json.dumps({m: {n: round(v[n]["mean"], 5) for n in ("business_as_usual", "adaptive", "oracle") if n in v}
                      for m, v in summary["section_11"].items() if "not_measured" not in v}))


if __name__ == "__main__":
    main()
