"""Features the stream keeps fresh between batch builds (spec §4.1: real-time, event-driven): per
campaign content and mailbox provider, how its mail is landing there so far; per mailbox provider,
what it has answered in the current 15 minutes; and, given the lake, per subscriber the daily
snapshot as each day closes.

The stream's consumer keeps the running counts these features are made of in the outcome store,
exactly once in effect (`OutcomeStore.content_provider`, `OutcomeStore.provider_window`); after each
batch, the rows the batch changed are computed from those counts with the batch path's own formulas
(`reference.content_provider_rows`, `reference.provider_rows`) and written to the online store
through each view's Feast push source (and, on a Redis online store, its packed vectors). A row is
stamped as the batch build stamps it (a content's at the end of the minute of its latest outcome, a
provider's at the end of its window), so a world streamed and the same world built and materialised
leave the same rows online. A push repeats harmlessly: the values come from the counts, not from
the batch.

Subscriber features are daily snapshots (spec §4.1's "daily batch" fields, a 24-hour TTL): when
the stream's clock, the latest event time it has seen, passes midnight, every subscriber's row at
that midnight is computed from the lake with the batch build's formula
(`reference.subscriber_features`) and pushed through `subscriber_push`; an event that arrives after
the snapshot it belongs to was pushed (a late bounce report) pushes its subscriber's row again.
Of several consumers, the one that claims the day in the outcome store pushes it and records it
pushed; a claim left unpushed is taken over by the same consumer restarting, or by any once its
lease is out. The snapshots are pushed by a process
of their own beside the consumer (`SnapshotPusher`), so the events behind a midnight do not wait
for every subscriber's row.
"""

from __future__ import annotations

import collections
import multiprocessing
import queue
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.events.outcome_store import OutcomeStore
from adaptive_delivery.delivery.events.schema import TIME_COLUMN
from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.delivery.features.reference import (
    content_provider_rows,
    load_inputs,
    provider_rows,
    subscriber_features,
)
from adaptive_delivery.platform import feature_store as st

Events = Mapping[str, pa.Table]  # a batch's events that the checks passed, by kind


def content_rows(outcomes: OutcomeStore, message_ids: set[str] | None) -> pd.DataFrame:
    """The content-and-provider rows of every pair these messages' outcomes count towards (of
    every pair, given None)."""
    counts = outcomes.content_provider(message_ids)
    if counts.empty:
        return pd.DataFrame()
    latest = pd.to_datetime(counts["last_us"], unit="us", utc=True)
    return content_provider_rows(counts.assign(event_timestamp=latest.dt.floor(fd.CAMPAIGN_EVERY) + fd.CAMPAIGN_EVERY))


def provider_window_rows(outcomes: OutcomeStore, message_ids: set[str]) -> pd.DataFrame:
    """Every provider's row of the latest window (zero counts where it answered nothing in it)."""
    counts = outcomes.provider_window()
    if counts.empty:
        return pd.DataFrame()
    ends = pd.to_datetime(counts["window_end_us"], unit="us", utc=True)
    return provider_rows(counts.assign(event_timestamp=ends))


@dataclass(frozen=True)
class PushedView:
    """A feature view the stream feeds from the outcome store's counts: its push source and how its
    rows are made from the message ids a batch touched."""

    view: str
    source: str
    rows: Callable[[OutcomeStore, set[str]], pd.DataFrame]


PUSHED = (
    PushedView("content_provider_features", "content_provider_push", content_rows),
    PushedView("provider_features", "provider_push", provider_window_rows),
)


@dataclass(frozen=True)
class Snapshot:
    """Subscriber rows due at a midnight: everyone's (`subscribers` None) or some subscribers'."""

    day: date
    subscribers: frozenset[str] | None = None


