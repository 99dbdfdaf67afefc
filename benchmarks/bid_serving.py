"""MKT-002 serving latency: the conversion trees trained as the pipeline trains them (quick
profile, seed 0), then timed for bid requests of 1 and 1,000 auctions (p50 / p99 over 1,000
requests each): the answer in process, and served by its MLServer runtime on 127.0.0.1 over V2
REST (JSON) and over gRPC with raw tensor contents (the client in the serving environment, on the
same cores). The auctions are an evaluation world's, with the state a campaign's bidder keeps.

Run: `.venv/bin/python benchmarks/bid_serving.py` (writes benchmarks/results/bid_serving.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from campaign_serving import BATCHES, grpc, in_process, rest
from provenance import write_results

from adaptive_delivery.marketing import bidding as bd
from adaptive_delivery.marketing.models.mkt002_bidding import training
from adaptive_delivery.marketing.models.mkt002_bidding.service import answer_rows, load_value_model
from adaptive_delivery.platform.spec import export_as, get
from adaptive_delivery.twin import marketing as tw

NAME = "mkt-002"


def auction_rows(model: bd.CvrModel, count: int, seed: int = training.EVALUATION_SEED) -> list[dict]:
    """An evaluation campaign's auctions after five days of its optimiser, as its bidder asks."""
    world = tw.MarketingWorld.build(seed, n_campaigns=1)
    c = world.campaigns[0]
    opt = bd.BidOptimiser(pacing_gain=training.PACING_GAIN, prior=model)
    for day in range(5):
        tw.run_day(world, 0, day, opt)
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    hour = 0
    while len(rows) < count:
        opp = world.opportunities(0, 5, hour % 24)
        for s, d in zip(opp.segment, opp.device, strict=True):
            rows.append({"hour": float(hour % 24), "weekday": 5.0, "segment": bd.SEGMENTS[s], "device": bd.DEVICES[d],
                         "historical_cvr": float(opt.rates[s, d]), "campaign_age": opt.campaign_age,
                         "hour_cpc": float(opt.hour_cpc[hour % 24]), "value_per_conversion": c.value,
                         "budget": c.budget, "budget_left": float(c.budget * rng.uniform(0.05, 1.0)),
                         "pacing_multiplier": opt.multiplier})
        hour += 1
    return rows[:count]


def main(argv: list[str] | None = None) -> None:
    from serving import local

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    spec = get("MKT-002")
    report: dict[str, object] = {"requests": args.requests, "cells": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        trained = training.train_and_save(spec.policy_trainer.timesteps["quick"], 0, tmp / "trained")
        folder = tmp / "model"
        path = export_as(training.MODEL_FILE)(trained, folder)
        model = load_value_model(path)
        rows = auction_rows(model, 4_000)
        http_port, grpc_port = local.free_port(), local.free_port()
        settings = local.write_settings(tmp / "mlserver", {NAME: ("bench", folder)}, http_port, grpc_port,
                                        runtimes={NAME: spec.runtime})
        server = local.start(settings, http_port, grpc_port, NAME)
        try:
            for batch in BATCHES:
                cells = {"in_process": in_process(lambda c: answer_rows(model, c), rows, batch, args.requests),
                         "rest": rest(server, rows, batch, args.requests, NAME),
                         "grpc_raw": grpc(server, rows, batch, args.requests, tmp, NAME)}
                report["cells"][str(batch)] = cells
                print(batch, json.dumps(cells), flush=True)
        finally:
            server.stop()
    print(write_results("bid_serving.json", report, command))


if __name__ == "__main__":
    main()
