"""Features the stream keeps fresh between batch builds: per campaign content and mailbox provider,
how its mail is landing there so far (spec §4.1: real-time, event-driven).

The stream's consumer keeps the running counts these features are made of in the outcome store,
exactly once in effect (`OutcomeStore.content_provider`); after each batch, the rows of every
content and provider the batch touched are computed from those counts with the batch path's own
formula (`reference.content_provider_rows`) and written to the online store through the view's
Feast push source (and, on a Redis online store, its packed vectors). A row's event_timestamp is the
end of the minute of its latest outcome, as the batch build stamps it, so a world streamed and the
same world built and materialised leave the same rows online. A push repeats harmlessly: the
values come from the counts, not from the batch.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from adaptive_delivery.delivery.events.outcome_store import OutcomeStore
from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.delivery.features.reference import content_provider_rows
from adaptive_delivery.platform import packed_features

VIEW = "content_provider_features"
PUSH_SOURCE = "content_provider_push"


def rows_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """The view's rows from the outcome store's counts (one per content and provider)."""
    latest = pd.to_datetime(counts["last_us"], unit="us", utc=True)
    stamped = counts.assign(event_timestamp=latest.dt.floor(fd.CAMPAIGN_EVERY) + fd.CAMPAIGN_EVERY)
    return content_provider_rows(stamped)


class OnlinePush:
    """Pushes what a batch of events changed (a `LakeSink`'s `online`): called with the message
    ids the batch touched, after the outcome store has them; returns the rows pushed."""

    def __init__(self, feature_store, outcomes: OutcomeStore) -> None:
        views = {v.name: v for v in feature_store.list_feature_views()}
        if getattr(getattr(views.get(VIEW), "stream_source", None), "name", None) != PUSH_SOURCE:
            raise LookupError(f"the feature store has no {VIEW} fed by the push source {PUSH_SOURCE}: apply "
                              "the definitions first")
        self.feature_store, self.outcomes, self.view = feature_store, outcomes, views[VIEW]

    def __call__(self, message_ids: Iterable[str]) -> int:
        counts = self.outcomes.content_provider(message_ids)
        if counts.empty:
            return 0
        rows = rows_from_counts(counts)
        # the online write of the view the push source feeds: what Feast's `push` and
        # `write_to_online_store` end in, less their re-reading of every view from the registry on
        # each call (measured: most of the push's time); the view was read once, above
        self.feature_store._get_provider().ingest_df(self.view, rows)
        packed_features.refresh_entities(self.feature_store, VIEW, rows[["content_id", "provider"]])
        return len(rows)