class DailySnapshots:
    """Which subscriber rows a batch makes due: everyone's at a midnight the clock just passed (by
    the one consumer of a group that claims the day in the outcome store), else those of subscribers
    whose events came after their day's snapshot was pushed.

    A claimed day not yet pushed is taken over (`OutcomeStore.take_over_snapshot`) by the consumer
    of the same name when it restarts (a crash between claim and push), and by any consumer once
    the claim is older than `lease_s` (one that never came back): a starting consumer pushes a day
    nobody has pushed, and only that. Only the latest claimed day is ever taken over: an older one
    would overwrite newer rows."""

    CHECK_EVERY_S = 60.0  # how often a running consumer looks for a claim left stale

    def __init__(self, name: str | None = None, lease_s: float = 900.0) -> None:
        self.name, self.lease_s = name, lease_s
        self.day: date | None = None
        self.in_hand: set[date] = set()  # days this consumer has queued and not yet seen pushed
        self._checked = time.monotonic()

    def due(self, outcomes: OutcomeStore, events: Events | None) -> Snapshot | None:
        times = {kind: pc.cast(t.column(TIME_COLUMN[kind]), pa.int64()) for kind, t in (events or {}).items()
                 if kind in TIME_COLUMN and t.num_rows}
        if not times:
            return None
        day = datetime.fromtimestamp(max(pc.max(t).as_py() for t in times.values()) / 1e6, UTC).date()
        if self.day is None or day > self.day:  # this consumer's first batch, or a midnight passed
            last = outcomes.last_snapshot_day()
            if last is None or day > last:
                self.day = day
                return self._everyone(day) if outcomes.claim_snapshot(day, self.name) else None
            self.day = last  # claimed already: maybe left half done, else its events are late
            if self._taken_over(outcomes):
                return self._everyone(last)
        elif time.monotonic() - self._checked > self.CHECK_EVERY_S and self._taken_over(outcomes):
            return self._everyone(self.day)
        midnight = int(datetime.combine(self.day, datetime.min.time(), UTC).timestamp() * 1_000_000)
        late = {m for kind, t in times.items()
                for m in pc.filter(events[kind].column("message_id"), pc.less(t, midnight)).to_pylist()}
        who = outcomes.subscribers_of(late) if late else set()
        return Snapshot(self.day, frozenset(who)) if who else None

    def _taken_over(self, outcomes: OutcomeStore) -> bool:
        self._checked = time.monotonic()
        return self.day not in self.in_hand and outcomes.take_over_snapshot(self.day, self.name, self.lease_s)

    def _everyone(self, day: date) -> Snapshot:
        self.in_hand.add(day)
        return Snapshot(day)

    def pushed(self, outcomes: OutcomeStore, snapshot: Snapshot) -> None:
        """A queued snapshot is in the online store: a whole day's is recorded as pushed."""
        if snapshot.subscribers is None:
            outcomes.snapshot_pushed(snapshot.day)
            self.in_hand.discard(snapshot.day)


def snapshot_rows(lake: EventsLake, snapshot: Snapshot) -> pd.DataFrame:
    """The rows at the snapshot's midnight, computed from the lake as the batch build does."""
    if lake.read("subscribers", columns=["subscriber_id"]).num_rows == 0:
        return pd.DataFrame()  # a lake without its subscriber list: nothing to describe
    inp = load_inputs(lake.root, fd.Instant(datetime.combine(snapshot.day, datetime.min.time())))
    if snapshot.subscribers is not None:
        for kind in ("subscribers", "sends", "outcomes", "engagement", "complaints"):
            inp[kind] = inp[kind][inp[kind]["subscriber_id"].isin(snapshot.subscribers)]
    if inp["subscribers"].empty:
        return pd.DataFrame()
    return subscriber_features(inp)


def merged(snapshots: list[Snapshot]) -> list[Snapshot]:
    """Snapshots waiting in line, in order, with those of one midnight made one (everyone's where
    any was), so a backlog of late events costs one computation per midnight."""
    out: list[Snapshot] = []
    for s in snapshots:
        if out and out[-1].day == s.day:
            last = out[-1].subscribers
            both = None if last is None or s.subscribers is None else last | s.subscribers
            out[-1] = Snapshot(s.day, both)
        else:
            out.append(s)
    return out


