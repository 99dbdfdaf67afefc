"""Evaluate throttle policies side by side on held-out worlds: the table, the adaptation trace.

Every policy runs on the same worlds (same provider, seed and hidden-limit draw), one simulated
stretch per provider and seed. Throughput is delivered messages per hour; blocks are split into
all refusals and those the sending speed caused (the world's truth), since every sender sees the
same background of policy refusals whatever its rate. `oracle_share` is throughput over the
oracle's on the same world.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.models.mdl003_throttle.policies import (
    AIMD,
    ContextualBandit,
    KumoMTA,
    Oracle,
    StaticDefaults,
    ThrottlePolicy,
    Trace,
    run_policy,
)
from adaptive_delivery.delivery.providers import PROVIDER_NAMES
from adaptive_delivery.platform.protocol import VALIDATION_SEEDS, interval
from adaptive_delivery.platform.rl.ppo import PolicyFiles, policy_files
from adaptive_delivery.twin.envs import STEP_SECONDS, ThrottleEnv

STEPS_PER_DAY = 86_400 // STEP_SECONDS
HELD_OUT_SEEDS = VALIDATION_SEEDS[:2]  # the validation worlds the pipeline's gate reads
LIMIT_JITTER = 0.5
LIMIT_CUT_HOURS = 4.0  # when the provider halves its limit in the adaptation run
LIMIT_CUT_STEP = int(LIMIT_CUT_HOURS * 3600 / STEP_SECONDS)


def baseline_policies() -> list[ThrottlePolicy]:
    """The spec's and the shipped rules, the best rules tuned on validation worlds (`rules.py`), the
    online bandit, and the oracle last."""
    from adaptive_delivery.delivery.models.mdl003_throttle.rules import tuned_rules

    return [StaticDefaults(), KumoMTA(), KumoMTA(with_static_rates=True), AIMD(), *tuned_rules(), ContextualBandit(),
            Oracle()]


def policies_with(ppo: PolicyFiles) -> list[ThrottlePolicy]:
    """The baselines with each training run of the learned policy (all named `ppo`, told apart by
    `run`) before the oracle."""
    policies = baseline_policies()
    if files := policy_files(ppo):
        from adaptive_delivery.delivery.models.mdl003_throttle.training import load_policy

        policies[-1:-1] = [load_policy(path, run=i + 1) for i, path in enumerate(files)]
    return policies


@dataclass(frozen=True)
class World:
    provider: str
    seed: int
    steps: int
    limit_change_step: int | None = None
    limit_change_scale: float = 0.5

    def env(self) -> ThrottleEnv:
        return ThrottleEnv(self.provider, episode_steps=self.steps + 1, limit_jitter=LIMIT_JITTER,
                           limit_change_step=self.limit_change_step, limit_change_scale=self.limit_change_scale)


def _run_world(args: tuple[World, PolicyFiles]) -> list[Trace]:
    world, ppo = args
    return [run_policy(p, world.env(), world.seed, world.steps) for p in policies_with(ppo)]


def evaluate(
    ppo: PolicyFiles,
    *,
    providers: Sequence[str] = PROVIDER_NAMES,
    seeds: Sequence[int] = HELD_OUT_SEEDS,
    days: float = 7.0,
    workers: int = 2,
    on_world_done: Callable[[World], None] | None = None,
) -> pd.DataFrame:
    """One row per (policy, training run, provider, seed) with the trace's summary and its share of
    the oracle."""
    worlds = [World(p, s, int(days * STEPS_PER_DAY)) for p in providers for s in seeds]
    rows: list[dict] = []
    jobs = [(w, policy_files(ppo)) for w in worlds]
    if workers > 1:
        # spawn, not fork: a forked child of a process that has torch's thread pools can deadlock
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for world, traces in zip(worlds, pool.map(_run_world, jobs), strict=True):
                rows += [t.summary() for t in traces]
                if on_world_done:
                    on_world_done(world)
    else:
        for world, job in zip(worlds, jobs, strict=True):
            rows += [t.summary() for t in _run_world(job)]
            if on_world_done:
                on_world_done(world)
    df = pd.DataFrame(rows)
    oracle = df[df.policy == "oracle"].set_index(["provider", "seed"])["delivered_per_hour"]
    df["oracle_share"] = df.apply(lambda r: r.delivered_per_hour / oracle[(r.provider, r.seed)], axis=1)
    return df


def table(df: pd.DataFrame) -> pd.DataFrame:
    """Per provider (mean over seeds and training runs) and overall (all providers' mail together,
    per seed and run, then the mean)."""
    per_provider = df.groupby(["provider", "policy"], sort=False)[TABLE_METRICS].mean().reset_index()
    overall = overall_per_world(df).groupby("policy", sort=False)[TABLE_METRICS].mean().reset_index()
    overall.insert(0, "provider", "ALL")
    return pd.concat([per_provider, overall], ignore_index=True)


TABLE_METRICS = ["delivered_per_hour", "block_rate", "rate_block_rate", "deferral_rate", "complaint_rate",
                 "reputation_end", "oracle_share"]


def overall_per_world(df: pd.DataFrame) -> pd.DataFrame:
    """All providers' mail together, one row per (policy, training run, seed)."""
    return df.groupby(["policy", "run", "seed"], sort=False).apply(_overall, include_groups=False).reset_index()


