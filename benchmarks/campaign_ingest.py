"""Campaign reports through a Redis stream into the campaign lake, on this machine: what the Great
Expectations suite costs.

Per world (five by default; mean and 95% interval over them), the marketing twin's campaigns are
bid by the bid optimiser for `--days` days and their hourly reports (one row per campaign, hour,
device, keyword and location with auctions) are published to a stream, with 1% of the rows broken
the ways a connector breaks them (clicks above impressions, a device no platform reports, negative
spend). The stream is then drained by one consumer into a fresh lake, at each batch size:
- with the suite (the product: each batch validated, a Data Docs page for each batch that broke an
  expectation, here every one);
- with the suite, Data Docs off (the validation alone);
- with the lake's own checks only (the batch-local checks, no suite): what the suite adds.
Rows per second written (decode, checks, quarantine, dedupe, Parquet, ledger and acknowledgement
included), from a consumer started on a fresh lake: its Great Expectations project's set-up is in
its first batch, and the library's import (a few seconds) in the first world's first run. Each run
checks that every row is accepted, quarantined or a duplicate, and that with the suite every
broken row is quarantined (the run fails otherwise).

Run: `.venv/bin/python benchmarks/campaign_ingest.py [--worlds 5 --days 7 --batches 1000 5000]`
(writes benchmarks/results/campaign_ingest.json; needs redis-server on PATH).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.marketing import events
from adaptive_delivery.marketing.bidding import BidOptimiser
from adaptive_delivery.platform.lake import Catalogue, EventsLake, split_by_reason
from adaptive_delivery.platform.lake_stream import LakeSink
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.streams import StreamConsumer, connect, ledger, publish
from adaptive_delivery.twin.marketing import MarketingWorld, campaign_reports
from serving import local

MODES = ("suite", "suite_no_docs", "lake_checks_only")
BROKEN_SHARE = 0.01


def reports(seed: int, days: int) -> tuple[list[dict], int]:
    """A world's report rows with 1% broken, and how many are broken."""
    rows = list(campaign_reports(MarketingWorld.build(seed), days, lambda c: BidOptimiser(seed=seed)))
    rng = np.random.default_rng(seed)
    broken = rng.choice(len(rows), int(len(rows) * BROKEN_SHARE), replace=False)
    for k, i in enumerate(broken):
        r = rows[i]
        rows[i] = [dict(r, impressions=r["clicks"] + 1, clicks=r["clicks"] + 3), dict(r, device="smart-tv"),
                   dict(r, spend=-1.0)][k % 3]
    return rows, len(broken)


def lake_for(mode: str, root: Path) -> EventsLake:
    if mode == "suite":
        return events.lake(root)
    if mode == "suite_no_docs":
        return events.lake(root, docs=False)
    def local_only(kind: str, table):
        table = events.conform(kind, table)
        return split_by_reason(table, events.batch_checks(table), kind)

    return EventsLake(root, Catalogue(events={events.KIND: events.CAMPAIGN_STATS}, dimensions={},
                                      time_column={events.KIND: "event_ts"}, key_column={events.KIND: "event_id"},
                                      conform=events.conform, validate=local_only))


def consume(client, rows: list[dict], n_broken: int, mode: str, batch: int, work: Path) -> float:
    """Rows per second from a stream of the rows into a fresh lake."""
    stream = f"bench:{mode}:{batch}:{time.monotonic_ns()}"
    publish(client, stream, ((events.KIND, r) for r in rows))
    root = work / stream.replace(":", "-")
    lake = lake_for(mode, root)
    consumer = StreamConsumer(client, stream, "lake", "c1", LakeSink(lake), batch=batch)
    started = time.perf_counter()
    handled = consumer.drain(idle_ms=20)
    seconds = time.perf_counter() - started
    lines = ledger(client, stream)
    accepted, quarantined, dupes = (sum(x[k] for x in lines) for k in ("items_accepted", "items_quarantined",
                                                                        "duplicates"))
    if handled != len(rows) or accepted + quarantined + dupes != len(rows):
        raise RuntimeError(f"{mode}: {handled} handled, {accepted}+{quarantined}+{dupes} of {len(rows)}")
    if mode != "lake_checks_only" and quarantined != n_broken:
        raise RuntimeError(f"{mode}: {quarantined} quarantined, {n_broken} broken")
    client.delete(stream, f"{stream}:ledger")
    shutil.rmtree(root, ignore_errors=True)
    return len(rows) / seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=5)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+", default=[1_000, 5_000])
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="campaign-ingest-"))
    proc, port = local.start_redis(work)
    try:
        client = connect(f"127.0.0.1:{port}")
        rates = {f"{m}@{b}": [] for m in MODES for b in args.batches}
        sizes = []
        for seed in range(1, args.worlds + 1):
            rows, n_broken = reports(7_000 + seed, args.days)
            sizes.append(len(rows))
            for key in rates:
                mode, batch = key.split("@")
                rates[key].append(consume(client, rows, n_broken, mode, int(batch), work))
                print(f"world {seed}: {key}: {rates[key][-1]:,.0f} rows/s", file=sys.stderr)
        out = {"worlds": args.worlds, "days": args.days, "rows_per_world": interval(sizes).to_dict(),
               "broken_share": BROKEN_SHARE, "batches": args.batches, "modes": list(MODES),
               "rows_per_second": {k: interval(v).to_dict() for k, v in rates.items()}}
        write_results("campaign_ingest.json", out)
    finally:
        proc.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
