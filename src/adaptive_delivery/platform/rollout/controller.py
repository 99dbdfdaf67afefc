"""The rollout controller: a candidate model walks shadow → canary → ramp → full (spec §8), advancing
when a stage has lasted long enough, has enough samples and no guardrail is worse; rolled back on a
significant degradation beyond the threshold or an error spike; promoted when it reaches full
traffic. Spec §8.1's 5% significance holds for the guardrails of a verdict together (Holm). The state is a JSON file written atomically, so the controller survives a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from adaptive_delivery.platform.rollout.stats import (
    holm,
    mean_difference_z,
    slower_by_rank,
    slower_in_the_tail,
    two_proportion_z,
)
from adaptive_delivery.platform.rollout.store import JsonStore

SIGNIFICANCE = 0.05  # spec §8.1
MIN_SAMPLE = 10_000  # per arm, spec §8.1
MAX_DEGRADATION = 0.05  # relative, spec §8.1 rollback trigger
# The z-test's normal approximation needs events: a rate is judged only once each arm expects at
# least this many (pooled rate x its messages; the textbook n·p ≥ 5). Complaints at 0.02% need
# 25,000 messages per arm; before that, five complaints against one is chance, not evidence.
MIN_EXPECTED_EVENTS = 5
# An error spike rolls back at once, without waiting for samples: the candidate's error rate is at
# least twice the control's and at least this much above it.
ERROR_SPIKE_MARGIN = 0.01
ERROR_SPIKE_MIN_REQUESTS = 100


@dataclass(frozen=True)
class Stage:
    name: str
    traffic: float  # the candidate's share of live decisions (0 in shadow: it is mirrored)
    min_days: float
    mirror: bool = False


def default_plan(time_scale: float = 1.0) -> tuple[Stage, ...]:
    """Spec §8.1: shadow ≥ 7 days, canary 5% ≥ 3 days, ramp 25% and 50% ≥ 3 days each, then 100%.
    `time_scale` compresses the durations (the simulator runs a day in seconds)."""
    return (Stage("shadow", 0.0, 7 * time_scale, mirror=True), Stage("canary", 0.05, 3 * time_scale),
            Stage("ramp-25", 0.25, 3 * time_scale), Stage("ramp-50", 0.50, 3 * time_scale), Stage("full", 1.0, 0.0))


@dataclass(frozen=True)
class Guardrail:
    metric: str
    higher_is_better: bool
    max_degradation: float = MAX_DEGRADATION
    proportion: bool = True  # tested with the two-proportion z-test; otherwise compared as a value
    # for a value (not a proportion): judged only once both arms served this many requests, and a
    # change smaller than `min_absolute` never counts (a p99 of a few batches is noise)
    min_requests: int = 0
    min_absolute: float = 0.0
    # a mean of a value per decided message (ArmStats.value_moments), tested with the z-test of two means
    per_message: bool = False
    # a latency quantile: where both arms kept their request times (ArmStats.latencies_ms), the
    # candidate must also be significantly slower, by rank for a median, in the tail for a p99
    quantile: float | None = None


# Latency: the median is judged from 30 requests per arm; the p99 only from 1,000 (with fewer, the
# p99 is the one or two slowest requests: a garbage collection, not the model). Changes under 5 ms
# are noise on a shared machine: measured with both arms' batches interleaved on a loaded 2-core
# machine, same-sized models differed by up to 4 ms in median batch time (10.0 vs 13.7 ms).
# A machine loaded on and off makes batch times bimodal (8 ms idle, 80 ms busy, measured), and a
# median of 40 batches then lands on either mode: the same model in both arms once differed by more
# than 25% and 5 ms. So the change must also be significant, on tests load moves alike in both
# arms (stats.slower_by_rank for the median, stats.slower_in_the_tail for the p99).
LATENCY_P50 = Guardrail("latency_p50_ms", higher_is_better=False, max_degradation=0.25, proportion=False,
                        min_requests=30, min_absolute=5.0, quantile=0.5)
LATENCY_P99 = Guardrail("latency_p99_ms", higher_is_better=False, max_degradation=0.25, proportion=False,
                        min_requests=1_000, min_absolute=5.0, quantile=0.99)


GUARDRAILS = (
    Guardrail("delivery_rate", higher_is_better=True),
    Guardrail("inbox_rate", higher_is_better=True),
    Guardrail("bounce_rate", higher_is_better=False),
    Guardrail("complaint_rate", higher_is_better=False),
    # Rates of sent mail improve by skipping mail, so the arms are also judged on everything they
    # decided: placement value per decided message (+1 inboxed, -SPAM_FOLDER_COST spam-foldered,
    # 0 held back or refused), the trade the action policy itself makes.
    Guardrail("placement_value", higher_is_better=True, proportion=False, per_message=True),
    Guardrail("error_rate", higher_is_better=False),
    LATENCY_P50,
    LATENCY_P99,
)
# In shadow the candidate decides nothing: only what it would have predicted can be judged.
SHADOW_GUARDRAILS = (
    Guardrail("shadow_score", higher_is_better=True, max_degradation=0.02, proportion=False),
    Guardrail("error_rate", higher_is_better=False),
    LATENCY_P50,
    LATENCY_P99,
)

# metric -> (count, denominator) fields of ArmStats
COUNTS = {"delivery_rate": ("delivered", "sent"), "inbox_rate": ("inboxed", "sent"), "bounce_rate": ("bounced", "sent"),
          "complaint_rate": ("complained", "sent"), "error_rate": ("errors", "requests")}

# What a spam-foldered message costs, in inboxed messages: the break-even the action policy's own
# defer threshold sets (spec §6.1 defers when P(spam) > 0.6, i.e. it would rather send nothing than
# a message inboxed with 0.4 and foldered with 0.6: 0.4 - cost x 0.6 = 0). A volume guardrail that
# prices the spam folder at 0 (the share of decided mail inboxed) rolls back every model that
# defers as the policy says: measured in the provider-change scenario, where Gmail's filter
# tightened, the recalibrated model sent 80% of the mail it decided on at ramp-50 (control 98%) and
# inboxed 76.9% of what it sent (control 69.0%, z 4.9), yet was rolled back on inboxed share (61.6%
# vs 67.7%).
# The product's defer threshold (delivery: `ActionThresholds.defer_spam`, 0.6) sets it; a test holds
# the two together, since the platform does not import the product.
DEFER_SPAM_BREAK_EVEN = 0.6
SPAM_FOLDER_COST = (1.0 - DEFER_SPAM_BREAK_EVEN) / DEFER_SPAM_BREAK_EVEN
MIN_MESSAGES_FOR_MEANS = 30  # per arm, for the normal approximation of a mean


@dataclass
class ArmStats:
    """What one arm did over the stage: messages it decided, how many it let out, what happened to
    those, how it served. `sent` None means every decided message went out."""

    messages: int = 0
    delivered: int = 0
    inboxed: int = 0
    # delivered messages whose placement was seen (seed and panel addresses); None: all of them
    placed: int | None = None
    bounced: int = 0
    complained: int = 0
    requests: int = 0
    errors: int = 0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    shadow_score: float = float("nan")  # e.g. macro AUC of its predictions on realised outcomes
    sent: int | None = None
    # each request's time, where the caller kept them: latency changes are then tested, not just compared
    latencies_ms: list[float] = field(default_factory=list)

    def count(self, field_name: str) -> int:
        if field_name == "sent" and self.sent is None:
            return self.messages
        return int(getattr(self, field_name))

    def rate(self, metric: str) -> float:
        if metric == "placement_value":
            return self.value_moments(metric)[0]
        if metric in COUNTS:
            num, denom = (self.count(f) for f in COUNTS[metric])
            return num / denom if denom else 0.0
        return float(getattr(self, metric))

    def total(self, metric: str) -> int:
        return self.count(COUNTS[metric][1])

    def value_moments(self, metric: str) -> tuple[float, float, int]:
        """(mean, variance, n) of a per-message value over the decided messages."""
        if metric != "placement_value":
            raise KeyError(f"no per-message value {metric!r}")
        n = self.messages
        if not n:
            return 0.0, 0.0, 0
        if self.placed is None:  # every delivered message's placement is known
            inboxed, foldered = self.inboxed, max(self.delivered - self.inboxed, 0)
            mean = (inboxed - SPAM_FOLDER_COST * foldered) / n
            second = (inboxed + SPAM_FOLDER_COST**2 * foldered) / n
            return mean, max(second - mean * mean, 0.0), n
        return panel_value_moments(self.delivered, self.placed, self.inboxed, n)


def panel_value_moments(delivered: int, placed: int, inboxed: int, n: int) -> tuple[float, float, int]:
    """Placement value per decided message when placement is seen only for a panel of the delivered
    mail: the panel's inbox share stands for all delivered mail. The variance returned is n times
    the estimate's variance (the panel's sampling error and the delivery rate's), so the caller's
    var / n is the estimate's: a panel of a few percent makes the guardrail slower to convince."""
    if placed <= 0:
        return 0.0, 0.0, n
    share, rate = inboxed / placed, delivered / n
    value = share - SPAM_FOLDER_COST * (1.0 - share)  # per delivered message
    var_value = (1.0 + SPAM_FOLDER_COST) ** 2 * share * (1.0 - share) / placed
    var_rate = rate * (1.0 - rate) / n
    return rate * value, n * (rate**2 * var_value + value**2 * var_rate), n


