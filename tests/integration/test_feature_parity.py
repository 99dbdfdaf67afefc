"""Spark feature jobs against the pandas reference, and the reference against the spec's formulas."""

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.features import definitions as fd

KEYS = {table: [key] if isinstance(key, str) else list(key) for table, (key, _) in fd.FEATURE_TABLES.items()}


def _sorted(df: pd.DataFrame, table: str) -> pd.DataFrame:
    keys = KEYS[table] + (["event_timestamp"] if table not in ("content", "calendar") else [])
    return df.sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize("table", list(KEYS))
def test_spark_output_equals_the_pandas_reference(built_features, table):
    _, out, reference = built_features
    spark_df = _sorted(ds.dataset(out / table).to_table().to_pandas(), table)
    ref = _sorted(reference[table], table)
    _, features = fd.FEATURE_TABLES[table]
    assert set(ref.columns) == {*KEYS[table], "event_timestamp", *features}  # exactly what the definitions declare
    assert set(spark_df.columns) == set(ref.columns)
    assert len(spark_df) == len(ref) > 0
    for col in ref.columns:
        a, b = ref[col], spark_df[col]
        if len(a) and isinstance(a.iloc[0], (list, np.ndarray)):
            assert np.allclose(np.stack(a.to_numpy()), np.stack(b.to_numpy()), atol=1e-9), col
        elif pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            assert np.allclose(a.astype(float), b.astype(float), rtol=1e-9, atol=1e-9), col
        else:
            assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all(), col


def test_features_are_not_trivially_constant(built_features):
    _, _, ref = built_features
    sub = ref["subscriber"]
    assert sub["engagement_score"].std() > 1 and (sub["opens_30d"] > 0).any() and (sub["hard_bounces_total"] > 0).any()
    assert (ref["provider"]["attempts_15m"] > 0).any() and (ref["sender_ip"]["sent_24h"] > 0).any()
    pairs = ref["sender_provider"]
    assert (pairs["block_rate_24h"] > 0).any() and (pairs["spam_placement_rate_24h"] > 0).any()
    # the pairs of one IP add up to the IP's own 24-hour volume
    ip = ref["sender_ip"].set_index(["sending_ip", "event_timestamp"])["sent_24h"]
    summed = pairs.groupby(["sending_ip", "event_timestamp"])["sent_24h"].sum()
    assert (summed == ip.reindex(summed.index)).all()


def test_engagement_score_follows_the_spec_formula(built_features):
    """100·sigmoid(Σ w·0.5^(age/14 d) / 10): weights open 1, click 3, conversion 10, unsubscribe −20,
    complaint −50, over human events strictly before the snapshot."""
    world, _, ref = built_features
    lake = EventsLake(world / "lake")
    eng = lake.read("engagement").to_pandas()
    eng = eng[~eng["machine_open"]]
    sub = ref["subscriber"]
    active = sub[sub["opens_30d"] > 0].iloc[:25]
    for _, row in active.iterrows():
        T = row["event_timestamp"]
        mine = eng[(eng["subscriber_id"] == row["subscriber_id"]) & (eng["event_ts"] < T)]
        total = sum(fd.ENGAGEMENT_WEIGHTS[e.event_type] * 0.5 ** ((T - e.event_ts).total_seconds() / 86400 / 14)
                    for e in mine.itertuples())
        assert row["engagement_score"] == pytest.approx(100 / (1 + math.exp(-total / 10)), rel=1e-9)
        last_open = mine[mine["event_type"] == "open"]["event_ts"].max()
        assert row["days_since_last_open"] == pytest.approx((T - last_open).total_seconds() / 86400)


def test_campaign_counts_are_what_the_provider_answered_before_each_minute(built_features):
    """content × provider: outcomes strictly before the row's minute, from the lake directly; a
    campaign's counts only grow, and its rates are shares of them (-1 before the first)."""
    world, _, ref = built_features
    lake = EventsLake(world / "lake")
    sends = lake.read("sends").to_pandas()[["message_id", "content_id", "provider"]]
    out = lake.read("outcomes").to_pandas().drop(columns=["provider"]).merge(sends, on="message_id")
    cp = ref["content_provider"]
    assert (cp["event_timestamp"] == cp["event_timestamp"].dt.floor("min")).all()
    grown = cp.sort_values("event_timestamp").groupby(["content_id", "provider"])["outcomes_so_far"].diff().dropna()
    assert (grown >= 0).all() and (cp["block_rate_so_far"] > 0).any() and (cp["spam_share_so_far"] > 0).any()
    for row in cp.sample(40, random_state=0).itertuples():
        mine = out[(out["content_id"] == row.content_id) & (out["provider"] == row.provider) & (out["event_ts"] < row.event_timestamp)]
        done = mine["status"].isin(["accepted", "blocked", "bounced"]).sum()
        placed = mine["placement"].isin(["inbox", "spam"]).sum()
        assert row.outcomes_so_far == done
        assert row.block_rate_so_far == pytest.approx((mine["status"] == "blocked").sum() / done if done else -1.0)
        assert row.spam_share_so_far == pytest.approx((mine["placement"] == "spam").sum() / placed if placed else -1.0)
        assert row.deferral_rate_so_far == pytest.approx((mine["status"] == "deferred").sum() / len(mine))
        # the row stands for the end of a minute in which this provider answered
        last = mine["event_ts"].max()
        assert last >= row.event_timestamp - pd.Timedelta(minutes=1)


def test_a_content_check_score_reaches_the_content_features_alike(spark):
    """MDL-007's P(spam) recorded on a content (null where nothing scored it) becomes
    `content_spam_risk` (UNSCORED for null) in both builders."""
    from adaptive_delivery.delivery.events.schema import conform
    from adaptive_delivery.delivery.features import reference, spark_jobs

    contents = conform("contents", pa.Table.from_pylist([
        {"content_id": f"c{i}", "org_id": "o", "subject": "FREE offer!", "preheader": "", "body_text": "Click here now",
         "link_count": 2, "image_count": 1, "has_unsubscribe_link": True, "has_list_unsubscribe_header": False,
         "personalization_level": "none", "spam_risk": risk} for i, risk in enumerate([0.25, None, 0.97])]))
    campaigns = pd.DataFrame({"content_id": ["c0", "c1", "c2"],
                              "scheduled_ts": pd.to_datetime(["2026-03-02 09:00"] * 3, utc=True)})
    ref = reference.content_features({"contents": contents.to_pandas(), "campaigns": campaigns})
    built = spark_jobs.content_features(spark, {"contents": spark.createDataFrame(contents.to_pandas()),
                                                "campaigns": spark.createDataFrame(campaigns)}).toPandas()
    expected = [0.25, fd.UNSCORED, 0.97]
    assert ref.sort_values("content_id")["content_spam_risk"].tolist() == expected
    assert built.sort_values("content_id")["content_spam_risk"].tolist() == expected
