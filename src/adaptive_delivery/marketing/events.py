"""Campaign events: the hourly reports an ad platform sends (spec 003's raw campaign data), kept
in the platform's lake and checked by a Great Expectations suite.

A report row is one hour of one campaign's ad group, split by keyword, device and location: what
it spent, the impressions it won, their clicks and conversions, and (where the platform reports
impression share) the impressions it was eligible for. Rows arrive through the streams
(`platform.lake_stream.LakeSink` over `lake(root)`) or as files; either way a row the suite refuses
is quarantined with the expectation it broke, a row already in the lake is a duplicate, and
every batch is a line in the lake's ledger and a page of the suite's Data Docs.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa

from adaptive_delivery.marketing.bidding import DEVICES
from adaptive_delivery.platform import expectations as gxs
from adaptive_delivery.platform.lake import Catalogue, EventsLake, conform_to

KIND = "campaign_stats"
STREAM = "ad:campaign-events"
TS = pa.timestamp("us", tz="UTC")

CAMPAIGN_STATS = pa.schema([
    ("event_id", pa.string()),
    ("event_ts", TS),  # the start of the hour the row reports
    ("campaign_id", pa.string()),
    ("ad_group_id", pa.string()),
    ("keyword", pa.string()),
    ("device", pa.string()),
    ("location", pa.string()),
    ("spend", pa.float64()),
    ("impressions", pa.int64()),
    ("clicks", pa.int64()),
    ("conversions", pa.int64()),
    ("eligible_impressions", pa.int64()),  # null where the platform reports no impression share
    ("source", pa.string()),  # twin | the ad platform's connector
])
OPTIONAL = ("eligible_impressions", "source")
MAX_TEXT = 200  # keyword, location, ids: longer is a connector's accident, not a report

SUITE = gxs.Suite(
    name=KIND,
    meta={"notes": "An ad platform's hourly campaign report (spec 003 RawCampaignData)."},
    expectations=[
        *gxs.not_null("event_id", "event_ts", "campaign_id", "ad_group_id", "device", "spend", "impressions",
                      "clicks", "conversions"),
        gxs.in_set("device", DEVICES),
        gxs.at_least("spend", 0.0),
        gxs.at_least("impressions", 0),
        gxs.at_least("clicks", 0),
        gxs.at_least("conversions", 0),
        gxs.at_least("eligible_impressions", 0),
        gxs.not_above("clicks", "impressions"),
        gxs.not_above("conversions", "clicks"),
        gxs.not_above("impressions", "eligible_impressions"),
        *(gxs.longest(c, MAX_TEXT) for c in ("event_id", "campaign_id", "ad_group_id", "keyword", "location")),
    ],
)
# 2000-01-01 .. 2100-01-01 in microseconds: a time outside is a parsing accident
TIME_RANGE_US = (946_684_800_000_000, 4_102_444_800_000_000)


def conform(kind: str, table: pa.Table) -> pa.Table:
    return conform_to({KIND: CAMPAIGN_STATS}, kind, table, OPTIONAL)


def batch_checks(table: pa.Table) -> np.ndarray:
    """What no expectation states about a single batch: an hour outside any plausible time, and an
    event id repeated within the batch (the first copy is kept)."""
    n = table.num_rows
    reasons = np.full(n, None, dtype=object)
    ts = table.column("event_ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    known = ~np.isnan(ts.astype(float))
    reasons[known & ((ts < TIME_RANGE_US[0]) | (ts > TIME_RANGE_US[1]))] = "timestamp out of range"
    keys = np.asarray(table.column("event_id").to_pylist(), dtype=object)
    _, first = np.unique(keys.astype(str), return_index=True)
    repeated = np.ones(n, dtype=bool)
    repeated[first] = False
    reasons[repeated & (reasons == None)] = "duplicate event_id within batch"  # noqa: E711
    return reasons


def validate(validator: gxs.ExpectationsValidator, kind: str, table: pa.Table):
    return validator.validate(kind, conform(kind, table), prior=batch_checks)


def catalogue(root: str | Path, docs: bool = True) -> Catalogue:
    """Marketing's catalogue for a lake at `root`: its suite's project and Data Docs live there."""
    validator = gxs.ExpectationsValidator(root, {KIND: SUITE}, docs=docs)
    return Catalogue(events={KIND: CAMPAIGN_STATS}, dimensions={}, time_column={KIND: "event_ts"},
                     key_column={KIND: "event_id"}, conform=conform, validate=partial(validate, validator))


def lake(root: str | Path, docs: bool = True) -> EventsLake:
    """The campaign events lake at `root` (Data Docs under `root/_expectations` unless `docs` is off)."""
    return EventsLake(root, catalogue(root, docs))


def data_docs(root: str | Path) -> Path:
    """The front page of a campaign lake's validation report."""
    return gxs.data_docs_index(root)
