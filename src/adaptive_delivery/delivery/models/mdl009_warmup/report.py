"""Evaluate warm-up policies side by side on new IPs the learned policy never trained on: days to
full capacity, reputation damage, block events and pauses, per audience; plus a plot of each
policy's daily volume and reputation on one world."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.models.mdl009_warmup.policies import (
    AUDIENCES,
    HORIZON_DAYS,
    FixedDoubling,
    RailedRule,
    RuleEscalation,
    WarmupOracle,
    WarmupPolicy,
    WarmupTrace,
    run_warmup,
)
from adaptive_delivery.platform.protocol import VALIDATION_SEEDS, interval
from adaptive_delivery.platform.rl.ppo import PolicyFiles, policy_files

HELD_OUT_SEEDS = VALIDATION_SEEDS[:10]  # the validation worlds the pipeline's gate reads


# The operator's rules held to the learned policy's rails; the headline compares with the fastest.
RAILED_RULES = (RailedRule(0.25), RailedRule(0.5), RailedRule(0.5, raise_unseen=True))
LEARNED = "PPO (MDL-009)"


def policies_with(ppo: PolicyFiles) -> list[WarmupPolicy]:
    """The rules, each training run of the learned policy (one name, told apart by `run`), the oracle."""
    policies: list[WarmupPolicy] = [FixedDoubling(), RuleEscalation(0.25), RuleEscalation(0.5), *RAILED_RULES,
                                    WarmupOracle()]
    if files := policy_files(ppo):
        from adaptive_delivery.delivery.models.mdl009_warmup.training import load_policy

        policies[-1:-1] = [load_policy(path, run=i + 1) for i, path in enumerate(files)]
    return policies


def evaluate(policies: Sequence[WarmupPolicy], seeds: Sequence[int] = HELD_OUT_SEEDS,
             days: int = HORIZON_DAYS) -> tuple[pd.DataFrame, dict[str, list[WarmupTrace]]]:
    """One row per (audience, policy, seed); the traces by audience for plotting."""
    rows, traces = [], {}
    for audience_name, audience in AUDIENCES.items():
        traces[audience_name] = []
        for policy in policies:
            for seed in seeds:
                trace = run_warmup(policy, seed, days=days, audience=audience)
                traces[audience_name].append(trace)
                rows.append({"audience": audience_name, **trace.summary()})
    return pd.DataFrame(rows), traces


def table(df: pd.DataFrame, days: int = HORIZON_DAYS) -> pd.DataFrame:
    """Per audience and policy: median days to full capacity (worlds that never got there count as
    never), how many worlds got there, and the means of the damage measures."""
    def summarise(g: pd.DataFrame) -> pd.Series:
        reached = g.days_to_full.dropna()
        days_to_full = g.days_to_full.fillna(np.inf)
        median = float(np.median(days_to_full))
        return pd.Series({
            "days_to_full_median": median if np.isfinite(median) else np.nan,
            "reached_share": len(reached) / len(g),
            "reputation_end": g.reputation_end.mean(),
            "reputation_min": g.reputation_min.mean(),
            "reputation_damage": g.reputation_damage.mean(),
            "block_event_days": g.block_event_days.mean(),
            "pause_days": g.pause_days.mean(),
            "delivered_total": g.delivered_total.mean(),
            "deferral_rate": g.deferral_rate.mean(),
        })

    return df.groupby(["audience", "policy"], sort=False).apply(summarise, include_groups=False).reset_index()


def plot(traces: list[WarmupTrace], path: Path, seed: int) -> Path:
    """Daily volume (log) and reputation of each policy on one new IP."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    for t in (t for t in traces if t.seed == seed):
        days = np.arange(1, len(t.volume) + 1)
        ax1.plot(days, np.maximum(t.volume, 1.0), lw=1.2, label=t.policy)
        events = [d for d, r in zip(days, t.pause_reasons, strict=True) if r]
        ax1.scatter(events, [max(t.volume[d - 1], 1.0) for d in events], marker="x", s=18)
        ax2.plot(days, t.reputation, lw=1.2, label=t.policy)
    ax1.axhline(traces[0].target, color="black", lw=0.8, ls="--", label="sender's daily volume")
    ax1.set_yscale("log")
    ax1.set_ylabel("messages/day (x: pause trigger)")
    ax1.legend(fontsize=7)
    ax2.set_ylabel("IP reputation")
    ax2.set_xlabel("day")
    ax1.set_title(f"warm-up of a new IP (world seed {seed})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plan_records(policy: WarmupPolicy, seed: int, days: int = HORIZON_DAYS, audience: str = "typical") -> list[dict]:
    """The spec §3.5 plan record of each day of one new IP's warm-up under `policy`."""
    plans: list[dict] = []
    run_warmup(policy, seed, days=days, audience=AUDIENCES[audience], plans=plans)
    return plans


def save(tab: pd.DataFrame, df: pd.DataFrame, out: Path, extra: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "warmup_runs.csv", index=False)
    tab.to_csv(out / "warmup_eval.csv", index=False)
    (out / "warmup_eval.md").write_text(tab.to_markdown(index=False, floatfmt=".4g"))
    (out / "warmup_summary.json").write_text(json.dumps(extra, indent=2, default=float))


def policy_metrics(df: pd.DataFrame, policy: str, days: int = HORIZON_DAYS) -> dict[str, float]:
    """One policy's registry metrics over every held-out IP and audience: mean days to full
    capacity (an IP that never got there counts `days + 1`), the share that got there, and the
    mean damage measures."""
    rows = df[df.policy == policy]
    if rows.empty:
        raise KeyError(f"no evaluation rows for policy {policy!r}")
    return {
        "days_to_full": float(per_world(rows, days).days_to_full.mean()),
        "reached_share": float(rows.days_to_full.notna().mean()),
        "block_event_days": float(rows.block_event_days.mean()),
        "reputation_damage": float(rows.reputation_damage.mean()),
        "pause_days": float(rows.pause_days.mean()),
    }


def per_world(df: pd.DataFrame, days: int) -> pd.DataFrame:
    """The rows with days to full capacity as a number (an IP that never got there counts `days + 1`)."""
    return df.assign(days_to_full=pd.to_numeric(df.days_to_full, errors="coerce").fillna(days + 1))


def best_railed_rule(df: pd.DataFrame, days: int) -> str:
    """The railed rule with the fewest mean days to full capacity over every IP and audience."""
    rows = per_world(df, days)
    names = [r.name for r in RAILED_RULES]
    return str(rows[rows.policy.isin(names)].groupby("policy").days_to_full.mean().idxmin())


def intervals(df: pd.DataFrame, days: int,
              metrics: Sequence[str] = ("days_to_full", "block_event_days", "pause_days", "delivered_total"),
              ) -> dict[str, dict[str, dict[str, dict[str, float | int]]]]:
    """Per audience and policy, each figure as mean and 95% interval over new IPs (and training
    runs), with days to full capacity and block-event days against the best railed rule IP by IP."""
    rows = per_world(df, days)
    rule = best_railed_rule(df, days)
    out: dict[str, dict[str, dict[str, dict[str, float | int]]]] = {}
    for audience, a in rows.groupby("audience", sort=False):
        base = a[a.policy == rule].set_index("seed")
        a = a.assign(days_vs_best_rule=a.days_to_full - a.seed.map(base.days_to_full),
                     block_days_vs_best_rule=a.block_event_days - a.seed.map(base.block_event_days))
        out[str(audience)] = {
            str(policy): {m: interval(g.pivot(index="run", columns="seed", values=m).to_numpy()).to_dict()
                          for m in (*metrics, "days_vs_best_rule", "block_days_vs_best_rule")}
            for policy, g in a.groupby("policy", sort=False)
        }
    return out


def targets(found: dict, rule: str, learned: str = LEARNED) -> dict[str, object]:
    """Spec-issue target per audience, from `intervals`: fewer days to full capacity than the best
    railed rule `rule` (the mean over IPs and runs), with no more block-event days."""
    result: dict[str, object] = {"best_railed_rule": rule}
    for audience, policies in found.items():
        mine = policies[learned]
        result[audience] = {
            "days_to_full": mine["days_to_full"]["mean"],
            "best_rule_days_to_full": policies[rule]["days_to_full"]["mean"],
            "days_vs_best_rule": mine["days_vs_best_rule"],
            "block_days_vs_best_rule": mine["block_days_vs_best_rule"],
            "days_target_met": mine["days_vs_best_rule"]["mean"] < 0,
            "block_target_met": mine["block_days_vs_best_rule"]["mean"] <= 0,
        }
    result["all_met"] = all(v["days_target_met"] and v["block_target_met"] for k, v in result.items() if isinstance(v, dict))
    return result


def evaluate_into(policy: PolicyFiles, out: Path, *, days: int = HORIZON_DAYS,
                  seeds: Sequence[int] = HELD_OUT_SEEDS) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Evaluate every warm-up policy (with `policy`, one or several training runs, as PPO), write
    the table, per-IP rows, intervals, plots and, with a policy, the first run's daily plan
    records; returns (table, rows, what was saved)."""
    policies = policies_with(policy)
    df, traces = evaluate(policies, seeds=seeds, days=days)
    tab = table(df, days)
    plots = {name: str(plot([t for t in tr if t.run <= 1], out / f"warmup_{name}.png", seeds[0]))
             for name, tr in traces.items()}
    found = intervals(df, days)
    extra: dict = {"days": days, "seeds": list(seeds), "training_runs": len(policy_files(policy)), "plots": plots,
                   "intervals": found}
    if policy_files(policy):
        extra["targets"] = targets(found, best_railed_rule(df, days))
    save(tab, df, out, extra)
    if policy_files(policy):  # what MDL-009 would have told an operator each day on the first IP
        first = next(p for p in policies if p.name == LEARNED)
        plans = plan_records(first, seeds[0], days)
        (out / "warmup_plans.jsonl").write_text("".join(json.dumps(p) + "\n" for p in plans))
    return tab, df, extra


def registry_metrics(df: pd.DataFrame, days: int, learned: str = LEARNED) -> dict[str, float]:
    """The learned policy's registry metrics with the oracle's beside them (`oracle_*`), and its days
    to full capacity against the best railed rule's on the same IPs (`days_vs_best_rule`)."""
    rows = per_world(df, days)
    rule = rows[rows.policy == best_railed_rule(df, days)].set_index(["audience", "seed"]).days_to_full
    mine = rows[rows.policy == learned]
    gap = mine.days_to_full.to_numpy() - rule.loc[list(zip(mine.audience, mine.seed, strict=True))].to_numpy()
    return (policy_metrics(df, learned, days) | {"days_vs_best_rule": float(gap.mean())}
            | {f"oracle_{k}": v for k, v in policy_metrics(df, "oracle", days).items()})


def best_rule_champion(evaluation: Path) -> tuple[dict[str, object], dict[str, float]]:
    """The best railed rule of an evaluation folder (`evaluate_into`'s), as a servable champion:
    its settings and its registry metrics on the same IPs (`days_vs_best_rule` 0 by definition)."""
    df = pd.read_csv(evaluation / "warmup_runs.csv")
    days = int(json.loads((evaluation / "warmup_summary.json").read_text())["days"])
    name = best_railed_rule(df, days)
    [rule] = [r for r in RAILED_RULES if r.name == name]
    return rule.config(), registry_metrics(df, days, learned=name)
