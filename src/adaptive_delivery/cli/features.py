"""`adaptive-delivery features …`: build feature tables with Spark and serve them through Feast."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from adaptive_delivery.cli.common import console, print_rows

features_app = typer.Typer(help='Build feature tables with Spark and serve them through Feast.')


@features_app.command("build")
def features_build(
    lake: Path = typer.Option(Path("runs/world/lake"), help="The events lake to read."),
    out: Path = typer.Option(None, help="Where to publish the feature tables (default: LAKE/../features)."),
    master: str = typer.Option("local[*]", help="Spark master (local[*] in-process; use spark-submit for a cluster)."),
) -> None:
    """Build every feature table from the lake with Spark and publish them together."""
    from adaptive_delivery.delivery.features.spark_jobs import (
        FeatureBuildError,
        build_features,
        spark_session,
    )

    out = out or lake.parent / "features"
    try:
        rows = build_features(lake, out, spark_session(master=master))
    except FeatureBuildError as exc:
        console.print(f"[red]feature build failed:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    print_rows(f"feature tables: {out}", rows)


@features_app.command("materialize")
def features_materialize(
    features: Path = typer.Option(Path("runs/world/features"), help="Published feature tables."),
    home: Path = typer.Option(None, help="Feature-store home: registry and online store (default: FEATURES/../feast)."),
    profile: str = typer.Option("local", help="local | redis-local | cluster"),
    hours: float = typer.Option(24.0, help="Materialise the last HOURS of the data (the online window)."),
) -> None:
    """Register the Feast definitions and load the latest feature values into the online store."""

    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from adaptive_delivery.platform import feature_store as st

    home = home or features.parent / "feast"
    fs = st.open_store(home, features, profile)
    applied = st.apply(fs)
    end = pc.max(ds.dataset(features / "calendar").to_table(columns=["event_timestamp"]).column(0)).as_py() + timedelta(hours=1)
    st.materialize(fs, end - timedelta(hours=hours), end)
    console.print(f"applied {len(applied)} Feast objects; materialised {end - timedelta(hours=hours)} .. {end} "
                  f"into the {profile} online store under {home}")
