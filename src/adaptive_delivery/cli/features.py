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


@features_app.command("build-campaigns")
def features_build_campaigns(
    lake: Path = typer.Option(Path("runs/campaigns/lake"), help="The campaign events lake to read."),
    out: Path = typer.Option(None, help="Where the feature tables are published (default: LAKE/../features)."),
    master: str = typer.Option("local[*]", help="Spark master (local[*] in-process; use spark-submit for a cluster)."),
    home: Path = typer.Option(None, help="Also register the Feast definitions in this feature-store home and "
                              "materialise the campaign features into its online store."),
    profile: str = typer.Option("local", help="Feature-store profile: local | redis-local | cluster."),
) -> None:
    """Build the campaign × hour features (spec 003's engineered features) with Spark, publish them
    beside the other tables and, with --home, load them into the online store."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from adaptive_delivery.marketing.features import (
        TABLE,
        CampaignFeatureError,
        build_campaign_features,
    )
    from adaptive_delivery.platform import feature_store as st
    from adaptive_delivery.platform.spark import spark_session

    out = out or lake.parent / "features"
    try:
        rows = build_campaign_features(lake, out, spark_session(master=master))
    except CampaignFeatureError as exc:
        console.print(f"[red]campaign feature build failed:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    print_rows(f"feature tables: {out}", {TABLE: rows})
    if home is not None:
        fs = st.open_store(home, out, profile)
        st.apply(fs)
        span = pc.min_max(ds.dataset(out / TABLE).to_table(columns=["event_timestamp"]).column(0))
        start, end = span["min"].as_py(), span["max"].as_py()
        st.materialize(fs, start, end + timedelta(seconds=1), views=["campaign_performance"])
        console.print(f"materialised campaign_performance {start} .. {end} into the {profile} online store under {home}")


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


@features_app.command("score")
def features_score() -> None:
    """Publish the models' scores as feature tables (AD_HOME's lake, each champion from the
    registry: MDL-004's hourly reputation of every sending IP and domain), as the feature DAGs do
    after each Spark build; a model without a champion publishes its tables empty."""
    from adaptive_delivery.delivery import jobs

    try:
        rows = jobs.score_features(_deployment())
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from exc
    print_rows("published score tables", rows)


# ---- feature discovery (spec §9.1): the weekly report, shadow trials, a person's decision ----------
MODEL_HELP = "The model whose fields are discovered (one that declares ModelSpec.discovery)."


def _deployment():
    from adaptive_delivery.delivery import jobs

    return jobs.deployment()


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]{exc}[/red]")
    return typer.Exit(code=2)


@features_app.command("discover")
def features_discover(
    model: str = typer.Option("MDL-001", help=MODEL_HELP),
    until: str = typer.Option(None, help="End of the latest week (ISO date; default: the day after the last outcome)."),
    weeks: int = typer.Option(4, min=1, help="Weeks of history in the report."),
    show: int = typer.Option(15, min=1, help="How many fields to print."),
) -> None:
    """The weekly report (AD_HOME's lake and feature store, the registered champion): how strongly
    each field the model does not read is associated with its outcomes beyond the model's own
    predictions, week by week, and the fields suggested for a shadow trial."""
    from datetime import datetime

    from rich.table import Table

    from adaptive_delivery.delivery.jobs.discovery import DiscoveryError, discover
    from adaptive_delivery.platform.feature_discovery import MIN_BITS, Q_MAX

    try:
        report = discover(_deployment(), model, datetime.fromisoformat(until) if until else None, weeks)
    except (DiscoveryError, ValueError, KeyError) as exc:
        raise _fail(exc) from exc
    if not report["weeks"]:
        console.print("no labelled messages in the weeks asked for")
        return
    latest = report["weeks"][-1]
    t = Table(title=f"{report['model_id']} (champion {report['model_version'] or 'none'}): week to "
                    f"{latest['until'][:10]}, {latest['rows']:,} messages")
    for col in ("field", "outcome", "bits", "beyond the model", "q", ""):
        t.add_column(col, justify="left" if col in ("field", "outcome", "") else "right")
    rows = sorted(latest["associations"], key=lambda a: -a["conditional_bits"])
    for a in rows[:show]:
        mark = ("suggested" if a["field"] in report["suggestions"] and a["q"] < Q_MAX and a["conditional_bits"] >= MIN_BITS
                else report["excluded"].get(a["field"], ""))
        t.add_row(a["field"], a["outcome"], f"{a['bits']:.4f}", f"{a['conditional_bits']:.4f}", f"{a['q']:.2g}", mark)
    console.print(t)
    console.print(f"suggested: {', '.join(report['suggestions']) or 'none'}; report: {report['folder']}")


@features_app.command("trial")
def features_trial(
    feature: str = typer.Option(..., help="The candidate field (as the report names it)."),
    model: str = typer.Option("MDL-001", help=MODEL_HELP),
    profile: str = typer.Option("quick", help="Training effort: smoke | quick | full."),
    seed: int = typer.Option(0),
    runs: int = typer.Option(3, min=2, help="Training runs per arm (seeds SEED, SEED+1, ...)."),
) -> None:
    """The shadow trial of one field: the model trained with the field and with the field shuffled
    (its placebo), `--runs` training runs each, all scoring the spec's holdout days without acting;
    the primary metric of each arm and the difference with a 95% interval over the messages and
    the runs (the model as it is, for reference)."""
    from adaptive_delivery.delivery.jobs.discovery import DiscoveryError, trial

    try:
        result = trial(_deployment(), model, feature, profile, seed, runs)
    except (DiscoveryError, ValueError, KeyError) as exc:
        raise _fail(exc) from exc
    lo, hi = result["ci95"]
    console.print(f"{result['model_id']} + {feature}: macro AUC {result['with']:.4f} against its placebo's "
                  f"{result['placebo']:.4f} (as it is: {result['without']:.4f}), "
                  f"{result['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}] on {result['holdout_rows']:,} messages, "
                  f"{len(result['seeds'])} training runs per arm: "
                  f"[bold]{result['verdict']}[/bold] ({result['path']})")


def _decide(model: str, feature: str, adopt: bool, by: str, note: str, despite_trial: bool = False) -> None:
    from adaptive_delivery.delivery.jobs.discovery import DiscoveryError, decide
    from adaptive_delivery.platform.feature_adoption import AdoptionError, adoptions_path

    try:
        d = decide(_deployment(), model, feature, adopt, by, note, despite_trial)
    except (DiscoveryError, AdoptionError, KeyError) as exc:
        raise _fail(exc) from exc
    what = "adopted: the next training of the model reads it" if adopt else "rejected: it is no longer suggested"
    console.print(f"{model.upper()}: {d.feature} {what} ({d.by}, {d.at}; recorded in {adoptions_path()})")


@features_app.command("approve")
def features_approve(
    feature: str = typer.Option(..., help="The field to adopt."),
    by: str = typer.Option(..., help="Who approves it."),
    model: str = typer.Option("MDL-001", help=MODEL_HELP),
    note: str = typer.Option("", help="Why."),
    despite_trial: bool = typer.Option(False, help="Adopt although its shadow trial found no gain."),
) -> None:
    """Adopt a field after its shadow trial: the feature service fetches it and the model's next
    training reads it (the feature repo's adopted_features.json; commit it to deploy)."""
    _decide(model, feature, True, by, note, despite_trial)


@features_app.command("reject")
def features_reject(
    feature: str = typer.Option(..., help="The field to turn down (or to take back out of the model)."),
    by: str = typer.Option(..., help="Who rejects it."),
    model: str = typer.Option("MDL-001", help=MODEL_HELP),
    note: str = typer.Option("", help="Why."),
) -> None:
    """Turn a suggested field down: it is not suggested again (an adopted one leaves the model at
    its next training)."""
    _decide(model, feature, False, by, note)


@features_app.command("decisions")
def features_decisions(model: str = typer.Option("MDL-001", help=MODEL_HELP)) -> None:
    """The fields adopted and rejected for a model, by whom, when, and on which trial."""
    from rich.table import Table

    from adaptive_delivery.platform.feature_adoption import adoptions_path, decisions

    t = Table(title=f"{model.upper()}: decisions ({adoptions_path()})")
    for col in ("field", "decision", "by", "at", "trial", "note"):
        t.add_column(col)
    for side, items in decisions(model).items():
        for d in items:
            trial = f"{d.trial.get('verdict', '')} {d.trial.get('difference', 0):+.4f}" if d.trial else ""
            t.add_row(d.feature, side, d.by, d.at, trial, d.note)
    console.print(t)
