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
Of several consumers, the one that claims the day in the outcome store pushes it; a consumer that
restarts pushes the current day's snapshot on its first batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

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


def content_rows(outcomes: OutcomeStore, message_ids: set[str] | None, events: Events | None = None) -> pd.DataFrame:
    """The content-and-provider rows of every pair these messages' outcomes count towards (of
    every pair, given None)."""
    counts = outcomes.content_provider(message_ids)
    if counts.empty:
        return pd.DataFrame()
    latest = pd.to_datetime(counts["last_us"], unit="us", utc=True)
    return content_provider_rows(counts.assign(event_timestamp=latest.dt.floor(fd.CAMPAIGN_EVERY) + fd.CAMPAIGN_EVERY))


def provider_window_rows(outcomes: OutcomeStore, message_ids: set[str], events: Events | None = None) -> pd.DataFrame:
    """Every provider's row of the latest window (zero counts where it answered nothing in it)."""
    counts = outcomes.provider_window()
    if counts.empty:
        return pd.DataFrame()
    ends = pd.to_datetime(counts["window_end_us"], unit="us", utc=True)
    return provider_rows(counts.assign(event_timestamp=ends))


@dataclass(frozen=True)
class PushedView:
    """A feature view the stream feeds: its push source, entity columns and how its rows are made."""

    view: str
    source: str
    keys: tuple[str, ...]
    rows: Callable[[OutcomeStore, set[str], Events | None], pd.DataFrame]


PUSHED = (
    PushedView("content_provider_features", "content_provider_push", ("content_id", "provider"), content_rows),
    PushedView("provider_features", "provider_push", ("provider",), provider_window_rows),
)


class DailySnapshots:
    """The subscriber rows to push after a batch: everyone's at a midnight the clock just passed
    (by the one consumer of a group that claims the day in the outcome store, and by each consumer
    on its first batch, so a crash between claim and push is repaired on restart, unless a later
    midnight is claimed already), else those of subscribers whose events came after their day's
    snapshot was pushed."""

    def __init__(self, lake: EventsLake) -> None:
        self.lake, self.day = lake, None

    def __call__(self, outcomes: OutcomeStore, message_ids: set[str], events: Events | None) -> pd.DataFrame:
        times = {kind: pc.cast(t.column(TIME_COLUMN[kind]), pa.int64()) for kind, t in (events or {}).items()
                 if kind in TIME_COLUMN and t.num_rows}
        if not times:
            return pd.DataFrame()
        day = datetime.fromtimestamp(max(pc.max(t).as_py() for t in times.values()) / 1e6, UTC).date()
        if self.day is None:  # this consumer's first batch
            last = outcomes.last_snapshot_day()
            if last is None or day >= last:
                self.day = day
                outcomes.claim_snapshot(day)
                return self._snapshot(None)
            self.day = last  # a redelivered older batch: its events are late for the midnight online
        elif day > self.day:
            self.day = day
            return self._snapshot(None) if outcomes.claim_snapshot(day) else pd.DataFrame()
        midnight = int(datetime.combine(self.day, datetime.min.time(), UTC).timestamp() * 1_000_000)
        late = {m for kind, t in times.items()
                for m in pc.filter(events[kind].column("message_id"), pc.less(t, midnight)).to_pylist()}
        return self._snapshot(outcomes.subscribers_of(late)) if late else pd.DataFrame()

    def _snapshot(self, subscribers: set[str] | None) -> pd.DataFrame:
        """The rows at the clock's last midnight (of these subscribers, or of everyone)."""
        if self.lake.read("subscribers", columns=["subscriber_id"]).num_rows == 0:
            return pd.DataFrame()  # a lake without its subscriber list: nothing to describe
        inp = load_inputs(self.lake.root, fd.Instant(datetime.combine(self.day, datetime.min.time())))
        if subscribers is not None:
            if not subscribers:
                return pd.DataFrame()
            for kind in ("subscribers", "sends", "outcomes", "engagement", "complaints"):
                inp[kind] = inp[kind][inp[kind]["subscriber_id"].isin(subscribers)]
        if inp["subscribers"].empty:
            return pd.DataFrame()
        return subscriber_features(inp)


def subscriber_view(lake: EventsLake) -> PushedView:
    """The daily subscriber snapshots, computed from this lake (its subscriber list included)."""
    return PushedView("subscriber_features", "subscriber_push", ("subscriber_id",), DailySnapshots(lake))


class OnlinePush:
    """Pushes what a batch of events changed (a `LakeSink`'s `online`): called with the message
    ids the batch touched and its events, after the lake and the outcome store have them; returns
    the rows pushed. Given the lake, the subscribers' daily snapshots are pushed too."""

    def __init__(self, feature_store, outcomes: OutcomeStore, lake: EventsLake | None = None,
                 pushed: Iterable[PushedView] = PUSHED) -> None:
        views = {v.name: v for v in feature_store.list_feature_views()}
        pushed = (*pushed, subscriber_view(lake)) if lake is not None else tuple(pushed)
        self.feature_store, self.outcomes, self.pushed = feature_store, outcomes, pushed
        for p in self.pushed:
            if getattr(getattr(views.get(p.view), "stream_source", None), "name", None) != p.source:
                raise LookupError(f"the feature store has no {p.view} fed by the push source {p.source}: apply "
                                  "the definitions first")
        self.views = {p.view: views[p.view] for p in self.pushed}

    def __call__(self, message_ids: Iterable[str], events: Events | None = None) -> int:
        ids, pushed = set(message_ids), 0
        if not ids:
            return 0
        for p in self.pushed:
            rows = p.rows(self.outcomes, ids, events)
            if rows.empty:
                continue
            st.push_latest(self.feature_store, self.views[p.view], rows, p.keys)
            pushed += len(rows)
        return pushed
