"""`adaptive-delivery kpi`: the whole system against spec §11 on the twin's worlds."""

from __future__ import annotations

from pathlib import Path

import typer

from adaptive_delivery.cli.common import claim_sealed, console, parse_seeds, training_pipelines


def kpi(
    out: Path = typer.Option(Path("runs/kpi"), help="Where each world's result and the report go (kpi.json, kpi.html)."),
    seeds: str | None = typer.Option(None, help="Validation worlds, e.g. 1001-1005 (default: the first --worlds)."),
    worlds: int = typer.Option(5, min=1, help="How many worlds."),
    sealed: bool = typer.Option(False, help="The headline: sealed worlds, once per version (recorded in the ledger)."),
    subscribers: int = typer.Option(10_000, min=500),
    history_days: int = typer.Option(35, min=8, help="Days of history the models are trained on."),
    days: int = typer.Option(28, min=1, help="Days each sender's future runs."),
    change_provider: str = typer.Option("gmail", help="The provider whose filter tightens halfway ('' for none)."),
    profile: str = typer.Option("quick", help="Training profile of the learned parts."),
    runner: str = typer.Option("in-process", help="Pipeline runner for the learned parts (in-process | kfp-local)."),
    content_scorer: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="An exported MDL-007 scorer: the adaptive and oracle senders gate "
                                                "content with it (without one, no sender checks content)."),
    ablations: bool = typer.Option(True, help="Also run the adaptive sender without each learned part it ships, and with each challenger."),
    sunset_days: float = typer.Option(30.0, min=1.0, help="Business as usual's sunset: days without a human open."),
    soft_hold_days: float = typer.Option(2.0, min=0.0, help="Business as usual's hold after a soft bounce (days)."),
) -> None:
    """Business as usual, adaptive and oracle senders from the same moment of the same worlds: spec
    §11's table, the volumes, the ablations and the per-provider breakdown."""
    from adaptive_delivery.delivery.kpi import harness
    from adaptive_delivery.delivery.kpi.senders import Rules
    from adaptive_delivery.platform import protocol
    from adaptive_delivery.platform.spec import PIPELINE_RUNNERS

    if runner not in PIPELINE_RUNNERS:
        raise typer.BadParameter(f"choose one of {', '.join(PIPELINE_RUNNERS)}", param_hint="--runner")
    size = harness.KpiSize(subscribers=subscribers, history_days=history_days, days=days,
                           change_provider=change_provider or None)
    rules = Rules(soft_hold_days=soft_hold_days, sunset_days=sunset_days)
    if sealed:
        version, seed_list = claim_sealed(
            harness.LEDGER_ID, seeds, f"{subscribers:,} subscribers, {history_days}+{days} days, profile {profile}",
            lambda command: harness.claim_sealed(size, profile, rules, content_scorer, worlds, command=command))
        out = out / f"sealed-{version}"
    else:
        try:
            seed_list = protocol.require_unsealed(parse_seeds(seeds) if seeds else protocol.VALIDATION_SEEDS[:worlds])
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--seeds") from exc
    pipelines = training_pipelines()

    def train(spec, **arguments) -> str:
        return pipelines.run_here(spec, runner, **arguments)

    summary = harness.run(out, seed_list, size, train=train, profile=profile, rules=rules, scorer_file=content_scorer,
                          ablations=ablations, seeds_kind="sealed" if sealed else "validation", progress=console.print)
    for metric, line in summary["section_11"].items():
        if "not_measured" in line:
            console.print(f"{metric}: not measured ({line['not_measured']})")
            continue
        cells = ", ".join(f"{n} {line[n]['mean']:.5f} ({'met' if line[n]['met'] else 'missed'})"
                          for n in ("business_as_usual", "adaptive", "oracle") if n in line)
        console.print(f"{metric} (target {line['target']}): {cells}")
    console.print(f"report: {out / 'kpi.html'} and {out / 'kpi.json'}")
