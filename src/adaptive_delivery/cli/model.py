"""`adaptive-delivery model …`: every registered model driven from its spec."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from adaptive_delivery.cli.common import (
    DEFAULT_MLFLOW_HOME,
    DEFAULT_ROLLOUTS,
    claim_sealed,
    console,
    ledger_claim,
    model_spec,
    parse_seeds,
    pd_records_markdown,
    print_intervals,
    registry_client,
    repo_import,
    training_pipelines,
)

model_app = typer.Typer(help='Every model from its spec: list, train, evaluate, register, serve, roll out, approve.')


@model_app.command("train")
def train(
    model_id: str = typer.Argument(..., help="A model id, e.g. MDL-001 (see `adaptive-delivery model list`)."),
    profile: str = typer.Option("quick", help="quick (a few trials, capped rows) | full (the cluster's setting)."),
    world: Path = typer.Option(Path("runs/latest"), help="A run folder holding lake/, features/ (and truth/ from the simulator)."),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="MLflow store (SQLite + artifacts); kept across runs."),
    tracking_uri: str = typer.Option(None, help="An MLflow tracking server instead of the local store."),
    timesteps: int = typer.Option(None, min=1_000, help="Learned in the twin only: train this many steps "
                                  "outside the pipeline, writing the policy to --out (no registration)."),
    out: Path = typer.Option(None, help="With --timesteps: where the policy and training.json go."),
    seed: int = typer.Option(0, help="With --timesteps: the training seed."),
    holdout_days: int = typer.Option(0, min=0, help="Supervised models: hold out this many last days for the "
                                     "evaluation and the gate (0: the model's own; a short world needs fewer)."),
    runner: str = typer.Option("kfp-local", help="kfp-local (KFP's local runner, a subprocess per step) | "
                               "in-process (the same steps in this process)."),
) -> None:
    """Train MODEL_ID from its spec: the supervised pipeline (tune, train, evaluate, register, gate)
    or, for a policy learned in the twin, its policy pipeline (train, evaluate, register, gate);
    both run on KFP's local runner unless --runner says otherwise."""
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.spec import profile as get_profile
    from adaptive_delivery.platform.training.tracking import default_tracking_uri

    try:
        spec, _ = get(model_id), get_profile(profile)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from exc
    if runner not in training_pipelines().RUNNERS:
        raise typer.BadParameter(f"choose one of {', '.join(training_pipelines().RUNNERS)}", param_hint="--runner")
    if not spec.trains_on_features:
        if timesteps is not None:
            _train_policy_only(spec, timesteps, seed, out or default_folder(spec))
            return
        _train_policy(spec, profile, mlflow_home, tracking_uri, world, runner)
        return
    if timesteps is not None:
        raise typer.BadParameter(f"{spec.model_id} trains on a feature table, not in steps", param_hint="--timesteps")
    for part in ("lake", "features"):
        if not (world / part).is_dir():
            raise typer.BadParameter(f"{world / part} does not exist: run `adaptive-delivery run` or build features first",
                                     param_hint="--world")
    mlflow_home.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or default_tracking_uri(mlflow_home)
    truth = world / "truth" if (world / "truth" / "messages").is_dir() else None
    try:
        verdict = training_pipelines().run_here(
            spec, runner, lake=world / "lake", features=world / "features", feast_home=world / "feast",
            tracking_uri=uri, pipeline_root=world / "kfp", truth_dir=truth, profile=profile, holdout_days=holdout_days)
    except RuntimeError as exc:
        reason = stopped_reason(uri)
        console.print(f"[red]training stopped[/red]: {reason or exc}")
        raise typer.Exit(code=2) from exc
    print_training_summary(uri, spec)
    colour = "green" if verdict.startswith("PROMOTE") else "yellow"
    console.print(f"[{colour}]{verdict}[/{colour}]")
    console.print(f"MLflow: {uri}  (browse: mlflow ui --backend-store-uri {uri})")


