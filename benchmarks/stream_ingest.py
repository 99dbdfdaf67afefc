"""Delivery events through a Redis stream into the lake, beside the batch path, on this machine.

Per world (five by default, mean and 95% interval over them), a world is simulated (the batch
path's lake), then:
- batch: every event of the world ingested into a fresh lake, one `EventsLake.ingest` per kind and
  day (how a daily batch job writes);
- publish: the world replayed into a stream (`stream.replay`), events/s appended;
- consume: the stream drained into a fresh lake by one consumer, then by two (one process each,
  sharing the group), events/s written (checks, dedupe, quarantine, ledger, acknowledgement
  included); the same updating the outcome store (SQLite) too; the same pushing, after each batch,
  the feature rows it changed into Feast's Redis online store (and its packed vectors): per content
  and provider, and per provider's 15-minute window (the event-driven path); and the same with the
  subscriber snapshots' process beside each consumer, pushing everyone's row as the stream's clock
  passes each midnight (a replay crowds the world's midnights into seconds);
- snapshot burst: one midnight's subscriber snapshot alone, as a deployment meets it once a day:
  every subscriber's row computed from the lake, then pushed, rows/s;
- latency: producer and consumers at once, the producer paced at each of `--rates` events/s; per
  event, from its entry id's time (the moment Redis appended it) to the moment its batch was
  acknowledged, p50 / p99, with one consumer; and with the outcome store and the online push, per
  outcome event, from its append to the moment its content's and its provider's features were in
  the online store (event-to-online), with one consumer and with two, each with its subscriber
  snapshots' process beside it on the same two cores (a replay crowds a midnight into every few
  seconds), and with two without it (the rest of a real day).
Every streamed lake is checked equal to the batch path's, and every outcome store's counts equal to
those the batch path's lake gives (the run fails otherwise).

Run: `.venv/bin/python benchmarks/stream_ingest.py [--subscribers N --days D --rates R ...]` (writes
benchmarks/results/stream_ingest.json; needs redis-server on PATH).
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.delivery.events import stream as events_stream
from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.outcome_store import OutcomeStore
from adaptive_delivery.delivery.events.schema import DIMENSION_SCHEMAS, EVENT_SCHEMAS
from adaptive_delivery.delivery.features.online_push import (
    OnlinePush,
    Snapshot,
    SnapshotPusher,
    snapshot_rows,
)
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.streams import StreamConsumer, connect, publish
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import simulate
from serving import local


def _same(a: EventsLake, b: EventsLake) -> None:
    for kind in EVENT_SCHEMAS:
        if a.partitions(kind) and not events_stream.lake_table(a, kind).equals(events_stream.lake_table(b, kind)):
            sys.exit(f"the streamed lake's {kind} differ from the batch path's")


def _batch_counts(world: EventsLake, db: Path):
    store = OutcomeStore(f"sqlite:///{db}")
    store.load(world)
    return store.content_provider()


def _same_counts(store: OutcomeStore, expected) -> None:
    if not store.content_provider().equals(expected):
        sys.exit("the streamed outcome store's counts differ from the batch path's")


def batch_path(world: EventsLake, out: Path) -> dict[str, float]:
    lake = EventsLake(out)
    tables = [(kind, world.read(kind, days=[d])) for kind in EVENT_SCHEMAS for d in world.partitions(kind)]
    started = time.perf_counter()
    for kind, table in tables:
        lake.ingest(kind, table, source="batch")
    took = time.perf_counter() - started
    events = sum(t.num_rows for _, t in tables)
    return {"events": events, "seconds": took, "events_per_s": events / took}


def _online_store(address: str, home: str, apply: bool = True):
    """A Feast store whose online store is the benchmark's Redis (the cluster's online path); its
    definitions applied once, by the parent (consumers applying at once would race on the registry)."""
    fs = st.open_store(home, Path(home).parent / "features", profile="redis-local",
                       project=Path(home).name.replace("-", "_"),
                       AD_REDIS_CONNECTION=address)
    if apply:
        st.apply(fs)
    return fs


def _sink(lake: str, store: str | None, online: tuple[str, str] | None, snapshots: bool = True,
          name: str | None = None) -> events_stream.LakeSink:
    outcomes = OutcomeStore(store) if store else None
    push = (OnlinePush(_online_store(*online, apply=False), outcomes, EventsLake(lake) if snapshots else None, consumer=name)
            if online else None)
    return events_stream.LakeSink(EventsLake(lake), outcomes, push)


def _with_subscribers(lake: Path, world: EventsLake) -> None:
    """The stream's lake holds the world's subscriber list (and other dimensions), as a deployment's
    lake does: the online push's daily subscriber snapshots are made from it."""
    for kind in DIMENSION_SCHEMAS:
        EventsLake(lake).write_dimension(kind, world.read(kind))