def intervals(df: pd.DataFrame, metrics: Sequence[str] = ("delivered_per_hour", "rate_block_rate", "block_rate"),
              ) -> dict[str, dict[str, dict[str, float | int]]]:
    """Each policy's overall figures as mean and 95% interval over worlds (and training runs), with
    the throughput gain over the best rule and the share of the oracle computed world by world."""
    per_world = overall_per_world(df)
    rule = best_rule_of(per_world)
    base = per_world[per_world.policy == rule].set_index("seed").delivered_per_hour
    oracle = per_world[per_world.policy == "oracle"].set_index("seed").delivered_per_hour
    per_world["gain_vs_best_rule"] = per_world.delivered_per_hour / per_world.seed.map(base) - 1
    per_world["oracle_share"] = per_world.delivered_per_hour / per_world.seed.map(oracle)
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for policy, g in per_world.groupby("policy", sort=False):
        cells = {m: g.pivot(index="run", columns="seed", values=m).to_numpy()
                 for m in (*metrics, "gain_vs_best_rule", "oracle_share")}
        out[str(policy)] = {m: interval(v).to_dict() for m, v in cells.items()}
    return out


def _overall(g: pd.DataFrame) -> pd.Series:
    """Totals across providers: throughput adds up; rates are weighted by each provider's mail."""
    w = g.sent_per_hour / max(g.sent_per_hour.sum(), 1e-9)
    return pd.Series({
        "delivered_per_hour": g.delivered_per_hour.sum(),
        "block_rate": float((g.block_rate * w).sum()),
        "rate_block_rate": float((g.rate_block_rate * w).sum()),
        "deferral_rate": float((g.deferral_rate * w).sum()),
        "complaint_rate": float((g.complaint_rate * w).sum()),
        "reputation_end": g.reputation_end.mean(),
        "oracle_share": np.nan,
    })


def score_policy(policy: ThrottlePolicy, seeds: Sequence[int], days: float,
                 providers: Sequence[str] = PROVIDER_NAMES) -> dict[str, float]:
    """One policy on every provider of these worlds: all providers' mail together (per seed, then
    the mean over seeds), as the evaluation table's overall row computes it. What `rules.tune` scores."""
    rows = [run_policy(policy, World(p, s, int(days * STEPS_PER_DAY)).env(), s, int(days * STEPS_PER_DAY)).summary()
            for p in providers for s in seeds]
    per_seed = pd.DataFrame(rows).groupby("seed").apply(_overall, include_groups=False)
    return {k: float(per_seed[k].mean()) for k in ("delivered_per_hour", "rate_block_rate", "block_rate", "deferral_rate")}