def _train_policy(spec, profile: str, mlflow_home: Path, tracking_uri: str | None, world: Path, runner: str) -> None:
    """A control policy: its own pipeline (train in the world, evaluate, register + gate)."""
    from adaptive_delivery.platform.training.tracking import default_tracking_uri

    mlflow_home.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or default_tracking_uri(mlflow_home)
    console.rule(f"{spec.model_id}: policy pipeline ({profile}: {spec.policy_trainer.timesteps[profile]:,} steps)")
    try:
        verdict = training_pipelines().run_here(spec, runner, tracking_uri=uri, pipeline_root=world / "kfp",
                                                profile=profile)
    except RuntimeError as exc:
        console.print(f"[red]training stopped[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    console.print(("[green]" if verdict.startswith("PROMOTE") else "[yellow]") + verdict)
    console.print(f"MLflow: {uri}  (browse: mlflow ui --backend-store-uri {uri})")


def print_training_summary(uri: str, spec) -> None:
    """The latest run's holdout metrics beside the simulator oracle's."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], f"tags.model_id = '{spec.model_id}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return
    m = runs[0].data.metrics
    t = Table(title=f"{spec.model_id} holdout ({int(m.get('rows', 0)):,} messages), run {runs[0].info.run_id[:8]}")
    for col in ("metric", "model", "oracle"):
        t.add_column(col)
    for name in spec.metrics:
        if name in m:
            oracle = m.get(f"oracle_{name}")
            t.add_row(name, f"{m[name]:.4f}", "—" if oracle is None else f"{oracle:.4f}")
    console.print(t)


def stopped_reason(uri: str) -> str | None:
    """The reason the last failed run recorded (the step that stopped it and its message)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], "attributes.status = 'FAILED'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    tags = runs[0].data.tags
    return f"step {tags.get('failed_step', '?')}: {tags.get('stopped_reason', '')}"


@model_app.command("list")
def model_list(
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="MLflow store to read aliases from."),
    tracking_uri: str = typer.Option(None, help="An MLflow tracking server instead of the local store."),
) -> None:
    """List the model specs and which version each alias (champion, challenger) points to."""
    from adaptive_delivery.platform.spec import all_specs
    from adaptive_delivery.platform.training.registry import CHALLENGER, CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

    uri = tracking_uri or (default_tracking_uri(mlflow_home) if (mlflow_home / "mlflow.db").exists() else None)
    client = Tracking(uri).client() if uri else None
    t = Table(title=f"model specs{f' and registry {uri}' if uri else ' (no registry yet)'}")
    for col in ("id", "name", "feature service", "schedule", "gpu", "primary metric", CHAMPION, CHALLENGER):
        t.add_column(col)
    for spec in all_specs():
        cells = []
        for alias in (CHAMPION, CHALLENGER):
            version, metrics = alias_metrics(client, spec, alias) if client else (None, None)
            value = (metrics or {}).get(spec.primary_metric)
            cells.append("—" if version is None else f"v{version}" + (f" ({value:.4f})" if value is not None else ""))
        t.add_row(spec.model_id, spec.name, spec.feature_service, spec.schedule.value, "yes" if spec.needs_gpu else "no",
                  spec.primary_metric, *cells)
    console.print(t)