def _consume(address: str, stream: str, name: str, lake: str, batch: int, store: str | None,
             online: tuple[str, str] | None, snapshots: bool, times) -> None:
    """One consumer process: drain, then wait for its subscriber snapshots; (drained, snapshots in,
    snapshot rows) to `times`, wall-clock."""
    sink = _sink(lake, store, online, snapshots, name)
    StreamConsumer(connect(address), stream, "lake", name, sink, batch=batch).drain()
    drained = time.time()
    rows = sink.online.wait() if sink.online is not None else 0  # the subscriber snapshots are in too
    times.put((drained, time.time(), rows))


def consume(address: str, stream: str, lake: Path, consumers: int, batch: int, events: int,
            store: str | None = None, online: tuple[str, str] | None = None,
            world: EventsLake | None = None, snapshots: bool = True) -> dict[str, float]:
    if store:
        OutcomeStore(store)  # its table exists before the consumers race to create it
    if online:
        _online_store(*online)  # the registry is applied before the clock starts
        _with_subscribers(lake, world)
    times = multiprocessing.Queue()
    started = time.time()
    procs = [multiprocessing.Process(target=_consume, args=(address, stream, f"c{i}", str(lake), batch, store, online,
                                                            snapshots, times))
             for i in range(consumers)]
    for p in procs:
        p.start()
    ends = []
    while len(ends) < len(procs):
        try:
            ends.append(times.get(timeout=1.0))
        except queue.Empty:
            if any(p.exitcode for p in procs):
                sys.exit(f"a consumer exited with {[p.exitcode for p in procs]}")
    for p in procs:
        p.join()
        if p.exitcode:
            sys.exit(f"consumer exited with {p.exitcode}")
    # events/s while the stream is drained (the subscriber snapshots' process runs beside it all the
    # while); the snapshots of a replay's few days, pushed at once, finish after
    took = max(d for d, _, _ in ends) - started
    return {"consumers": consumers, "events": events, "seconds": took, "events_per_s": events / took,
            "snapshots": bool(online) and snapshots, "snapshots_after_s": max(w for _, w, _ in ends) - started - took,
            "snapshot_rows": sum(r for _, _, r in ends)}


def snapshot_burst(address: str, world: EventsLake, work: Path) -> dict[str, float]:
    """One midnight's subscriber snapshot on its own, as a deployment meets it once a day: every
    subscriber's row computed from the lake, then pushed into a fresh online store."""
    lake = work / "lake"
    _with_subscribers(lake, world)
    for kind in EVENT_SCHEMAS:
        for day in world.partitions(kind):
            EventsLake(lake).ingest(kind, world.read(kind, days=[day]), source="batch")
    fs = _online_store(address, str(work / "feast"))
    view = fs.get_feature_view(SnapshotPusher.VIEW)
    snapshot = Snapshot(max(world.partitions("sends")))
    started = time.perf_counter()
    rows = snapshot_rows(EventsLake(lake), snapshot)
    computed = time.perf_counter()
    st.push_latest(fs, view, rows)
    pushed = time.perf_counter()
    return {"rows": len(rows), "compute_s": computed - started, "push_s": pushed - computed,
            "rows_per_s": len(rows) / (pushed - started)}