class Status(StrEnum):
    RUNNING = "running"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


class Action(StrEnum):
    HOLD = "hold"
    ADVANCE = "advance"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


@dataclass
class Evidence:
    metric: str
    control: float
    candidate: float
    change: float  # relative, signed (candidate vs control)
    z: float | None
    p: float | None
    degraded: bool
    note: str = ""  # why a degradation was not judged, where it was not
    # p corrected for the other guardrails tested in the same verdict (Holm): what `degraded` is judged on
    p_family: float | None = None


@dataclass
class Verdict:
    action: Action
    reason: str
    stage: str
    evidence: list[Evidence]
    control_n: int
    candidate_n: int


@dataclass
class Experiment:
    experiment_id: str
    model_id: str
    control_version: str
    candidate_version: str
    plan: list[Stage]
    stage_index: int = 0
    stage_started: str = ""
    status: Status = Status.RUNNING
    history: list[dict] = field(default_factory=list)
    min_sample: int = MIN_SAMPLE
    significance: float = SIGNIFICANCE

    @property
    def stage(self) -> Stage:
        return self.plan[self.stage_index]

    def candidate_share(self) -> float:
        return self.stage.traffic if self.status == Status.RUNNING else (1.0 if self.status == Status.PROMOTED else 0.0)


def judge(exp: Experiment, control: ArmStats, candidate: ArmStats, now: datetime) -> Verdict:
    """What the controller should do now, with the evidence for it."""
    stage = exp.stage
    rails = SHADOW_GUARDRAILS if stage.mirror else GUARDRAILS
    evidence = _family_wise([_compare(g, control, candidate, 1.0) for g in rails], exp.significance)
    args = dict(stage=stage.name, evidence=evidence, control_n=control.messages, candidate_n=candidate.messages)
    if candidate.requests >= ERROR_SPIKE_MIN_REQUESTS:
        c, t = control.rate("error_rate"), candidate.rate("error_rate")
        if t >= max(2 * c, c + ERROR_SPIKE_MARGIN):
            return Verdict(Action.ROLLBACK, f"error spike: candidate {t:.2%} vs control {c:.2%}", **args)
    enough = stage.mirror or (control.messages >= exp.min_sample and candidate.messages >= exp.min_sample)
    degraded = [e for e in evidence if e.degraded]
    if degraded and enough:
        worst = ", ".join(_described(e) for e in degraded)
        return Verdict(Action.ROLLBACK, f"{stage.name}: degraded beyond the threshold: {worst}", **args)
    elapsed = (now - datetime.fromisoformat(exp.stage_started)).total_seconds() / 86_400 if exp.stage_started else 0.0
    if elapsed < stage.min_days:
        return Verdict(Action.HOLD, f"{stage.name}: {elapsed:.2f} of {stage.min_days:.2f} days", **args)
    if not enough:
        return Verdict(Action.HOLD, f"{stage.name}: {min(control.messages, candidate.messages):,} of {exp.min_sample:,} "
                                    "messages per arm", **args)
    nxt = exp.stage_index + 1
    if nxt >= len(exp.plan) - 1:
        return Verdict(Action.PROMOTE, f"{stage.name} passed every guardrail: promote to 100%", **args)
    return Verdict(Action.ADVANCE, f"{stage.name} passed every guardrail: advance to {exp.plan[nxt].name}", **args)