@model_app.command("serve")
def serve(
    model_id: str = typer.Argument(..., help="A model id, e.g. MDL-001."),
    aliases: str = typer.Option("champion,challenger", help="Registry aliases to serve (each as its own model)."),
    http_port: int = typer.Option(8080), grpc_port: int = typer.Option(8081),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME), tracking_uri: str = typer.Option(None),
    out: Path = typer.Option(Path("runs/serving"), help="MLServer settings, model copies, prediction log."),
    world: Path = typer.Option(Path("runs/latest"), help="A world whose Feast online store (WORLD/feast, "
                               "WORLD/features) answers entity-key requests; skipped when it has none."),
) -> None:
    """Start the local serving stack: MLServer on 127.0.0.1 with the registered versions behind ALIASES;
    Ctrl-C or SIGTERM stops it. Refuses ports another server already holds."""
    import signal

    from mlflow.exceptions import MlflowException

    from adaptive_delivery.platform.spec import get

    local = repo_import("serving.local")
    spec, client = get(model_id), registry_client(mlflow_home, tracking_uri)
    if spec.runtime is None:
        raise typer.BadParameter(f"{spec.model_id} has no network runtime (its spec sets none)", param_hint="MODEL_ID")
    models: dict[str, tuple[str, Path]] = {}
    for alias in [a.strip() for a in aliases.split(",") if a.strip()]:
        try:
            version, folder = local.resolve_alias(client, spec.registered_name, alias, out / "models")
        except MlflowException:
            console.print(f"[yellow]no version behind alias {alias!r}; skipped[/yellow]")
            continue
        models.setdefault(f"{spec.model_id.lower()}-v{version}", (version, folder))
        if alias == "champion":
            models[spec.model_id.lower()] = (version, folder)
    if not models:
        raise typer.BadParameter(f"nothing registered under {aliases} for {spec.model_id}")
    store = None
    if spec.feature_service and (world / "feast" / "registry.db").exists():
        store = local.feature_store_settings(world, spec.feature_service)
        console.print(f"entity-key requests read {spec.feature_service} from {world / 'feast'}")
    settings = local.write_settings(out / "mlserver", models, http_port, grpc_port, prediction_log=out / "predictions.jsonl",
                                    runtimes=dict.fromkeys(models, spec.runtime), feature_store=store)
    def _terminate(*_) -> None:  # `kill` (SIGTERM) stops MLServer too, as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server = local.start(settings, http_port, grpc_port, next(iter(models)))  # stops MLServer if interrupted
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None
    except RuntimeError as exc:
        console.print(f"[red]not serving[/red]: {exc}")
        raise typer.Exit(code=3) from exc
    console.print(f"serving {', '.join(models)} at {server.url}/v2/models/<name>/infer (gRPC 127.0.0.1:{grpc_port}); "
                  f"log {server.log}; Ctrl-C stops")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _report_training(out: Path, policy: Path) -> None:
    meta = json.loads((out / "training.json").read_text())
    console.print(f"trained in {meta['seconds']:.0f} s ({meta['timesteps'] / meta['seconds']:,.0f} steps/s); policy {policy}")


def default_folder(spec) -> Path:
    """Where a twin-learned model's policy and evaluation go unless told otherwise: runs/mdl003 …"""
    return Path("runs") / spec.model_id.lower().replace("-", "")


def _train_policy_only(spec, timesteps: int, seed: int, out: Path) -> None:
    """Train a twin-learned policy for a given budget, outside the pipeline (to evaluate it first)."""
    console.rule(f"{spec.model_id}: PPO for {timesteps:,} steps")
    _report_training(out, spec.policy_trainer.train(timesteps, seed, out))