class SnapshotPusher:
    """Pushes the subscriber snapshots beside the consumer, in a process of its own with a feature
    store of its own: a midnight's rows (every subscriber's, computed from the lake and written,
    mostly Python) would otherwise hold up every event behind them, on a thread as well (measured:
    the consumer slowed to a fifth). The consumer decides what is due
    (`DailySnapshots.due`) and queues it; a failure is raised on its next batch (not acknowledged: the
    restarted consumer pushes the day again)."""

    VIEW, SOURCE = "subscriber_features", "subscriber_push"

    def __init__(self, feature_store, lake: EventsLake, name: str | None = None) -> None:
        self.snapshots = DailySnapshots(name)
        context = multiprocessing.get_context("spawn")  # no inherited connections or threads
        self.jobs, self.done = context.Queue(), context.Queue()
        self.process = context.Process(target=push_snapshots, args=(feature_store.config, str(lake.root),
                                                                     self.jobs, self.done),
                                       name="subscriber-snapshots", daemon=True)
        self.process.start()
        self.queued: collections.deque[Snapshot] = collections.deque()
        self.pushed, self.outcomes = 0, None

    def after_batch(self, outcomes: OutcomeStore, events: Events | None) -> None:
        """Queue what this batch made due (the consumer's process)."""
        self.outcomes = outcomes
        self._collect(block=False)
        snapshot = self.snapshots.due(outcomes, events)
        if snapshot is not None:
            self.jobs.put(snapshot)
            self.queued.append(snapshot)

    def wait(self) -> int:
        """Block until every queued snapshot is pushed; the rows pushed so far."""
        self._collect(block=True)
        return self.pushed

    def _collect(self, block: bool) -> None:
        while self.queued:
            try:
                answer = self.done.get(timeout=1.0) if block else self.done.get_nowait()
            except queue.Empty:
                if not block:
                    return
                if not self.process.is_alive():
                    raise RuntimeError(f"the subscriber snapshot process died ({self.process.exitcode})") from None
                continue
            snapshot = self.queued.popleft()  # answers come in the order the jobs went
            if isinstance(answer, str):
                raise RuntimeError(f"pushing the subscriber snapshots failed: {answer}")
            self.pushed += answer
            self.snapshots.pushed(self.outcomes, snapshot)


def push_snapshots(config, lake_root: str, jobs, done) -> None:
    """The snapshot process: push each queued snapshot (a backlog of one midnight merged), one
    answer per job: the rows pushed, or why not. Stops when the consumer is gone."""
    from feast import FeatureStore

    store = FeatureStore(config=config)
    view, lake = store.get_feature_view(SnapshotPusher.VIEW), EventsLake(lake_root)
    parent = multiprocessing.parent_process()
    while True:
        try:
            batch = [jobs.get(timeout=5.0)]
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return  # the consumer was killed: its restart starts another
            continue
        while True:
            try:
                batch.append(jobs.get_nowait())
            except queue.Empty:
                break
        try:
            pushed = 0
            for snapshot in merged(batch):
                rows = snapshot_rows(lake, snapshot)
                if not rows.empty:
                    st.push_latest(store, view, rows)
                    pushed += len(rows)
            answers: list[int | str] = [0] * (len(batch) - 1) + [pushed]  # the rows, on the last job
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the consumer
            answers = [f"{type(exc).__name__}: {exc}"] * len(batch)
        for answer in answers:
            done.put(answer)


class OnlinePush:
    """Pushes what a batch of events changed (a `LakeSink`'s `online`): called with the message
    ids the batch touched and its events, after the lake and the outcome store have them; returns
    the rows pushed. Given the lake, the subscribers' daily snapshots are pushed too, beside the
    consumer (`wait` blocks until they are in)."""

    def __init__(self, feature_store, outcomes: OutcomeStore, lake: EventsLake | None = None,
                 pushed: Iterable[PushedView] = PUSHED, consumer: str | None = None) -> None:
        views = {v.name: v for v in feature_store.list_feature_views()}
        self.feature_store, self.outcomes, self.pushed = feature_store, outcomes, tuple(pushed)
        sources = [(p.view, p.source) for p in self.pushed]
        if lake is not None:
            sources.append((SnapshotPusher.VIEW, SnapshotPusher.SOURCE))
        for view, source in sources:
            if getattr(getattr(views.get(view), "stream_source", None), "name", None) != source:
                raise LookupError(f"the feature store has no {view} fed by the push source {source}: apply "
                                  "the definitions first")
        self.views = {p.view: views[p.view] for p in self.pushed}
        self.snapshots = SnapshotPusher(feature_store, lake, consumer) if lake is not None else None

    def __call__(self, message_ids: Iterable[str], events: Events | None = None) -> int:
        ids, pushed = set(message_ids), 0
        if not ids:
            return 0
        for p in self.pushed:
            rows = p.rows(self.outcomes, ids)
            if rows.empty:
                continue
            st.push_latest(self.feature_store, self.views[p.view], rows)
            pushed += len(rows)
        if self.snapshots is not None:
            self.snapshots.after_batch(self.outcomes, events)
        return pushed

    def wait(self) -> int:
        """Block until the queued subscriber snapshots are in; their rows pushed so far."""
        return self.snapshots.wait() if self.snapshots is not None else 0
