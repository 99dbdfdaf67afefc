"""The provider-change scenario run live through Redis Streams: MDL-003 learning online against the
same policy frozen.

The twin's MTA sends to one provider, one 30-second window at a time, and appends each window's
record (`online.WindowRecord`: rate, outcome counts, the refused messages' replies, the MTA's
window fields) to `<prefix>:windows`. The controller reads that stream in a consumer group
(`platform.streams.StreamConsumer`: acknowledged after the decision is written, a ledger line per
batch), decides the next rate and appends it to `<prefix>:rates`, which the MTA reads before its
next window. The controller never sees the world: only what came through the stream. After
`hours_before` the provider cuts its hidden limit to `limit_scale` of what it was, unannounced;
what counts is the 24 hours after the cut.

Both arms run on the same world (provider, seed, hidden-limit draw): `online` updates its policy
every 1,000 actions from the streamed outcomes; `frozen` serves the policy as trained.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis

from adaptive_delivery.delivery.models.mdl003_throttle.online import (
    DECISION_KIND,
    LEARNING_RATE,
    UPDATE_EVERY,
    WINDOW_KIND,
    OnlineThrottle,
    WindowRecord,
    WindowRecordError,
)
from adaptive_delivery.delivery.models.mdl003_throttle.policies import Trace
from adaptive_delivery.delivery.models.mdl003_throttle.report import LIMIT_CUT_HOURS, LIMIT_JITTER
from adaptive_delivery.platform.protocol import interval
from adaptive_delivery.platform.streams import Entry, StreamConsumer, ledger, publish
from adaptive_delivery.twin.envs import OUTCOME_KINDS, STEP_SECONDS, ThrottleEnv

ARMS = ("frozen", "online")
WINDOWS_PER_HOUR = 3600 // STEP_SECONDS


@dataclass(frozen=True)
class LiveWorld:
    provider: str
    seed: int
    hours_before: float = LIMIT_CUT_HOURS
    hours_after: float = 24.0
    limit_scale: float = 0.5  # the provider's hidden limit after the change, as a share of before

    @property
    def cut_step(self) -> int:
        return int(self.hours_before * WINDOWS_PER_HOUR)

    @property
    def steps(self) -> int:
        return self.cut_step + int(self.hours_after * WINDOWS_PER_HOUR)

    def env(self) -> ThrottleEnv:
        return ThrottleEnv(self.provider, episode_steps=self.steps + 1, limit_jitter=LIMIT_JITTER,
                           limit_change_step=self.cut_step, limit_change_scale=self.limit_scale)


@dataclass
class ControllerSink:
    """The stream sink on the controller's side: each window record becomes a decision appended to
    the rates stream; a record that cannot be read is quarantined with its reason (counted, and
    the MTA keeps its rate)."""

    client: redis.Redis
    controller: OnlineThrottle
    rates_stream: str
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def __call__(self, entries: Sequence[Entry]) -> dict[str, int]:
        decisions: list[tuple[str, dict[str, Any]]] = []
        quarantined = 0
        for entry in entries:
            try:
                if entry.kind != WINDOW_KIND:
                    raise WindowRecordError(f"unexpected kind {entry.kind!r}")
                record = WindowRecord.from_event(json.loads(entry.event))
            except (WindowRecordError, ValueError) as exc:
                quarantined += 1
                self.reasons[str(exc)] = self.reasons.get(str(exc), 0) + 1
                continue
            decisions.append((DECISION_KIND, self.controller.decide(record).to_event()))
        publish(self.client, self.rates_stream, decisions)
        self.quarantined += quarantined
        return {"windows": len(entries), "decisions": len(decisions), "quarantined": quarantined}


@dataclass
class ArmRun:
    arm: str
    trace: Trace
    decisions: list[dict[str, Any]]
    controller: OnlineThrottle
    ledger: list[dict[str, Any]]
    published: int


def _next_decision(client: redis.Redis, stream: str, last_id: str) -> tuple[str, dict[str, Any]]:
    reply = client.xread({stream: last_id}, count=1, block=10_000)
    if not reply:
        raise TimeoutError(f"no decision on {stream} within 10 s: is the controller running?")
    entry_id, fields = reply[0][1][0]
    return entry_id.decode(), json.loads(fields[b"event"])


def run_arm(client: redis.Redis, prefix: str, world: LiveWorld, controller: OnlineThrottle, arm: str) -> ArmRun:
    """One arm on one world: the MTA's windows into the stream, the controller's decisions back."""
    windows, rates = f"{prefix}:windows", f"{prefix}:rates"
    for key in (windows, rates, f"{windows}:ledger"):
        client.delete(key)
    consumer = StreamConsumer(client, windows, "mdl003-controller", f"{arm}-controller",
                              ControllerSink(client, controller, rates), batch=100)
    env = world.env()
    obs, _ = env.reset(seed=world.seed)
    # the MTA's state before its first window opens the stream: the first rate is the controller's
    record = WindowRecord(world.provider, 0, env.rate, tuple(map(float, obs)), dict.fromkeys(OUTCOME_KINDS, 0))
    trace = Trace(arm, world.provider, world.seed)
    decisions: list[dict[str, Any]] = []
    last_id, published = "0-0", 0
    for t in range(world.steps):
        published += publish(client, windows, [(WINDOW_KIND, record.to_event())])
        consumer.step(block_ms=1_000)
        last_id, decision = _next_decision(client, rates, last_id)
        decisions.append(decision)
        obs, _, _, _, info = env.step_rate(float(decision["rate_per_min"]))
        record = WindowRecord(world.provider, t + 1, info["rate_per_min"], tuple(map(float, obs)), info["counts"],
                              tuple(info["refused_replies"]))
        trace.record(info, tuple(decision["rails"]))
    trace.reputation_end = env.reputation
    return ArmRun(arm, trace, decisions, controller, ledger(client, windows), published)


def after_change(run: ArmRun, world: LiveWorld) -> dict[str, float]:
    """The 24 hours after the cut: throughput, speed-caused blocks (the world's truth, for the
    referee), and what the controller did."""
    t, cut = run.trace, world.cut_step
    sent = max(sum(t.sent[cut:]), 1)
    hours = (len(t.sent) - cut) / WINDOWS_PER_HOUR
    first_hour = slice(cut, cut + WINDOWS_PER_HOUR)
    return {
        "delivered_per_hour": sum(t.delivered[cut:]) / hours,
        "rate_block_rate": sum(t.rate_blocks[cut:]) / sent,
        "rate_blocks": float(sum(t.rate_blocks[cut:])),
        "rate_blocks_first_hour": float(sum(t.rate_blocks[first_hour])),
        "block_rate": sum(t.blocks[cut:]) / sent,
        "deferral_rate": sum(t.deferred[cut:]) / sent,
        "mean_rate_over_limit": float(np.mean(np.array(t.rate[cut:]) / np.array(t.limit[cut:]))),
        "updates": float(run.controller.updates),
        "fallbacks": float(run.controller.fallbacks),
    }


def compare(rows: list[dict[str, Any]], metrics: Sequence[str] = ("delivered_per_hour", "rate_block_rate",
                                                                    "rate_blocks_first_hour")) -> dict[str, Any]:
    """Per arm, each metric's mean and 95% interval over training runs × worlds; and the paired
    difference online − frozen on the same run and world (what online learning changed)."""
    by = {(r.get("run", 1), r["provider"], r["seed"], r["arm"]): r for r in rows}
    runs = sorted({r.get("run", 1) for r in rows})
    worlds = sorted({(r["provider"], r["seed"]) for r in rows})

    def matrix(metric: str, arm: str | None) -> list[list[float]]:
        def value(run: int, w: tuple[str, int]) -> float:
            if arm is not None:
                return by[(run, *w, arm)][metric]
            return by[(run, *w, "online")][metric] - by[(run, *w, "frozen")][metric]
        return [[value(run, w) for w in worlds] for run in runs]

    out: dict[str, Any] = {arm: {m: asdict(interval(matrix(m, arm))) for m in metrics} for arm in ARMS}
    out["online_minus_frozen"] = {m: asdict(interval(matrix(m, None))) for m in metrics}
    return out


def live_settings() -> dict[str, float]:
    return {"update_every": UPDATE_EVERY, "learning_rate": LEARNING_RATE, "limit_jitter": LIMIT_JITTER}


def run_worlds(client: redis.Redis, policy: Path, worlds: Sequence[LiveWorld], *, update_every: int = UPDATE_EVERY,
               learning_rate: float = LEARNING_RATE, log: Callable[[str], None] = print,
               keep: int = 1, run_index: int = 1,
               arms: Sequence[str] = ARMS) -> tuple[list[dict[str, Any]], list[ArmRun]]:
    """Both arms (or `arms`) on every world (each arm loads the policy afresh); one row per world and
    arm, and the first `keep` worlds' runs for plotting. `run_index`: which training run `policy` is."""
    from adaptive_delivery.platform.rl.ppo import load_model

    rows: list[dict[str, Any]] = []
    kept: list[ArmRun] = []
    for i, world in enumerate(worlds):
        for arm in arms:
            controller = OnlineThrottle(load_model(policy), world.provider, learn=arm == "online",
                                        update_every=update_every, learning_rate=learning_rate, seed=world.seed)
            started = time.perf_counter()
            run = run_arm(client, f"throttle-live:{world.provider}:{world.seed}:{arm}", world, controller, arm)
            seconds = time.perf_counter() - started
            consumed = sum(line["windows"] for line in run.ledger)
            if consumed != run.published or len(run.decisions) != world.steps:
                raise RuntimeError(f"{arm} on {world}: {run.published} windows published, {consumed} consumed, "
                                   f"{len(run.decisions)} decisions for {world.steps} windows")
            row = {"run": run_index, "provider": world.provider, "seed": world.seed, "arm": arm,
                   **after_change(run, world),
                   "windows": world.steps, "seconds": seconds,
                   "update_seconds": float(np.mean(controller.update_seconds)) if controller.update_seconds else 0.0}
            rows.append(row)
            log(f"{world.provider} seed {world.seed} {arm:>6}: {row['delivered_per_hour']:,.0f} delivered/h after the "
                f"cut, speed-caused blocks {row['rate_block_rate']:.3%}, {controller.updates} updates, "
                f"{world.steps / seconds:,.0f} windows/s through the streams")
            if i < keep:
                kept.append(run)
    return rows, kept