@model_app.command("evaluate")
def evaluate(
    model_id: str = typer.Argument(..., help="A model id (MDL-001, MDL-003, MDL-009)."),
    policy: list[Path] = typer.Option(None, help="A trained policy; repeat for several training runs of one version "
                                      "(default: runs/<model>/<model>_ppo.zip; the baselines alone when absent)."),
    days: float = typer.Option(None, min=0.01, help="Simulated days per world (default: the model's)."),
    seeds: str = typer.Option(None, help="Validation world seeds, a list or a range (default: the model's first "
                              "validation worlds; training uses seeds >= 100,000; sealed seeds only with --sealed)."),
    sealed: bool = typer.Option(False, "--sealed", help="The headline: the sealed test worlds, once per model version "
                                "(recorded in the sealed ledger; a second use of the same version is refused)."),
    workers: int = typer.Option(2, min=1, help="Worlds evaluated in parallel (MDL-003)."),
    subscribers: int = typer.Option(20_000, min=500, help="Supervised models: subscribers per world."),
    profile: str = typer.Option("quick", help="Supervised models: the training profile each world trains with."),
    out: Path = typer.Option(None, help="Writes the tables, plots and metrics.json (default: runs/<model>)."),
) -> None:
    """Judge MODEL_ID on fresh worlds: validation worlds for choosing, the sealed worlds once per
    version for a headline. A policy learned in the twin runs beside the rule baselines and the
    oracle; a supervised model trains its own pipeline on each world and is scored on the world's
    last days beside the oracle."""
    from adaptive_delivery.platform import protocol

    spec = model_spec(model_id)
    out = out or default_folder(spec)
    days = days if days is not None else float(spec.evaluation_days)
    if spec.trainer in ("corpus", "twin_logs"):
        raise typer.BadParameter(f"{spec.model_id} is evaluated by its own pipeline (`model train`) and its "
                                 "benchmark (docs/results.md)", param_hint="MODEL_ID")
    if spec.trains_on_features:
        _evaluate_supervised(spec, int(days), subscribers, profile, seeds, sealed, spec.evaluation_worlds, out)
        return
    policies = list(policy or [default_folder(spec) / f"{default_folder(spec).name}_ppo.zip"])
    found = [p for p in policies if p.exists()]
    if sealed:
        if len(found) != len(policies) or not found:
            missing = [str(p) for p in policies if p not in found] or [str(p) for p in policies]
            raise typer.BadParameter(f"a sealed evaluation judges a trained policy; not found: {', '.join(missing)}",
                                     param_hint="--policy")
        version = protocol.artefact_version(found)
        _, seed_list = claim_sealed(spec.model_id, seeds, f"{days:g} days, {len(found)} training run(s)",
                                    ledger_claim(spec.model_id, version, protocol.SEALED_SEEDS))
        out = out / f"sealed-{version}"
    else:
        seed_list = _validation_seeds(seeds, spec.evaluation_worlds)
    if not found:
        console.print(f"[yellow]{policies[0]} not found: evaluating the baselines only (train with `model train`)")
    if spec.model_id == "MDL-003":  # every training run on the same worlds, the baselines once
        _evaluate_throttle(found, days, seed_list, workers, out)
    else:
        _evaluate_warmup(found, int(days), seed_list, out)


def _validation_seeds(seeds: str | None, worlds: int) -> list[int]:
    from adaptive_delivery.platform import protocol

    try:
        return protocol.require_unsealed(parse_seeds(seeds) if seeds else protocol.VALIDATION_SEEDS[:worlds])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--seeds") from exc


def _evaluate_supervised(spec, days: int, subscribers: int, profile: str, seeds: str | None, sealed: bool,
                         worlds: int, out: Path) -> None:
    """Each world simulated, featurised and trained on by the model's own pipeline, then the intervals."""
    from adaptive_delivery.delivery.jobs import worlds as jw
    from adaptive_delivery.platform import protocol
    from adaptive_delivery.platform.spec import profile as get_profile

    try:
        get_profile(profile)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--profile") from exc
    if days <= spec.holdout_days:
        raise typer.BadParameter(f"a world needs more than the {spec.holdout_days} held-out days", param_hint="--days")
    size = jw.WorldSize(subscribers=subscribers, days=days)
    if sealed:
        version = jw.recipe_version(spec, profile, size)
        unseen = protocol.SealedLedger(protocol.ledger_path()).unseen_seeds(spec.model_id, worlds)
        _, seed_list = claim_sealed(spec.model_id, seeds, f"{subscribers:,} subscribers x {days} days, profile {profile}",
                                    ledger_claim(spec.model_id, version, unseen))
        out = out / f"sealed-{version}"
    else:
        seed_list = _validation_seeds(seeds, worlds)
    summary = jw.evaluate_worlds(spec, seed_list, out, size=size, profile=profile, train=training_pipelines().run_local,
                                 progress=console.print)
    found = summary["intervals"]
    rows = {who: {name: v[key] for name, v in found.items() if key in v}
            for who, key in (("model", "model"), ("oracle", "oracle"), ("gap to oracle", "gap"), ("best rule", "baseline"))}
    print_intervals({who: row for who, row in rows.items() if row}, tuple(n for n in found if n in spec.metrics[:6] or n == "ece"),
                    first="who")
    console.print(f"targets: {summary['targets']}")
    console.print(f"per world {out / jw.RESULTS_FILE}; summary {out / jw.SUMMARY_FILE}")