def _compare(g: Guardrail, control: ArmStats, candidate: ArmStats, alpha: float) -> Evidence:
    a, b = control.rate(g.metric), candidate.rate(g.metric)
    if a != a or b != b:  # NaN: not measured in this stage
        return Evidence(g.metric, a, b, 0.0, None, None, False)
    change = (b - a) / abs(a) if a else (0.0 if b == a else float("inf") * (1 if b > a else -1))
    worse = -change if g.higher_is_better else change
    if g.per_message:
        (_, var_a, n_a), (_, var_b, n_b) = control.value_moments(g.metric), candidate.value_moments(g.metric)
        z, p = mean_difference_z(a, var_a, n_a, b, var_b, n_b)
        if min(n_a, n_b) < MIN_MESSAGES_FOR_MEANS:
            return Evidence(g.metric, a, b, change, z, p, False, note=f"fewer than {MIN_MESSAGES_FOR_MEANS} messages per arm")
        return Evidence(g.metric, a, b, change, z, p, worse > g.max_degradation and p < alpha)
    if g.proportion:
        num = COUNTS[g.metric][0]
        n_a, n_b = control.total(g.metric), candidate.total(g.metric)
        z, p = two_proportion_z(control.count(num), n_a, candidate.count(num), n_b)
        pooled = (control.count(num) + candidate.count(num)) / max(n_a + n_b, 1)
        expected = min(pooled * n_a, pooled * n_b, (1 - pooled) * n_a, (1 - pooled) * n_b)
        if expected < MIN_EXPECTED_EVENTS:
            return Evidence(g.metric, a, b, change, z, p, False,
                            note=f"too few events to test ({expected:.1f} expected in the smaller arm)")
        return Evidence(g.metric, a, b, change, z, p, worse > g.max_degradation and p < alpha)
    if min(control.requests, candidate.requests) < g.min_requests:
        return Evidence(g.metric, a, b, change, None, None, False, note=f"fewer than {g.min_requests} requests per arm")
    beyond = worse > g.max_degradation and abs(b - a) >= g.min_absolute
    if g.quantile is None or not control.latencies_ms or not candidate.latencies_ms:
        return Evidence(g.metric, a, b, change, None, None, beyond)
    p = (slower_by_rank(control.latencies_ms, candidate.latencies_ms) if g.quantile == 0.5
         else slower_in_the_tail(control.latencies_ms, candidate.latencies_ms, g.quantile))
    return Evidence(g.metric, a, b, change, None, p, beyond and p < alpha)


