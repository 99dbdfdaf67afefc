"""`adaptive-delivery loop …`: the unattended loop (AD_* deployment), its timeline and scenarios."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from adaptive_delivery.cli.common import console, repo_import
from adaptive_delivery.cli.main_job import airflow_dags_test, airflow_env

loop_app = typer.Typer(help='The unattended loop (AD_* deployment): the simulated world, its timeline, scenarios.')


@loop_app.command("status")
def loop_status(last: int = typer.Option(20, help="How many timeline entries to show.")) -> None:
    """Where the loop's world stands and what the loop did last (AD_HOME/timeline.jsonl)."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.twin import live

    dep = jobs.deployment()
    console.print(f"deployment [bold]{dep.name}[/bold], home {dep.home}, MLflow {dep.tracking_uri}")
    if dep.world is not None:
        console.print_json(json.dumps(live.status(dep.home)))
    t = Table(title=f"timeline ({dep.home / jobs.TIMELINE})")
    for col in ("at", "world day", "step", "summary"):
        t.add_column(col)
    for e in jobs.timeline(dep)[-last:]:
        t.add_row(e["at"], str(e.get("world_day") or ""), e["step"], e["summary"])
    console.print(t)


@loop_app.command("scenario")
def loop_scenario(
    home: Path = typer.Option(Path("runs/scenario"), help="The loop's home (recreated)."),
    subscribers: int = typer.Option(20_000, min=1_000),
    provider: str = typer.Option("gmail"),
    limit_scale: float = typer.Option(1.0, help="The provider's hidden limit is multiplied by this."),
    strictness_scale: float = typer.Option(1.0, help="Its spam filter's strictness is multiplied by this."),
    inbox_shift: float = typer.Option(-1.5, help="Its inbox logit moves by this for all mail (negative: tighter)."),
    warmup_days: int = typer.Option(35, help="Days simulated before the first champion (30-day features settle)."),
    steady_days: int = typer.Option(3, help="Days the loop runs unchanged after the first champion."),
    max_days: int = typer.Option(21, help="Days after the first champion the loop may run."),
    min_sample: int = typer.Option(1_000, help="Rollout minimum sample per arm (spec §8: 10,000)."),
    seed: int = typer.Option(7),
) -> None:
    """A provider changes mid-run, unannounced: Airflow's DAGs (`airflow dags test`, one simulated day
    at a time) must detect it, retrain, gate and roll out. Prints the timeline; writes
    HOME/scenario.json, HOME/scenario.png, the DAG logs under HOME/dag-runs/."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.scenarios import drift as sc

    if home.exists():
        shutil.rmtree(home)
    cfg = sc.DriftScenario(subscribers=subscribers, seed=seed, warmup_days=warmup_days, steady_days=steady_days,
                           provider=provider,
                           limit_scale=limit_scale, strictness_scale=strictness_scale, inbox_shift=inbox_shift,
                           max_days=max_days,
                           rollout_min_sample=min_sample)
    env = cfg.env(home)
    dag_env = airflow_env(home / "airflow", env)
    dep = jobs.deployment(env)

    def run_dag(dag_id: str, day: date, conf: dict | None) -> None:
        log = home / "dag-runs" / f"{day}-{dag_id}.log"
        if airflow_dags_test(dag_id, day, dag_env, conf, log=log) != 0:
            console.print(f"[red]{dag_id} for {day} failed[/red]: see {log}")
            raise typer.Exit(code=2)
        console.print(f"[dim]{day} {dag_id}: success ({log.name})[/dim]")

    summary = sc.run(cfg, dep, run_dag, log=console.print)
    t = Table(title=f"timeline ({dep.home / jobs.TIMELINE})")
    for col in ("world day", "step", "summary"):
        t.add_column(col)
    for e in summary["timeline"]:
        if e["step"] not in ("features", "materialize", "world", "calibrate"):
            t.add_row(str(e.get("world_day") or ""), e["step"], e["summary"][:160])
    console.print(t)
    console.print(f"change {summary['change_day']}; first alarm after it {summary['detected_on']}; retrained "
                  f"{summary['retrained_on']}; rollouts {summary['rollouts']}")
    console.print(f"summary {dep.home / 'scenario.json'}; plot {summary['plot']}; Airflow home {home / 'airflow'}; "
                  f"MLflow {dep.tracking_uri}")


@loop_app.command("change-provider")
def loop_change_provider(
    provider: str = typer.Argument(..., help="gmail, yahoo, outlook, …"),
    limit_scale: float = typer.Option(1.0, help="Multiplies the provider's hidden sending limit."),
    strictness_scale: float = typer.Option(1.0, help="Multiplies its spam filter's strictness."),
    inbox_shift: float = typer.Option(0.0, help="Moves its inbox logit for all mail (negative: a tightening)."),
) -> None:
    """A scenario: from the next simulated day a mailbox provider changes its behaviour, unannounced."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.twin import live

    dep = jobs.deployment()
    try:
        config = live.change_provider(dep.home, provider, limit_scale, strictness_scale, inbox_shift)
    except (ValueError, live.WorldStateError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    jobs.record(dep, "scenario", f"{provider} changes: limit x{limit_scale}, spam filter strictness x{strictness_scale}, "
                f"inbox logit {inbox_shift:+} from simulated day {config.change_day}", provider=provider)
    console.print(live.status(dep.home)["change"])


@loop_app.command("throttle-live")
def loop_throttle_live(
    policy: Path = typer.Option(..., exists=True, dir_okay=False, help="A trained MDL-003 policy (mdl003_ppo.zip)."),
    provider: list[str] = typer.Option(["gmail"], help="Providers, one world each per seed (repeatable)."),
    seed: list[int] = typer.Option([1004], help="World seeds (repeatable; sealed seeds are refused)."),
    hours_after: float = typer.Option(24.0, min=0.1, help="Hours measured after the provider's change."),
    limit_scale: float = typer.Option(0.5, min=0.05, max=1.0, help="The provider's hidden limit after the change."),
    update_every: int = typer.Option(1_000, min=2, help="Online updates every this many actions."),
    learning_rate: float = typer.Option(1e-4, min=0.0, help="The online updates' learning rate."),
    redis_address: str = typer.Option(None, "--redis", envvar="AD_STREAM_REDIS",
                                      help="Redis server host:port; a throwaway local one when not given."),
    out: Path = typer.Option(Path("runs/throttle-live"), help="Where live.json and live.png go."),
) -> None:
    """The provider-change scenario live through Redis Streams: MDL-003 updating online every
    1,000 actions from the streamed outcomes against the same policy frozen, on the same worlds;
    throughput and speed-caused blocks in the hours after the change."""
    from adaptive_delivery.delivery.scenarios import throttle_live as tl
    from adaptive_delivery.platform.protocol import require_unsealed
    from adaptive_delivery.platform.streams import connect

    try:
        seeds = require_unsealed(seed)
        worlds = [tl.LiveWorld(p, s, hours_after=hours_after, limit_scale=limit_scale) for p in provider
                  for s in seeds]
        for w in worlds:
            w.env()
    except (ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    server = None
    if redis_address is None:
        (out / "redis").mkdir(exist_ok=True)
        server, port = repo_import("serving.local").start_redis(out / "redis")
        redis_address = f"127.0.0.1:{port}"
    try:
        rows, kept = tl.run_worlds(connect(redis_address), policy, worlds, update_every=update_every,
                                   learning_rate=learning_rate, log=console.print)
    finally:
        if server is not None:
            server.terminate()
    result = {"settings": {**tl.live_settings(), "update_every": update_every, "learning_rate": learning_rate,
                           "hours_after": hours_after, "limit_scale": limit_scale, "policy": str(policy)},
              "worlds": rows, "summary": tl.compare(rows) if len(worlds) > 1 else None}
    (out / "live.json").write_text(json.dumps(result, indent=2, default=float))
    picture = tl.plot(kept, worlds[0], out / "live.png")
    t = Table(title=f"the {hours_after:g} h after the change (per world and arm)")
    for col in ("provider", "seed", "arm", "delivered/h", "speed-caused blocks", "updates", "fallbacks"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["provider"], str(r["seed"]), r["arm"], f"{r['delivered_per_hour']:,.0f}",
                  f"{r['rate_block_rate']:.3%}", f"{r['updates']:.0f}", f"{r['fallbacks']:.0f}")
    console.print(t)
    console.print(f"results {out / 'live.json'}; plot {picture}")
