"""MDL-007 as a pre-send gate in the twin: the same worlds run twice, once with every campaign sent as
written and once with each campaign checked first (approved: sent; not approved: every suggestion
applied and checked again; still not approved: held). Spam placement, blocks, complaints and human
opens of what went out, per world, gated beside ungated, mean and 95% interval over the worlds.

The twin's providers read a campaign's spamminess partly off its text (`twin.content.text_readings`:
trigger phrases, capitals in the subject, exclamation marks); a rewrite moves what they perceive by
what it changed there and leaves the rest (the offer) as it was. The scorer never sees the twin's
hidden numbers: it reads the subject, preheader, body and headers a sender would send it.

The scorer is trained here on the SpamAssassin corpus exactly as the pipeline's train step does
(`--budget` pre-training steps), or read from `--scorer` (a file the pipeline exported). Sealed
worlds are used once per scorer version (the ledger records it); `--seeds validation` for choices.

Run: `.venv/bin/python benchmarks/content_gate.py` (writes benchmarks/results/content_gate.json).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
from provenance import write_results
from scipy.stats import spearmanr

from adaptive_delivery.delivery.models.mdl007_content.model import load_scorer
from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
from adaptive_delivery.delivery.models.mdl007_content.training import export_scorer, train_and_save
from adaptive_delivery.delivery.models.mdl007_content.twin_gate import content_gate
from adaptive_delivery.platform import protocol
from adaptive_delivery.twin import content as twin_content
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import World

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = ("spam_placement", "block_rate", "complaint_rate", "human_open_rate", "messages", "human_opens")


def outcomes(days: list[pa.Table]) -> dict[str, float]:
    """Expected rates over the messages that went out (the twin's true probabilities, so the luck of
    single draws does not hide a difference), and realised complaints and opens."""
    t = pa.concat_tables(days).to_pandas() if days else None
    if t is None or t.empty:
        return dict.fromkeys(METRICS, 0.0)
    accepted = t["p_inbox"] + t["p_spam"]
    return {"spam_placement": float(t["p_spam"].sum() / accepted.sum()), "block_rate": float(t["p_block"].mean()),
            "complaint_rate": float(t["complained"].mean()), "human_open_rate": float(t["human_open"].mean()),
            "messages": float(len(t)), "human_opens": float(t["human_open"].sum())}


def run_world(config: WorldConfig, gate=None) -> tuple[dict[str, float], list[dict]]:
    world = World(config)
    days = []
    for _ in range(config.days):
        result = world.step_day(content_gate=gate)
        if result.truth:
            days.append(result.truth["messages"])
    return outcomes(days), world.gate_log


SCORER = Path("runs") / "content_gate" / "mdl007_scorer.joblib"  # trained once, judged twice
VALIDATION_FILE = "content_gate_validation.json"
# P(spam) after the rewrite at which a campaign is held: the scorer's own threshold (None), higher
# bars, and never on the score alone (above 1). Chosen on validation worlds by human opens.
HOLD_AT = (None, 0.7, 0.8, 0.9, 0.95, 0.99, 1.01)
_UNGATED: dict[tuple[int, int, int], dict[str, float]] = {}


def scorer_file(args: argparse.Namespace) -> Path:
    """The scorer judged: `--scorer`, else the one trained here before, else train it (as the
    pipeline's train step does, seed 0's split of the corpus)."""
    if args.scorer:
        return args.scorer
    if not SCORER.exists():
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            trained = train_and_save(args.budget, 0, Path(tmp))
            SCORER.parent.mkdir(parents=True, exist_ok=True)
            export_scorer(trained, SCORER.parent)
        print(f"scorer trained in {time.perf_counter() - started:.0f} s", flush=True)
    return SCORER


def judge(assessor: ContentAssessor, seeds: list[int], hold_at: float | None, args) -> tuple[dict, list[dict]]:
    """Every world ungated and gated; the per-world rows and their summary."""
    rows = []
    for seed in seeds:
        config = WorldConfig(subscribers=args.subscribers, days=args.days, seed=seed)
        started = time.perf_counter()
        key = (seed, args.subscribers, args.days)
        if key not in _UNGATED:  # the same for every candidate
            _UNGATED[key] = run_world(config)[0]
        plain = _UNGATED[key]
        seen: list[tuple[float, float]] = []
        gated, log = run_world(replace(config), content_gate(assessor, config, hold_at, seen))
        hidden, scored = np.array(seen).T
        row = {"seed": seed, "ungated": plain, "gated": gated, "campaigns": len(log),
               "held": sum(g["held"] for g in log), "rewritten": sum(g["rewritten"] for g in log),
               "held_audience_share": sum(g["audience"] for g in log if g["held"]) / max(sum(g["audience"] for g in log), 1),
               "spamminess_drop_of_rewritten": float(np.mean([g["spamminess_written"] - g["spamminess_sent"]
                                                              for g in log if g["rewritten"]] or [0.0])),
               # does the scorer rank the twin's campaigns as their hidden spamminess does?
               "score_vs_hidden_spearman": float(spearmanr(hidden, scored).statistic),
               "seconds": time.perf_counter() - started}
        rows.append(row)
        print(f"hold at {hold_at}, world {seed}: spam placement {plain['spam_placement']:.4f} -> "
              f"{gated['spam_placement']:.4f}, blocks {plain['block_rate']:.5f} -> {gated['block_rate']:.5f}, "
              f"opens {plain['human_opens']:.0f} -> {gated['human_opens']:.0f}; {row['rewritten']} of "
              f"{row['campaigns']} campaigns rewritten, {row['held']} held", flush=True)
    summary: dict[str, dict] = {}
    for arm in ("ungated", "gated"):
        summary[arm] = {m: protocol.interval([r[arm][m] for r in rows]).to_dict() for m in METRICS}
    summary["gated_minus_ungated"] = {m: protocol.interval([r["gated"][m] - r["ungated"][m] for r in rows]).to_dict()
                                      for m in METRICS}
    for key in ("held", "rewritten", "campaigns", "held_audience_share", "spamminess_drop_of_rewritten",
                "score_vs_hidden_spearman"):
        summary[key] = protocol.interval([float(r[key]) for r in rows]).to_dict()
    return summary, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scorer", type=Path, help="a scorer the pipeline exported (default: train one)")
    parser.add_argument("--budget", type=int, default=400, help="pre-training steps when training here")
    parser.add_argument("--seeds", choices=("validation", "sealed"), default="validation",
                        help="validation: choose where to hold; sealed: the headline, with that choice")
    parser.add_argument("--worlds", type=int, default=5)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    path = scorer_file(args)
    version = protocol.artefact_version([path])
    assessor = ContentAssessor(load_scorer(path))
    report: dict[str, object] = {"scorer_version": version, "scorer_members": "+".join(assessor.scorer.stacked.members),
                                 "threshold": assessor.scorer.threshold, "subscribers": args.subscribers,
                                 "days": args.days, "text_reading_weights": twin_content.TEXT_READING_WEIGHTS}
    if args.seeds == "validation":
        seeds = list(protocol.VALIDATION_SEEDS[:args.worlds])
        candidates = {}
        for hold_at in HOLD_AT:
            summary, _ = judge(assessor, seeds, hold_at, args)
            candidates[str(hold_at)] = summary
        chosen = max(HOLD_AT, key=lambda h: (candidates[str(h)]["gated"]["human_opens"]["mean"],
                                             -candidates[str(h)]["gated"]["spam_placement"]["mean"]))
        report |= {"seeds": seeds, "split": "validation", "candidates": candidates, "chosen_hold_at": chosen,
                   "objective": "human opens over the horizon (ties: lower spam placement)"}
        print(write_results(VALIDATION_FILE, report, command))
        print(f"chosen: hold at {chosen}")
        return
    validation = json.loads((RESULTS / VALIDATION_FILE).read_text()) if (RESULTS / VALIDATION_FILE).exists() else None
    if validation is None or validation["scorer_version"] != version:
        raise SystemExit("run --seeds validation with this scorer first: the sealed worlds judge its choice")
    hold_at = validation["chosen_hold_at"]
    seeds = list(protocol.SEALED_SEEDS[:args.worlds])
    protocol.SealedLedger(protocol.ledger_path()).claim("MDL-007", version, seeds, command=shlex.join(command))
    summary, rows = judge(assessor, seeds, hold_at, args)
    report |= {"seeds": seeds, "split": "sealed", "hold_at": hold_at, "summary": summary, "per_world": rows}
    print(write_results("content_gate.json", report, command))
    d = summary["gated_minus_ungated"]
    for m in ("spam_placement", "block_rate", "human_opens"):
        print(f"gated - ungated {m}: {d[m]['mean']:+.5f} [{d[m]['low']:+.5f}, {d[m]['high']:+.5f}]")


if __name__ == "__main__":
    main()
