"""A lake with a corrupt or schema-violating partition fails with a message naming the partition,
and the previously published feature tables stay exactly as they were."""

import hashlib
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adaptive_delivery.delivery.features.spark_jobs import FeatureBuildError, build_features


def _digest(root):
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.parquet")):
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture
def broken_world(built_features, tmp_path):
    world, features, _ = built_features
    copy = tmp_path / "world"
    shutil.copytree(world / "lake", copy / "lake")
    shutil.copytree(features, copy / "features")
    return copy


def test_corrupt_partition_is_named_and_nothing_is_published(broken_world, spark):
    before = _digest(broken_world / "features")
    victim = sorted((broken_world / "lake" / "outcomes").glob("date=*/part-*.parquet"))[2]
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])  # truncated file
    with pytest.raises(FeatureBuildError) as exc:
        build_features(broken_world / "lake", broken_world / "features", spark)
    assert str(victim) in str(exc.value) and "corrupt partition" in str(exc.value)
    assert _digest(broken_world / "features") == before
    assert not list(broken_world.glob(".features.staging-*"))


def test_schema_violating_partition_is_named(broken_world, spark):
    before = _digest(broken_world / "features")
    victim = sorted((broken_world / "lake" / "sends").glob("date=*/part-*.parquet"))[0]
    table = pq.read_table(victim)
    bad = table.set_column(table.schema.get_field_index("send_ts"), "send_ts", pa.array(["yesterday"] * table.num_rows))
    pq.write_table(bad, victim)
    with pytest.raises(FeatureBuildError) as exc:
        build_features(broken_world / "lake", broken_world / "features", spark)
    assert str(victim) in str(exc.value) and "violates the sends schema" in str(exc.value)
    assert _digest(broken_world / "features") == before


def test_an_empty_lake_is_refused_with_a_reason(tmp_path, spark):
    with pytest.raises(FeatureBuildError, match="no sends partitions"):
        build_features(tmp_path / "lake", tmp_path / "features", spark)