def _evaluate_throttle(policy: list[Path], days: float, seed_list: list[int], workers: int, out: Path) -> None:
    from rich.progress import Progress

    from adaptive_delivery.delivery.models.mdl003_throttle import report as tr
    from adaptive_delivery.delivery.providers import PROVIDER_NAMES

    with Progress(console=console) as progress:
        task = progress.add_task("worlds", total=len(seed_list) * len(PROVIDER_NAMES))
        tab, extra = tr.evaluate_into(policy, out, days=days, seeds=seed_list, workers=workers, trace=bool(policy),
                                      on_world_done=lambda _: progress.advance(task))
    shown = tab[["provider", "policy", "delivered_per_hour", "block_rate", "rate_block_rate", "deferral_rate",
                 "complaint_rate", "reputation_end", "oracle_share"]]
    console.rule(f"throttle policies over {days:g} simulated days x {len(seed_list)} held-out worlds per provider")
    print(shown.to_markdown(index=False, floatfmt=".4g"))
    print_intervals(extra["intervals"], ("delivered_per_hour", "rate_block_rate", "gain_vs_best_rule", "oracle_share"))
    if policy:
        print(pd_records_markdown(extra["limit_halved"]))
        console.print(f"targets: {extra['targets']}; trace {extra['plot']}")
        (out / "metrics.json").write_text(json.dumps(tr.registry_metrics(tab), indent=2))
    console.print(f"table {out / 'throttle_eval.md'}; targets {out / 'throttle_targets.json'}")


def _evaluate_warmup(policy: list[Path], days: int, seed_list: list[int], out: Path) -> None:
    from adaptive_delivery.delivery.models.mdl009_warmup import report as wr

    with console.status(f"{len(seed_list)} new IPs x {days} days per policy and audience"):
        tab, df, extra = wr.evaluate_into(policy, out, days=days, seeds=seed_list)
    console.rule(f"warm-up policies: {len(seed_list)} held-out new IPs x {days} days")
    print(tab.to_markdown(index=False, floatfmt=".4g"))
    flat = {f"{audience}: {p}": m for audience, by_policy in extra["intervals"].items() for p, m in by_policy.items()}
    print_intervals(flat, ("days_to_full", "block_event_days", "days_vs_best_rule", "delivered_total"))
    if policy:
        console.print(f"targets: {extra['targets']}")
        (out / "metrics.json").write_text(json.dumps(wr.registry_metrics(df, days), indent=2))
    console.print(f"table {out / 'warmup_eval.md'}; plots {', '.join(extra['plots'].values())}")


def _register_evaluated(spec_id: str, policy: Path, evaluation: Path, mlflow_home: Path, tracking_uri: str | None) -> None:
    """Register an evaluated policy (`challenger`) and gate it against the champion."""
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.policies import register_policy_step
    from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

    spec = get(spec_id)
    mlflow_home.mkdir(parents=True, exist_ok=True)
    tracking = Tracking(tracking_uri or default_tracking_uri(mlflow_home))
    training = policy.parent / "training.json"
    params = {"policy": policy.name, **(json.loads(training.read_text()) if training.exists() else {})}
    try:
        verdict = register_policy_step(spec, tracking, policy, evaluation, params)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--evaluation") from exc
    console.print(f"{spec.model_id}: registered v{verdict.challenger_version} as challenger")
    console.print(("[green]" if verdict.passed else "[red]") + verdict.summary())


