"""Campaign events end to end, for real: the marketing twin's hourly ad-platform reports through a
Redis stream into the lake, checked by the Great Expectations suite (bad rows quarantined with the
expectation they broke, counted in the ledger, shown in Data Docs), built into features by Spark,
registered in Feast, materialised into the online store and read back point in time."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from adaptive_delivery.marketing import events
from adaptive_delivery.marketing.bidding import BidOptimiser
from adaptive_delivery.marketing.feature_definitions import CAMPAIGN_FEATURES
from adaptive_delivery.marketing.features import TABLE, build_campaign_features
from adaptive_delivery.platform import expectations as gxs
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform import streams
from adaptive_delivery.platform.lake_stream import LakeSink
from adaptive_delivery.twin.marketing import MarketingWorld, campaign_reports

DAYS = 9  # more than the trailing week, so the 7-day rates drop old hours


def _broken(rows: list[dict]) -> list[tuple[dict, str]]:
    """Report rows a connector could send, each with the reason it must be quarantined for."""
    r = rows
    return [
        (dict(r[0], event_id="bad-clicks", impressions=3, clicks=5), "clicks above impressions"),
        (dict(r[1], event_id="bad-device", device="smart-fridge"), "device not in ['mobile', 'desktop', 'tablet']"),
        (dict(r[2], event_id="bad-spend", spend=-4.0), "spend below 0"),
        (dict(r[3], event_id="bad-conv", clicks=1, impressions=2, conversions=2), "conversions above clicks"),
        (dict(r[4], event_id="bad-share", impressions=9, eligible_impressions=4), "impressions above eligible_impressions"),
        (dict(r[5], event_id="bad-ts", event_ts="1970-01-02T00:00:00+00:00"), "timestamp out of range"),
        (dict(r[6], event_id="bad-campaign", campaign_id=None), "missing campaign_id"),
        (dict(r[7], event_id="bad-keyword", keyword="k" * 500), "keyword longer than 200 characters"),
    ]


@pytest.fixture(scope="module")
def ingested(redis_server, tmp_path_factory):
    world = MarketingWorld.build(seed=11, n_campaigns=2, daily_opportunities=4_000)
    rows = list(campaign_reports(world, DAYS, lambda c: BidOptimiser(seed=0)))
    broken = _broken(rows)
    stream = f"test:campaigns:{uuid.uuid4().hex[:8]}"
    client = streams.connect(redis_server)
    sent = streams.publish(client, stream, [(events.KIND, row) for row in rows]
                           + [(events.KIND, row) for row, _ in broken]
                           + [(events.KIND, row) for row in rows[:50]]  # a producer's retry
                           + [("campaign_stats_v0", rows[0]), (events.KIND, "not an object")])
    root = tmp_path_factory.mktemp("campaign_lake")
    lake = events.lake(root)
    consumer = streams.StreamConsumer(client, stream, "lake", "c1", LakeSink(lake), batch=2_000)
    handled = consumer.drain()
    return {"rows": rows, "broken": broken, "sent": sent, "handled": handled, "lake": lake, "root": root,
            "ledger": streams.ledger(client, stream), "client": client, "stream": stream}


def test_every_entry_is_accepted_quarantined_or_a_duplicate(ingested):
    lines = ingested["ledger"]
    totals = {k: sum(line[k] for line in lines) for k in ("items_in", "items_accepted", "items_quarantined",
                                                          "duplicates")}
    assert totals["items_in"] == ingested["sent"] == ingested["handled"]
    assert totals["items_in"] == totals["items_accepted"] + totals["items_quarantined"] + totals["duplicates"]
    assert totals["items_accepted"] == len(ingested["rows"])
    assert totals["duplicates"] == 50
    assert totals["items_quarantined"] == len(ingested["broken"]) + 2
    assert ingested["lake"].read(events.KIND).num_rows == len(ingested["rows"])


def test_each_broken_row_is_quarantined_with_the_expectation_it_broke(ingested):
    held = ingested["lake"].quarantined(events.KIND).to_pandas().set_index("event_id")["quarantine_reason"]
    for row, reason in ingested["broken"]:
        assert held[row["event_id"]] == reason
    raw = (ingested["root"] / "_quarantine" / "raw").glob("part-*.parquet")
    reasons = " ".join(pd.read_parquet(p)["reason"].iloc[0] for p in raw)
    assert "unknown event kind 'campaign_stats_v0'" in reasons and "not a JSON object" in reasons


def _text(html: str) -> str:
    """A page's words, without its styles, scripts and tags."""
    html = re.sub(r"<(style|script).*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_validation_report_is_great_expectations_data_docs(ingested):
    index = events.data_docs(ingested["root"])
    assert index.exists()
    pages = list(index.parent.glob("validations/**/*.html"))
    assert pages, "a page per validated batch"
    texts = [_text(p.read_text()) for p in pages]
    failed = [t for t in texts if "Status: Failed" in t]
    assert failed, "the batch holding the broken rows shows as failed"
    assert any("Values in impressions must always be greater than or equal to those in clicks" in t for t in failed)
    assert (index.parent / "expectations" / f"{events.KIND}.html").exists()
    # only the batches that broke an expectation have a page; every result is kept, and all render
    ledger = [json.loads(line) for line in (ingested["root"] / "_ingest_ledger.jsonl").read_text().splitlines()]
    validated = [line for line in ledger if line["kind"] == events.KIND and line["received"]]
    assert len(failed) == len(pages) < len(validated)
    gxs.ExpectationsValidator(ingested["root"], {events.KIND: events.SUITE}).publish_all()
    assert len(list(index.parent.glob("validations/**/*.html"))) == len(validated)


def test_the_same_reports_again_add_nothing(ingested):
    stream = f"{ingested['stream']}:again"
    client = ingested["client"]
    before = ingested["lake"].read(events.KIND).num_rows
    streams.publish(client, stream, [(events.KIND, row) for row in ingested["rows"][:500]])
    streams.StreamConsumer(client, stream, "lake", "c2", LakeSink(ingested["lake"])).drain()
    (line,) = streams.ledger(client, stream)
    assert line["duplicates"] == 500 and line["items_accepted"] == 0
    assert ingested["lake"].read(events.KIND).num_rows == before


@pytest.fixture(scope="module")
def features(ingested, spark, tmp_path_factory):
    out = tmp_path_factory.mktemp("campaign_features") / "features"
    rows = build_campaign_features(ingested["root"], out, spark)
    table = pd.read_parquet(out / TABLE)
    return out, rows, table


def _by_hand(rows: list[dict]) -> pd.DataFrame:
    """The campaign × hour rows recomputed in pandas from the report rows."""
    frame = pd.DataFrame(rows)
    frame["event_ts"] = pd.to_datetime(frame["event_ts"], utc=True)
    hourly = frame.groupby(["campaign_id", "event_ts"], as_index=False)[
        ["spend", "impressions", "clicks", "conversions", "eligible_impressions"]].sum()
    hourly = hourly.sort_values(["campaign_id", "event_ts"]).reset_index(drop=True)
    week = (hourly.set_index("event_ts").groupby("campaign_id")[["clicks", "conversions", "impressions", "spend"]]
            .rolling("168h").sum().reset_index())
    return hourly.merge(week, on=["campaign_id", "event_ts"], suffixes=("", "_week"))


def test_spark_builds_spec_features_that_match_a_recomputation(ingested, features):
    _, n, table = features
    expected = _by_hand(ingested["rows"])
    assert n == len(table) == len(expected)
    assert set(CAMPAIGN_FEATURES) <= set(table.columns)
    table = table.assign(event_ts=table["event_timestamp"] - pd.Timedelta(hours=1))
    got = expected.merge(table, on=["campaign_id", "event_ts"], suffixes=("", "_spark"))
    assert len(got) == len(expected)
    clicked = got["clicks"] > 0
    assert np.allclose(got.loc[clicked, "cpc"], got.loc[clicked, "spend"] / got.loc[clicked, "clicks"])
    assert got.loc[~clicked, "cpc"].isna().all(), "no clicks: no cost per click (not a free one)"
    shown = got["impressions"] > 0
    assert np.allclose(got.loc[shown, "ctr"], got.loc[shown, "clicks"] / got.loc[shown, "impressions"])
    weekly = got["clicks_week"] > 0
    assert np.allclose(got.loc[weekly, "conversion_rate_7d"],
                       got.loc[weekly, "conversions_week"] / got.loc[weekly, "clicks_week"])
    assert np.allclose(got["spend_7d"], got["spend_week"])
    assert np.allclose(got["impression_share"], got["impressions"] / got["eligible_impressions"])
    hour = got["event_ts"].dt.hour
    assert (got["hour_of_day"] == hour).all()
    assert (got["day_of_week"] == (got["event_ts"].dt.dayofweek + 1) % 7).all(), "Sunday is 0"
    assert (got["is_weekend"] == got["event_ts"].dt.dayofweek.isin([5, 6])).all()
    night = (hour < 6) | (hour >= 22)
    assert (got.loc[night, "time_category"] == "night").all()
    assert (got.loc[(hour >= 18) & (hour < 22), "time_category"] == "evening").all()


def test_feast_serves_the_latest_hour_online_and_never_a_future_one(features, tmp_path_factory):
    out, _, table = features
    fs = st.open_store(tmp_path_factory.mktemp("campaign_feast"), out, project="test_campaigns")
    st.apply(fs)
    assert "campaign_performance" in st.built_views(fs)
    assert "subscriber_features" not in st.built_views(fs), "delivery's tables were not built here"
    start, end = table["event_timestamp"].min(), table["event_timestamp"].max()
    st.materialize(fs, start.to_pydatetime(), end.to_pydatetime())
    campaigns = sorted(table["campaign_id"].unique())
    got = st.online(fs, st.service(fs, "MKT-002"), [{"campaign_id": c} for c in campaigns])
    for k, c in enumerate(campaigns):
        last = table[table["campaign_id"] == c].sort_values("event_timestamp").iloc[-1]
        assert got["campaign_performance__spend_7d"][k] == pytest.approx(last["spend_7d"])
    mid = table.sort_values("event_timestamp").iloc[len(table) // 2]
    t = mid["event_timestamp"]
    entity_df = pd.DataFrame({"campaign_id": [mid["campaign_id"]] * 2,
                              "event_timestamp": [t - timedelta(microseconds=1), t]})
    past = st.historical(fs, entity_df, ["campaign_performance:spend_7d"]).sort_values("event_timestamp")
    before = table[(table["campaign_id"] == mid["campaign_id"]) & (table["event_timestamp"] < t)]
    assert past["campaign_performance__spend_7d"].iloc[0] == pytest.approx(
        before.sort_values("event_timestamp")["spend_7d"].iloc[-1]), "an hour is not read before it is over"
    assert past["campaign_performance__spend_7d"].iloc[1] == pytest.approx(mid["spend_7d"])


def test_a_report_row_is_json_the_stream_carries_as_it_is(ingested):
    row = ingested["rows"][0]
    assert json.loads(json.dumps(row)) == row and set(row) == {f.name for f in events.CAMPAIGN_STATS}