def _timed_consumer(address: str, stream: str, name: str, out: str, batch: int, online: bool, snapshots: bool,
                    ready, stop, delays) -> None:
    """One consumer process of the latency runs: the delay of every event it handled (of every
    outcome, with the online push) to `delays`, once the producer has stopped and nothing is left."""
    out_path = Path(out)
    if online:
        sink = _sink(str(out_path / "lake"), f"sqlite:///{out_path / 'outcomes.db'}",
                     (address, str(out_path / "feast")), snapshots, name)
    else:
        sink = events_stream.LakeSink(EventsLake(out_path / "lake"))
    mine: list[float] = []

    def timed(entries):
        report = sink(entries)
        done = time.time() * 1000
        mine.extend(done - int(e.entry_id.split("-")[0]) for e in entries if not online or e.kind == "outcomes")
        return report

    consumer = StreamConsumer(connect(address), stream, "lake", name, timed, batch=batch)
    ready.put(name)
    while not (consumer.step(block_ms=100)[0] == 0 and stop.is_set()):
        pass
    consumer.drain()  # whatever the last read missed of the producer's last appends
    if online:
        sink.online.wait()
    delays.put(mine)


def latency(address: str, world: EventsLake, out: Path, rate: float, batch: int, stream: str,
            online: bool = False, consumers: int = 1, snapshots: bool = True) -> dict[str, float]:
    """Producer paced at `rate` while the consumers run (a process each): entry appended -> batch
    acknowledged; with `online`, outcome entry appended -> its features pushed (the outcome store
    and the push in the sink)."""
    client = connect(address)
    rows = [(kind, row) for _, kind, row in events_stream.in_time_order(world)]
    out.mkdir(parents=True, exist_ok=True)
    if online:
        OutcomeStore(f"sqlite:///{out / 'outcomes.db'}")  # its tables exist before the consumers race to make them
        _online_store(address, str(out / "feast"))
        _with_subscribers(out / "lake", world)
    StreamConsumer.ensure_group(client, stream, "lake")
    ready, stop, delays = multiprocessing.Queue(), multiprocessing.Event(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_timed_consumer, args=(address, stream, f"t{i}", str(out), batch, online,
                                                                   snapshots, ready, stop, delays))
             for i in range(consumers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)  # every consumer set up before the clock starts
    chunk = max(1, int(rate / 100))  # a hundred appends a second, paced
    t0 = time.perf_counter()
    for i in range(0, len(rows), chunk):
        publish(client, stream, rows[i:i + chunk])
        wait = t0 + (i + chunk) / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    stop.set()
    got: list[float] = []
    for _ in procs:
        got.extend(delays.get(timeout=600))
    for p in procs:
        p.join()
        if p.exitcode:
            sys.exit(f"a timed consumer exited with {p.exitcode}")
    d = np.asarray(got)
    return {"rate": rate, "online": online, "consumers": consumers, "snapshots": online and snapshots,
            "events": len(d),
            "p50_ms": float(np.percentile(d, 50)), "p99_ms": float(np.percentile(d, 99)), "max_ms": float(d.max())}


# (consumers, outcome store, online push, subscriber snapshots beside the consumer) per drain
RUNS = ((1, False, False, False), (2, False, False, False), (1, True, False, False), (2, True, False, False),
        (1, True, True, False), (2, True, True, False), (1, True, True, True), (2, True, True, True))

def latency_runs(rates: list[float]) -> list[tuple[bool, int, bool, float]]:
    """(online push, consumers, subscriber snapshots beside, producer's rate) per latency run: into
    the lake by one consumer; to the online store by one consumer and by two, with the snapshots
    beside (a replay brings a midnight every few seconds) and without (the rest of a real day)."""
    return [(*run, rate) for run in ((False, 1, False), (True, 1, True), (True, 2, True), (True, 2, False))
            for rate in rates]


RUN_NAMES = ("consume_1", "consume_2", "consume_1_store", "consume_2_store", "consume_1_online", "consume_2_online",
             "consume_1_snapshots", "consume_2_snapshots")