@model_app.command("register")
def register(
    model_id: str = typer.Argument(..., help="A model learned in the twin (MDL-003, MDL-009)."),
    policy: Path = typer.Option(..., exists=True, help="The trained policy (`model train --timesteps`)."),
    evaluation: Path = typer.Option(..., help="Where `model evaluate` wrote its tables and metrics.json."),
    mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME, help="The local MLflow store."),
    tracking_uri: str = typer.Option(None, help="An MLflow tracking server instead of the local store."),
) -> None:
    """Register an evaluated policy in MLflow as `challenger` and gate it against the champion
    (`model train` does this itself; supervised models register only through it)."""
    spec = model_spec(model_id)
    if spec.trains_on_features:
        raise typer.BadParameter(f"{spec.model_id} registers through `model train` (its register step)",
                                 param_hint="MODEL_ID")
    _register_evaluated(spec.model_id, policy, evaluation, mlflow_home, tracking_uri)


@model_app.command("rollout")
def rollout(
    model_id: str = typer.Argument(..., help="A model with a champion and a different challenger."),
    time_scale: float = typer.Option(1.0, help="Multiplies every stage's minimum duration (1 = spec §8 days)."),
    state: Path = typer.Option(DEFAULT_ROLLOUTS), mlflow_home: Path = typer.Option(DEFAULT_MLFLOW_HOME),
    tracking_uri: str = typer.Option(None),
) -> None:
    """Start rolling the challenger out against the champion (shadow first); `rollout status|advance|
    rollback` follow it."""
    from adaptive_delivery.cli.rollout import rollout_start

    rollout_start(model_id, time_scale, state, mlflow_home, tracking_uri)


@model_app.command("feedback")
def feedback(
    model_id: str = typer.Argument(..., help="A model id, e.g. MDL-001."),
    log: Path = typer.Option(..., exists=True, help="Its prediction log (JSON lines, `model serve`), or the folder "
                             "the prediction stream was consumed into (`stream consume-predictions`)."),
    lake: Path = typer.Option(Path("runs/stream/lake"), exists=True, file_okay=False, help="The lake outcomes went into."),
) -> None:
    """Its logged decisions attributed to the outcomes that came: quality per model version (the
    offline evaluation's report), decisions still waiting for their outcome, per segment."""
    from adaptive_delivery.platform import feedback as attribution
    from adaptive_delivery.platform.spec import get

    try:
        console.print(json.dumps(attribution.report(get(model_id), log, lake), indent=2, default=float))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="MODEL_ID") from exc


@model_app.command("approve")
def approve(
    model_id: str = typer.Argument(..., help="A model whose rails wait for people (MDL-009)."),
    ip: str = typer.Option(..., help="The sending IP the approval is for."),
    kind: str = typer.Option(..., help="resume (after a pause) | stage_jump (more than one warm-up stage)."),
    by: str = typer.Option(..., help="Who approves: recorded with the decision that uses it."),
    note: str = typer.Option("", help="Why (what was investigated)."),
    ledger: Path = typer.Option(Path("runs/approvals.jsonl"), help="The approval ledger the served model reads "
                                "(its settings' extra.approvals)."),
) -> None:
    """Record a person's approval of one rail-gated move; the next plan for that IP uses it once
    (valid 24 hours)."""
    from adaptive_delivery.delivery.decisions.approvals import APPROVAL_VALID_FOR, ApprovalLedger

    spec = model_spec(model_id)
    if spec.model_id != "MDL-009":
        raise typer.BadParameter(f"{spec.model_id}'s rails wait for no approval", param_hint="MODEL_ID")
    try:
        event = ApprovalLedger(ledger).record(ip, kind, by, note)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    hours = APPROVAL_VALID_FOR.total_seconds() / 3600
    console.print(f"approved {event['kind']} for {event['ip']} by {event['approved_by']} at {event['at']} "
                  f"(id {event['id']}, valid {hours:g} h); ledger {ledger}")