def add_overall_oracle_share(tab: pd.DataFrame) -> pd.DataFrame:
    overall = tab.provider == "ALL"
    oracle = float(tab[overall & (tab.policy == "oracle")].delivered_per_hour.iloc[0])
    tab.loc[overall, "oracle_share"] = tab.loc[overall, "delivered_per_hour"] / oracle
    return tab


def best_rule(tab: pd.DataFrame) -> str:
    """The tuned rule that delivers most overall with speed-caused blocks under 0.1% (the safest
    one when none is): the baseline the headline compares with."""
    return best_rule_of(tab[tab.provider == "ALL"])


def best_rule_of(overall: pd.DataFrame) -> str:
    """`best_rule` over overall rows (one per policy, or one per policy and world: averaged)."""
    from adaptive_delivery.delivery.models.mdl003_throttle.rules import (
        SPEED_BLOCK_TARGET,
        tuned_rules,
    )

    names = [r.name for r in tuned_rules()]
    row = overall[overall.policy.isin(names)].groupby("policy")[["delivered_per_hour", "rate_block_rate"]].mean()
    ok = row[row.rate_block_rate < SPEED_BLOCK_TARGET]
    return str(ok.delivered_per_hour.idxmax() if len(ok) else row.rate_block_rate.idxmin())


def targets(tab: pd.DataFrame, learned: str = "ppo", baseline: str = "kumomta+rates") -> dict[str, float | bool | str]:
    """The targets on the overall row: +20% over the best tuned rule, rate blocks < 0.1%, >= 90% of
    the oracle's throughput (the gain over KumoMTA with the spec's rates kept for comparison)."""
    row = tab[(tab.provider == "ALL")].set_index("policy")
    rule = best_rule(tab)
    gain = float(row.loc[learned, "delivered_per_hour"] / row.loc[rule, "delivered_per_hour"] - 1)
    return {
        "best_rule": rule,
        "throughput_gain_vs_best_rule": gain,
        "throughput_gain_vs_kumomta": float(row.loc[learned, "delivered_per_hour"] / row.loc[baseline, "delivered_per_hour"] - 1),
        "rate_block_rate": float(row.loc[learned, "rate_block_rate"]),
        "block_rate": float(row.loc[learned, "block_rate"]),
        "oracle_share": float(row.loc[learned, "oracle_share"]),
        "gain_target_met": gain >= 0.20,
        "block_target_met": float(row.loc[learned, "rate_block_rate"]) < 0.001,
        "oracle_target_met": float(row.loc[learned, "oracle_share"]) >= 0.90,
    }


def adaptation_traces(ppo: PolicyFiles, provider: str = "gmail", seed: int = 2001, hours: float = 12.0) -> list[Trace]:
    """Every policy on one world whose provider halves its limit after LIMIT_CUT_HOURS."""
    steps = int(hours * 3600 / STEP_SECONDS)
    world = World(provider, seed, steps, limit_change_step=LIMIT_CUT_STEP)
    return _run_world((world, policy_files(ppo)[:1]))


