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
from adaptive_delivery.platform.protocol import VALIDATION_SEEDS

HELD_OUT_SEEDS = VALIDATION_SEEDS[:10]  # the validation worlds the pipeline's gate reads


def policies_with(ppo_path: Path | None) -> list[WarmupPolicy]:
    policies: list[WarmupPolicy] = [FixedDoubling(), RuleEscalation(0.25), RuleEscalation(0.5), RailedRule(0.25),
                                    RailedRule(0.5), WarmupOracle()]
    if ppo_path is not None:
        from adaptive_delivery.delivery.models.mdl009_warmup.training import load_policy

        policies.insert(-1, load_policy(ppo_path))
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
        "days_to_full": float(rows.days_to_full.fillna(days + 1).mean()),
        "reached_share": float(rows.days_to_full.notna().mean()),
        "block_event_days": float(rows.block_event_days.mean()),
        "reputation_damage": float(rows.reputation_damage.mean()),
        "pause_days": float(rows.pause_days.mean()),
    }


def evaluate_into(policy: Path | None, out: Path, *, days: int = HORIZON_DAYS,
                  seeds: Sequence[int] = HELD_OUT_SEEDS) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Evaluate every warm-up policy (with `policy` as PPO), write the table, per-run rows, plots
    and, with a policy, its daily plan records; returns (table, rows, what was saved)."""
    policies = policies_with(policy)
    df, traces = evaluate(policies, seeds=seeds, days=days)
    tab = table(df, days)
    plots = {name: str(plot(tr, out / f"warmup_{name}.png", seeds[0])) for name, tr in traces.items()}
    extra = {"days": days, "seeds": list(seeds), "plots": plots}
    save(tab, df, out, extra)
    if policy is not None:  # what MDL-009 would have told an operator each day on the first IP
        plans = plan_records(policies[-2], seeds[0], days)
        (out / "warmup_plans.jsonl").write_text("".join(json.dumps(p) + "\n" for p in plans))
    return tab, df, extra


def registry_metrics(df: pd.DataFrame, days: int, learned: str = "PPO (MDL-009)") -> dict[str, float]:
    """The learned policy's registry metrics with the oracle's beside them (`oracle_*`)."""
    return policy_metrics(df, learned, days) | {f"oracle_{k}": v for k, v in policy_metrics(df, "oracle", days).items()}