def _described(e: Evidence) -> str:
    stats = ([f"z={e.z:.2f}"] if e.z is not None else []) + ([f"p={e.p:.3g}"] if e.p is not None else []) \
        + ([f"Holm p={e.p_family:.3g}"] if e.p_family is not None else [])
    return f"{e.metric} {e.change:+.1%}" + (f" ({', '.join(stats)})" if stats else "")


def _family_wise(evidence: list[Evidence], alpha: float) -> list[Evidence]:
    """Judge the tested guardrails as one family (Holm's step-down correction): six guardrails
    each tested at 5% would roll back a candidate no worse than its control about one stage in
    four by chance alone. Measured in the rollout scenario: a better candidate's canary once
    showed its complaints at p = 0.018 (3 against 1), which a few more messages would have made a
    rollback. A guardrail with no test (a value, a note saying why not) keeps its own verdict.
    `evidence` was compared at alpha 1: `degraded` says only that it is beyond its threshold."""
    tested = [e for e in evidence if e.p is not None and not e.note]
    for e, adjusted in zip(tested, holm([e.p for e in tested]), strict=True):
        e.p_family = adjusted
        e.degraded = e.degraded and e.p_family < alpha
    return evidence


def apply(exp: Experiment, verdict: Verdict, now: datetime) -> Experiment:
    """Move the experiment on according to the verdict and record it in its history."""
    exp.history.append({"at": now.isoformat(), "action": verdict.action.value, "reason": verdict.reason,
                        "stage": verdict.stage, "control_n": verdict.control_n, "candidate_n": verdict.candidate_n,
                        "evidence": [asdict(e) for e in verdict.evidence]})
    if verdict.action == Action.ADVANCE:
        exp.stage_index += 1
        exp.stage_started = now.isoformat()
    elif verdict.action == Action.PROMOTE:
        exp.stage_index = len(exp.plan) - 1
        exp.status = Status.PROMOTED
    elif verdict.action == Action.ROLLBACK:
        exp.status = Status.ROLLED_BACK
    return exp


