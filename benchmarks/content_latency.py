"""MDL-007's time per email in process on this machine's cores: the spam probability alone, the
whole answer (rules, compliance, every suggested rewrite scored again), and a cache hit; then the
same through the MLServer runtime on 127.0.0.1, over REST (JSON) and over gRPC with raw tensor
contents (the path a sending system at volume uses).

Latency depends on the encoder's shape, not on how well it trained, so each size is trained briefly
(`--scale` of its steps, on `--train` messages of seed 0's training block, spread over it); the
emails timed are that seed's test block, one at a time, as a sender's pre-send check calls it.

With `--scorer FILE`, the scorer as the pipeline registers it is timed too (the members validation
kept, engagement included, trained on the whole training block): what a sender's check runs.

Run: `.venv/bin/python benchmarks/content_latency.py [--scorer FILE]` (writes
benchmarks/results/content_latency.json).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from content_spam import SHARED_CORPUS, SIZES
from provenance import write_results

from adaptive_delivery.delivery.models.mdl007_content import model as spam_model
from adaptive_delivery.delivery.models.mdl007_content.corpus import read_spamassassin, time_splits
from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
from adaptive_delivery.delivery.models.mdl007_content.spec import SPEC

RUNTIME = SPEC.runtime
HERE = Path(__file__).resolve().parent
WARMUP = 20  # requests before timing starts (these emails are then cached)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "calls": len(ms)}


def _test_block(corpus: Path) -> tuple[list, np.ndarray, object]:
    messages = read_spamassassin(corpus)
    y = np.array([m.spam for m in messages], dtype=int)
    return [m.content for m in messages], y, time_splits(messages)[0]


def time_size(name: str, scale: float, corpus: Path, emails: int, train: int) -> dict[str, object]:
    """A stack of every member at an encoder size, trained briefly (its shape is what costs)."""
    contents, y, split = _test_block(corpus)
    cfg = SIZES[name].scaled(scale)
    # every member kept, so the time is the whole stack's (validation may keep fewer)
    fit_on = split.train[::max(1, len(split.train) // train)]
    check_on = split.validation[::max(1, len(split.validation) // train)]
    scorer = spam_model.fit_scorer([contents[i] for i in fit_on], y[fit_on], [contents[i] for i in check_on],
                                   y[check_on], cfg, candidates=[spam_model.MEMBERS])
    return {"encoder": asdict(cfg), "trained_on": len(fit_on), **time_scorer(scorer, [contents[i] for i in split.test[:emails]])}


def time_registered(path: Path, corpus: Path, emails: int) -> dict[str, object]:
    """A scorer as the pipeline registers it (the members validation kept, engagement included),
    on the test block of the split it was trained on."""
    contents, _, split = _test_block(corpus)
    scorer = spam_model.load_scorer(path)
    return {"members": list(scorer.stacked.members), "encoder": scorer.encoder is not None,
            "engagement": scorer.engagement is not None, **time_scorer(scorer, [contents[i] for i in split.test[:emails]])}


def time_scorer(scorer: spam_model.ContentScorer, test: list) -> dict[str, object]:
    """In process, one email at a time: P(spam) alone, the whole answer (each email's first time, as
    served), a cache hit; then served."""
    import torch

    # the whole answer on a fresh copy: nothing of these emails remembered by the P(spam) loop
    assessor = ContentAssessor(pickle.loads(pickle.dumps(scorer)))
    for c in test[:20]:  # warm-up
        scorer.proba([c])
    proba, answer, hit = [], [], []
    for c in test:
        t0 = time.perf_counter()
        scorer.proba([c])
        proba.append(time.perf_counter() - t0)
    for c in test[:20]:
        assessor.assess(c)
    for c in test[20:]:
        t0 = time.perf_counter()
        assessor.assess(c)
        answer.append(time.perf_counter() - t0)
    for c in test:
        t0 = time.perf_counter()
        assessor.assess(c)
        hit.append(time.perf_counter() - t0)
    return {"torch_threads": torch.get_num_threads(), "spam_probability": percentiles(proba),
            "whole_answer": percentiles(answer), "cache_hit": percentiles(hit), "served": served_times(scorer, test)}


def served_times(scorer: spam_model.ContentScorer, test: list) -> dict[str, dict[str, float]]:
    """The same emails through the MLServer runtime on 127.0.0.1, one per request, over REST (JSON)
    and over gRPC with raw tensor contents (each on a freshly started server, so neither finds the
    other's answers cached): each email's first request (the whole answer) and its second (a cache
    hit)."""
    rows = [{"subject": c.subject, "preheader": c.preheader, "body": c.body} for c in test]
    rest, grpc = _serve(scorer, rows, _rest_times), _serve(scorer, rows, _grpc_times)
    return {"whole_answer": rest["first"], "cache_hit": rest["again"],
            "grpc_whole_answer": grpc["first"], "grpc_cache_hit": grpc["again"]}


def _serve(scorer: spam_model.ContentScorer, rows: list[dict], client) -> dict[str, dict[str, float]]:
    from serving import local

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        scorer.save(folder / "mdl007_scorer.joblib")
        http, grpc = local.free_port(), local.free_port()
        settings = local.write_settings(Path(tmp) / "mlserver", {"mdl-007": ("bench", folder)}, http, grpc,
                                        runtimes={"mdl-007": RUNTIME})
        server = local.start(settings, http, grpc, "mdl-007")
        try:
            times = client(server, rows, Path(tmp))
        finally:
            server.stop()
    return {k: percentiles(v) for k, v in times.items()}


def _rest_times(server, rows: list[dict], _: Path) -> dict[str, list[float]]:
    """V2 JSON over HTTP, one keep-alive session (the first twenty rows warm up and are not timed)."""
    import requests

    session = requests.Session()
    url = f"{server.url}/v2/models/mdl-007/infer"

    def call(row: dict) -> float:
        body = {"inputs": [{"name": n, "shape": [1], "datatype": "BYTES", "data": [v]} for n, v in row.items()]}
        t0 = time.perf_counter()
        r = session.post(url, json=body, timeout=30)
        took = time.perf_counter() - t0
        r.raise_for_status()
        return took

    for row in rows[:WARMUP]:
        call(row)
    return {"first": [call(r) for r in rows[WARMUP:]], "again": [call(r) for r in rows[WARMUP:]]}


def _grpc_times(server, rows: list[dict], tmp: Path) -> dict[str, list[float]]:
    """Raw-tensor gRPC from the serving environment (`grpc_timing.py`: MLServer's stubs live there)."""
    from serving import local

    path = tmp / "rows.json"
    path.write_text(json.dumps(rows))
    done = subprocess.run([str(local.SERVING_PYTHON), str(HERE / "grpc_timing.py"), "--port", str(server.grpc_port),
                           "--model", "mdl-007", "--warmup", str(WARMUP), str(path)],
                          capture_output=True, text=True, check=False, cwd=local.REPO,
                          env={**os.environ, "PYTHONPATH": str(local.REPO)})
    if done.returncode:
        raise RuntimeError(f"grpc_timing failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=SHARED_CORPUS)
    parser.add_argument("--sizes", nargs="*", default=["small", "base"])
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--emails", type=int, default=1_000)
    parser.add_argument("--train", type=int, default=400, help="messages to train on (shape only)")
    parser.add_argument("--scorer", type=Path, help="also time this exported scorer, as registered (e.g. the one "
                        "benchmarks/content_gate.py trains as the pipeline does)")
    args = parser.parse_args(argv)
    report: dict[str, object] = {"sizes": {s: time_size(s, args.scale, args.corpus, args.emails, args.train)
                                           for s in args.sizes}}
    if args.scorer:
        report["registered"] = time_registered(args.scorer, args.corpus, args.emails)
    path = write_results("content_latency.json", report, [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    print(path)
    for s, r in [*report["sizes"].items(), *([("registered", report["registered"])] if args.scorer else [])]:
        print(s, {k: r[k] for k in ("spam_probability", "whole_answer", "cache_hit", "served")})


if __name__ == "__main__":
    main()
