"""The feature job as a cluster would run it: through spark-submit, as a separate application, for
the tables the hourly cluster job builds (`--tables`; the in-process build of every table is the
session's `built_features`)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from adaptive_delivery.delivery.features.spark_jobs import HOURLY_TABLES as TABLES

JOB = Path(__file__).resolve().parents[2] / "src" / "adaptive_delivery" / "delivery" / "features" / "spark_jobs.py"


@pytest.mark.slow
def test_spark_submit_builds_the_same_tables(built_features, tmp_path):
    world, in_process, _ = built_features
    submit = shutil.which("spark-submit", path=str(Path(sys.executable).parent))
    if submit is None:
        pytest.skip("spark-submit is not installed beside this Python")
    out = tmp_path / "features"
    import os

    import pyspark

    env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}
    result = subprocess.run(
        [submit, "--master", "local[1]", "--conf", "spark.sql.session.timeZone=UTC",
         "--conf", "spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS", "--conf", "spark.ui.enabled=false",
         str(JOB), "--lake", str(world / "lake"), "--out", str(out), "--tables", ",".join(TABLES)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for table in TABLES:
        assert ds.dataset(out / table).count_rows() == ds.dataset(in_process / table).count_rows(), table
    assert not (out / "subscriber").exists(), "a partial build writes only the tables asked for"