def step(store: RolloutStore, exp: Experiment, control: ArmStats, candidate: ArmStats, now: datetime,
         on_decision: Callable[[Experiment, Verdict], None] | None = None) -> Verdict:
    """One judgement of a running experiment on its arms' stage so far: applied, announced through
    `on_decision` when it is more than a hold, and saved. Whoever tallied the arms (the simulated
    world, or real traffic's prediction log and outcomes) starts a new tally after a decision."""
    verdict = judge(exp, control, candidate, now)
    if verdict.action != Action.HOLD:
        apply(exp, verdict, now)
        if on_decision is not None:
            on_decision(exp, verdict)
    store.save(exp)
    return verdict


def summary(exp: Experiment, verdict: Verdict) -> dict[str, object]:
    """What a scheduler records of one judgement: the experiment, the verdict and its evidence."""
    return {"experiment_id": exp.experiment_id, "stage": verdict.stage, "action": verdict.action.value,
            "reason": verdict.reason, "status": exp.status.value,
            "evidence": [{k: e.__dict__[k] for k in ("metric", "control", "candidate", "change", "z", "p", "p_family",
                                                     "degraded")} for e in verdict.evidence]}


def start(experiment_id: str, model_id: str, control_version: str, candidate_version: str, now: datetime,
          plan: tuple[Stage, ...] | None = None, min_sample: int = MIN_SAMPLE) -> Experiment:
    return Experiment(experiment_id, model_id, control_version, candidate_version, list(plan or default_plan()),
                      stage_started=now.isoformat(), min_sample=min_sample)


# ---- persistence -----------------------------------------------------------------------------
class RolloutStore(JsonStore[Experiment]):
    """One JSON file per rollout under `root`, written atomically."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root, "rollout", key=lambda exp: exp.experiment_id, encode=_encode, decode=_decode)


def _encode(exp: Experiment) -> dict:
    return {**asdict(exp), "status": exp.status.value}


def _decode(data: dict) -> Experiment:
    return Experiment(**{**data, "plan": [Stage(**s) for s in data["plan"]], "status": Status(data["status"])})


def utcnow() -> datetime:
    return datetime.now(UTC)