def one_world(args: argparse.Namespace, seed: int) -> dict[str, object]:
    """Every measurement on one world, on its own Redis and folders."""
    work = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    proc, port = local.start_redis(work)
    address = f"127.0.0.1:{port}"
    try:
        simulate(WorldConfig(subscribers=args.subscribers, days=args.days, seed=seed), work / "world", progress=False)
        world = EventsLake(work / "world" / "lake")
        report: dict[str, object] = {"seed": seed, "batch": batch_path(world, work / "batch")}
        client = connect(address)
        started = time.perf_counter()
        sent = events_stream.replay(client, world, "bench")
        events = sum(sent.values())
        report["publish"] = {"events": events, "events_per_s": events / (time.perf_counter() - started)}
        runs = []
        batch_counts = _batch_counts(world, work / "batch-outcomes.db")
        for consumers, store, online, snapshots in RUNS:
            stream = f"bench-{len(runs)}"
            client.copy("bench", stream)
            url = f"sqlite:///{work / stream}.db" if store else None
            runs.append(consume(address, stream, work / stream, consumers, args.batch, events, url,
                                (address, str(work / f"feast-{stream}")) if online else None, world, snapshots))
            runs[-1].update(outcome_store=store, online_push=online)
            _same(EventsLake(work / stream), world)
            if url:
                _same_counts(OutcomeStore(url), batch_counts)
        report["consume"] = runs
        report["snapshot_burst"] = snapshot_burst(address, world, work / "burst")
        report["latency"] = []
        for online, consumers, snapshots, rate in latency_runs(args.rates):
            name = f"latency-{len(report['latency'])}"
            report["latency"].append(latency(address, world, work / name, rate, args.batch, name, online, consumers,
                                             snapshots))
            _same(EventsLake(work / name / "lake"), world)
            if online:
                _same_counts(OutcomeStore(f"sqlite:///{work / name / 'outcomes.db'}"), batch_counts)
        report["events_by_kind"] = sent
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(report, flush=True)
    return report


def summary(worlds: list[dict]) -> dict[str, object]:
    """Mean and 95% interval over the worlds of each figure."""
    out: dict[str, object] = {
        "batch_events_per_s": interval([w["batch"]["events_per_s"] for w in worlds]).to_dict(),
        "publish_events_per_s": interval([w["publish"]["events_per_s"] for w in worlds]).to_dict(),
    }
    for i, name in enumerate(RUN_NAMES):
        out[f"{name}_events_per_s"] = interval([w["consume"][i]["events_per_s"] for w in worlds]).to_dict()
    for key in ("rows_per_s", "compute_s", "push_s"):
        out[f"snapshot_burst_{key}"] = interval([w["snapshot_burst"][key] for w in worlds]).to_dict()
    online = [w["consume"][RUN_NAMES.index("consume_1_snapshots")] for w in worlds]  # one consumer, snapshots beside
    out["snapshot_rows_per_s"] = interval([r["snapshot_rows"] / (r["seconds"] + r["snapshots_after_s"])
                                           for r in online]).to_dict()
    out["snapshot_rows"] = interval([r["snapshot_rows"] for r in online]).to_dict()
    runs = [(x["rate"], x["online"], x["consumers"], x["snapshots"]) for x in worlds[0]["latency"]]
    out["latency"] = [{"rate": rate, "online": online, "consumers": consumers, "snapshots": snapshots,
                       **{k: interval([w["latency"][i][k] for w in worlds]).to_dict() for k in ("p50_ms", "p99_ms")}}
                      for i, (rate, online, consumers, snapshots) in enumerate(runs)]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="*", default=[3, 4, 5, 6, 7], help="one world each")
    parser.add_argument("--batch", type=int, default=10_000,
                        help="most entries per consumer read (the consumer's default)")
    parser.add_argument("--rates", type=float, nargs="*", default=[2_000, 5_000, 20_000],
                        help="paced producer's events/s for latency")
    args = parser.parse_args(argv)
    worlds = [one_world(args, seed) for seed in args.seeds]
    report = {"subscribers": args.subscribers, "days": args.days, "batch": args.batch,
              "summary": summary(worlds), "worlds": worlds}
    path = write_results("stream_ingest.json", report, [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    print(path)
    print(report["summary"])


if __name__ == "__main__":
    main()