def plot_adaptation(traces: list[Trace], path: Path, show: Sequence[str] = ("ppo", "aimd", "kumomta+rates", "oracle")) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [t for t in traces if t.policy in show]
    fig, axes = plt.subplots(len(chosen), 1, figsize=(10, 2.6 * len(chosen)), sharex=True)
    for ax, t in zip(np.atleast_1d(axes), chosen, strict=True):
        hours = np.arange(len(t.rate)) * STEP_SECONDS / 3600
        ax.plot(hours, t.limit, color="black", lw=1.2, label="hidden limit")
        ax.plot(hours, t.rate, color="tab:blue", lw=0.8, label="rate")
        ax.set_ylabel("msgs/min")
        ax2 = ax.twinx()
        sent = np.maximum(np.array(t.sent), 1)
        ax2.plot(hours, np.array(t.deferred) / sent, color="tab:orange", lw=0.6, alpha=0.7, label="deferred share")
        ax2.plot(hours, np.array(t.rate_blocks) / sent, color="tab:red", lw=0.8, label="speed-caused block share")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("share of window")
        ax.set_title(f"{t.policy} on {t.provider}: the provider halves its limit")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=7)
    np.atleast_1d(axes)[-1].set_xlabel("hours")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def adaptation_summary(traces: list[Trace], cut_step: int = LIMIT_CUT_STEP) -> pd.DataFrame:
    """After the cut: throughput and speed-caused blocks per policy (the 'block storm' check)."""
    rows = []
    for t in traces:
        sent = max(sum(t.sent[cut_step:]), 1)
        hours = (len(t.rate) - cut_step) * STEP_SECONDS / 3600
        first_hour = slice(cut_step, cut_step + 3600 // STEP_SECONDS)
        rows.append({
            "policy": t.policy,
            "delivered_per_hour_after": sum(t.delivered[cut_step:]) / hours,
            "rate_block_rate_after": sum(t.rate_blocks[cut_step:]) / sent,
            "rate_blocks_first_hour": sum(t.rate_blocks[first_hour]),
            "max_window_rate_block_share": max((b / max(s, 1) for b, s in zip(t.rate_blocks[cut_step:], t.sent[cut_step:], strict=True)), default=0.0),
        })
    return pd.DataFrame(rows)


def save(tab: pd.DataFrame, out: Path, extra: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tab.to_csv(out / "throttle_eval.csv", index=False)
    (out / "throttle_eval.md").write_text(tab.to_markdown(index=False, floatfmt=".4g"))
    (out / "throttle_targets.json").write_text(json.dumps(extra, indent=2, default=float))


def registry_metrics(tab: pd.DataFrame, learned: str = "ppo", baseline: str = "kumomta+rates") -> dict[str, float]:
    """The overall row's numbers the registry gates on, with the oracle's beside them."""
    overall = tab[tab.provider == "ALL"].set_index("policy")
    if learned not in overall.index:
        raise KeyError(f"the table has no {learned!r} row: evaluate with the trained policy")
    keys = ("oracle_share", "delivered_per_hour", "rate_block_rate", "block_rate", "deferral_rate")
    metrics = {k: float(overall.loc[learned, k]) for k in keys}
    metrics["throughput_gain_vs_kumomta"] = metrics["delivered_per_hour"] / float(overall.loc[baseline, "delivered_per_hour"]) - 1
    rule = best_rule(tab)
    metrics["throughput_gain_vs_best_rule"] = metrics["delivered_per_hour"] / float(overall.loc[rule, "delivered_per_hour"]) - 1
    metrics |= {f"oracle_{k}": float(overall.loc["oracle", k]) for k in ("delivered_per_hour", "rate_block_rate", "block_rate")}
    return metrics


def evaluate_into(policy: PolicyFiles, out: Path, *, days: float, seeds: Sequence[int], workers: int = 2,
                  trace: bool = True, on_world_done: Callable[[World], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """Evaluate every policy with `policy` (one or several training runs) as PPO, write the table,
    per-world rows, intervals, targets and (with `trace`) the limit-halving run of the first run;
    returns the table and what was saved beside it."""
    df = evaluate(policy, seeds=seeds, days=days, workers=workers, on_world_done=on_world_done)
    tab = add_overall_oracle_share(table(df))
    extra: dict = {"days": days, "seeds": list(seeds), "training_runs": len(policy_files(policy)),
                   "intervals": intervals(df)}
    if policy_files(policy):
        extra["targets"] = targets(tab)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "throttle_runs.csv", index=False)
    if trace:
        traces = adaptation_traces(policy)
        extra["limit_halved"] = adaptation_summary(traces).to_dict(orient="records")
        extra["plot"] = str(plot_adaptation(traces, out / "limit_halved.png"))
    save(tab, out, extra)
    return tab, extra