def plot(runs: Sequence[ArmRun], world: LiveWorld, path: Path) -> Path:
    """Rate against the hidden limit, and speed-caused blocks, for both arms on one world (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.8 * len(runs)), sharex=True, squeeze=False)
    for ax, run in zip(axes[:, 0], runs, strict=True):
        t = run.trace
        hours = np.arange(len(t.rate)) / WINDOWS_PER_HOUR
        ax.plot(hours, t.limit, color="black", lw=1.2, label="hidden limit")
        ax.plot(hours, t.rate, color="tab:blue", lw=0.7, label="rate")
        for k, d in enumerate(run.decisions):
            if k and d["updates"] != run.decisions[k - 1]["updates"]:
                ax.axvline(k / WINDOWS_PER_HOUR, color="tab:green", lw=0.8, ls="--")
        ax.axvline(world.cut_step / WINDOWS_PER_HOUR, color="tab:red", lw=1.0)
        ax.set_ylabel("msgs/min")
        ax2 = ax.twinx()
        ax2.plot(hours, np.array(t.rate_blocks) / np.maximum(np.array(t.sent), 1), color="tab:red", lw=0.6,
                 label="speed-caused block share")
        ax2.set_ylim(0, 1)
        ax.set_title(f"MDL-003 {run.arm} on {world.provider} (seed {world.seed}): the provider cuts its limit to "
                     f"{world.limit_scale:.0%} (red line); green: online updates")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("hours")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
