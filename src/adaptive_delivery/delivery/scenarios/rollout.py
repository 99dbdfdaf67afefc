"""A rollout inside the simulated world: the decision service sits in the sending loop, each
subscriber is assigned to the champion or the candidate by the experiment's sticky hash, what
each arm lets out meets the world's real laws, and the controller judges the arms on what
happened — shadow, canary, ramp, promote or roll back — exactly as it would in production.

Decisions for a day are taken when the day's campaigns are queued (midnight, simulated time),
from features as the online store holds them then: every feature table is described at that
instant by the same reference feature builder that defines the features, so the rows a model sees
here are the rows the store would serve. Both arms see the same rows; only the model differs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from adaptive_delivery.delivery.decisions.actions import ActionThresholds, decide
from adaptive_delivery.delivery.events.lake import EventsLake, write_parquet_atomic
from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.delivery.features import reference
from adaptive_delivery.delivery.models.mdl001_deliverability.model import (
    PARTIAL_LABELS,
    final_outcomes,
)
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.rollout import controller as rc
from adaptive_delivery.platform.rollout.assignment import in_treatment
from adaptive_delivery.platform.training.evaluation import classification_report
from adaptive_delivery.twin.simulator import World, write_day, write_dimensions

# The simulated sending system asks for 100 messages at a time, so that even a 5% canary serves
# enough requests for its latency to be compared (the controller wants 30 per arm).
DECISION_BATCH = 100
SENT_ACTIONS = ("send", "send_monitored")
# Feature tables as the reference builder names them -> (Feast view name, join keys)
VIEWS = {
    "subscriber": ("subscriber_features", ["subscriber_id"]),
    "sender_domain": ("sender_domain_features", ["sending_domain"]),
    "sender_ip": ("sender_ip_features", ["sending_ip"]),
    "sender_provider": ("sender_provider_features", ["sending_ip", "provider"]),
    "provider": ("provider_features", ["provider"]),
    "content": ("content_features", ["content_id"]),
    "content_provider": ("content_provider_features", ["content_id", "provider"]),
}


# ---- features at decision time -----------------------------------------------------------------
def decision_rows(tables: dict[str, pd.DataFrame], sends: pd.DataFrame) -> pd.DataFrame:
    """Feature rows (Feast full names) for planned sends, joined on their entity keys. An entity
    the tables do not know (a subscriber who signed up today) gets missing values, which the
    model treats as it treats any missing feature."""
    rows = sends[["message_id", "subscriber_id", "sending_domain", "sending_ip", "provider", "content_id"]].copy()
    for name, (view, keys) in VIEWS.items():
        table = tables[name].drop(columns=["event_timestamp"], errors="ignore")
        table = table.drop_duplicates(keys, keep="last")
        values = table.drop(columns=keys).add_prefix(f"{view}__")
        rows = rows.merge(pd.concat([table[keys], values], axis=1), on=keys, how="left")
    temporal = fd.temporal_features(sends["send_ts"]).add_prefix("temporal_features__")
    rows = pd.concat([rows.reset_index(drop=True), temporal], axis=1)
    rows["send_rate_per_min"] = sends["send_rate_per_min"].to_numpy(dtype=float)
    rows["is_transactional"] = (sends["campaign_type"] == "transactional").to_numpy(dtype=float)
    return rows


def snapshot_tables(lake_root: Path, at: datetime) -> dict[str, pd.DataFrame]:
    """Every feature table described at one instant, from everything the lake holds before it."""
    return reference.build_all(lake_root, fd.Instant(at))


# ---- models in the arms ------------------------------------------------------------------------
@dataclass
class ArmModel:
    version: str
    model: TrainedModel
    thresholds: ActionThresholds = field(default_factory=ActionThresholds)


class ClassReweighted:
    """A model whose probabilities are re-weighted per class and renormalised: what training with
    class weights and shipping the weighted probabilities does. Rankings within a class barely
    move (offline AUC passes), but thresholds on probabilities fire on the wrong mail. Used to
    build the deliberately worse candidate of the rollout scenario."""

    def __init__(self, base, weights: dict[int, float]) -> None:
        self.base = base
        self.weights = weights

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.asarray(self.base.predict_proba(X), dtype=float).copy()
        for k, w in self.weights.items():
            p[:, k] *= w
        return p / p.sum(axis=1, keepdims=True)


def reweighted(bundle: TrainedModel, weights: dict[str, float]) -> TrainedModel:
    """A copy of `bundle` whose probabilities are re-weighted by class name."""
    index = {c: i for i, c in enumerate(bundle.classes)}
    return TrainedModel(bundle.model_id, bundle.classes, bundle.features, bundle.categorical, bundle.categories,
                        ClassReweighted(bundle.model, {index[c]: w for c, w in weights.items()}),
                        params={**bundle.params, "class_reweighting": weights}, trained_rows=bundle.trained_rows,
                        trained_until=bundle.trained_until, segment=bundle.segment,
                        offsets=dict(bundle.offsets))


# ---- one day of decisions ------------------------------------------------------------------------
@dataclass
class ArmDay:
    """What one arm did on one day, before outcomes are known."""

    message_ids: list[str] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


def _decide_batch(arm: ArmModel, part: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None, float]:
    """(actions, probabilities, milliseconds) of one batch; None, None when the model failed."""
    t0 = time.perf_counter()
    try:
        p = arm.model.predict_proba(part)
        d = decide(p, arm.thresholds)
    except Exception:  # noqa: BLE001 - a failing model must count as an error, not stop the world
        return None, None, (time.perf_counter() - t0) * 1000
    return d.action, p, (time.perf_counter() - t0) * 1000


def decide_arms(requests: dict[str, tuple[ArmModel, pd.DataFrame]]) -> dict[str, tuple[np.ndarray, np.ndarray, list[float], int]]:
    """Actions and probabilities per arm for its rows in batches of DECISION_BATCH, timing each
    batch; a batch that fails is counted as an error and its messages are held back (not sent).
    The arms' batches are interleaved in proportion to their sizes (an arm with a quarter of the
    rows runs one batch in four, spread over the whole pass, taking turns on ties), so a busy
    moment of the machine slows both arms alike and the latency guardrail compares models, not
    moments: arms that simply alternated left the larger arm's last batches to run alone, after
    the smaller one's were done."""
    actions = {name: np.full(len(rows), "error", dtype=object) for name, (_, rows) in requests.items()}
    proba = {name: np.full((len(rows), len(arm.model.classes)), np.nan) for name, (arm, rows) in requests.items()}
    latencies: dict[str, list[float]] = {name: [] for name in requests}
    errors = dict.fromkeys(requests, 0)
    schedule = []
    for i, (name, (_, rows)) in enumerate(requests.items()):
        batches = -(-len(rows) // DECISION_BATCH)
        schedule += [((k + 0.5) / batches, (k + i) % len(requests), name, k * DECISION_BATCH) for k in range(batches)]
    for _, _, name, start in sorted(schedule):
        arm, rows = requests[name]
        a, p, ms = _decide_batch(arm, rows.iloc[start:start + DECISION_BATCH])
        latencies[name].append(ms)
        if a is None:
            errors[name] += 1
            continue
        actions[name][start:start + len(a)] = a
        proba[name][start:start + len(a)] = p
    return {name: (actions[name], proba[name], latencies[name], errors[name]) for name in requests}


# ---- the whole loop ----------------------------------------------------------------------------
CLASS_NAMES = ("inbox", "spam", "soft_bounce", "hard_bounce", "block")
ARMS = ("control", "candidate")


@dataclass
class StageTally:
    """Running counts of both arms over the current stage."""

    control: rc.ArmStats = field(default_factory=lambda: rc.ArmStats(sent=0))
    candidate: rc.ArmStats = field(default_factory=lambda: rc.ArmStats(sent=0))
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"control": [], "candidate": []})
    shadow: dict[str, list] = field(default_factory=lambda: {"y": [], "control": [], "candidate": []})

    def add(self, arm: str, day: ArmDay, outcomes: dict[str, int]) -> None:
        stats: rc.ArmStats = getattr(self, arm)
        stats.messages += len(day.message_ids)
        stats.sent = (stats.sent or 0) + len(day.sent_ids)
        stats.requests += len(day.latencies_ms)
        stats.errors += day.errors
        stats.placed = stats.placed or 0
        for k, v in outcomes.items():
            setattr(stats, k, getattr(stats, k) + v)
        self.latencies[arm] += day.latencies_ms

    def snapshot(self) -> tuple[rc.ArmStats, rc.ArmStats]:
        for arm in ARMS:
            stats = getattr(self, arm)
            lat = self.latencies[arm]
            stats.latencies_ms = lat
            stats.latency_p50_ms = float(np.percentile(lat, 50)) if lat else 0.0
            stats.latency_p99_ms = float(np.percentile(lat, 99)) if lat else 0.0
            if self.shadow["y"]:
                y = np.concatenate(self.shadow["y"])
                p = np.concatenate(self.shadow[arm])
                ok = ~np.isnan(p).any(axis=1)
                seen = np.unique(y[ok][y[ok] < len(CLASS_NAMES)])
                stats.shadow_score = (classification_report(y[ok], p[ok], CLASS_NAMES, PARTIAL_LABELS)["macro_roc_auc"]
                                      if ok.sum() and len(seen) == len(CLASS_NAMES) else float("nan"))
        return self.control, self.candidate


@dataclass
class DayDecisions:
    """The world's send filter for one day of an experiment: assigns each planned message to an
    arm, lets that arm's model decide (in shadow the candidate only predicts), and remembers what
    each arm did and predicted."""

    lake_root: Path
    truth_dir: Path
    world: World
    at: datetime
    experiment: rc.Experiment
    arms: dict[str, ArmModel]
    done: dict[str, ArmDay] = field(default_factory=lambda: {a: ArmDay() for a in ARMS})
    probs: dict[str, np.ndarray] = field(default_factory=dict)
    message_ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    logged: list[pd.DataFrame] = field(default_factory=list)

    def __call__(self, d: int, sends_table: pa.Table) -> np.ndarray:
        write_dimensions(self.world, EventsLake(self.lake_root), self.truth_dir)  # today's campaigns are known
        sends = sends_table.to_pandas()
        rows = decision_rows(snapshot_tables(self.lake_root, self.at), sends)
        share, mirror = self.experiment.candidate_share(), self.experiment.stage.mirror
        treated = (in_treatment(sends["subscriber_id"], self.experiment.experiment_id, share) if share > 0
                   else np.zeros(len(sends), bool))
        self.message_ids = sends["message_id"].to_numpy()
        keep = np.zeros(len(sends), bool)
        plan = {}
        for arm_name, mask in (("control", ~treated), ("candidate", treated)):
            shadowing = mirror and arm_name == "candidate"
            plan[arm_name] = (shadowing, np.flatnonzero(np.ones(len(sends), bool) if shadowing else mask))
        decided = self._decide({arm_name: rows.iloc[idx] for arm_name, (_, idx) in plan.items()})
        for arm_name, (shadowing, idx) in plan.items():
            actions, proba = decided[arm_name]
            sent = np.isin(actions, SENT_ACTIONS) & (not shadowing)
            keep[idx[sent]] = True
            if not shadowing:
                self.done[arm_name].message_ids = self.message_ids[idx].tolist()
                self.done[arm_name].sent_ids = self.message_ids[idx[sent]].tolist()
            full = np.full((len(sends), len(CLASS_NAMES)), np.nan)
            full[idx] = proba
            self.probs[arm_name] = full
            self.logged.append(pd.DataFrame({
                "message_id": self.message_ids[idx], "arm": arm_name, "model_version": self.arms[arm_name].version,
                "action": actions, **{f"p_{c}": proba[:, j] for j, c in enumerate(CLASS_NAMES)}, "sent": sent}))
        return keep

    def _decide(self, rows: dict[str, pd.DataFrame]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Both arms' decisions, their batches interleaved (decide_arms)."""
        decided = decide_arms({arm_name: (self.arms[arm_name], part) for arm_name, part in rows.items()})
        for arm_name, (_, _, latencies, errors) in decided.items():
            self.done[arm_name].latencies_ms += latencies
            self.done[arm_name].errors += errors
        return {arm_name: (a, p) for arm_name, (a, p, _, _) in decided.items()}


@dataclass
class DayLog:
    day: str
    stage: str
    candidate_share: float
    planned: int
    control: dict
    candidate: dict
    action: str
    reason: str


@dataclass
class RolloutRun:
    """Everything a simulated rollout did, day by day, and how it ended."""

    experiment: rc.Experiment
    days: list[DayLog]
    decisions: list[dict]  # every controller decision with its evidence

    def to_json(self) -> dict:
        exp = asdict(self.experiment)
        exp["status"] = self.experiment.status.value
        return {"experiment": exp, "days": [asdict(d) for d in self.days], "decisions": self.decisions}


def _final(events: dict[str, pa.Table]) -> pd.DataFrame:
    if "outcomes" not in events:
        return pd.DataFrame(columns=["message_id", "status", "placement", "label"])
    return final_outcomes(events["outcomes"].select(["message_id", "event_ts", "status", "bounce_class", "placement"])
                          .to_pandas())


def _arm_outcomes(final: pd.DataFrame, complaints: set[str], sent_ids: list[str]) -> dict[str, int]:
    mine = final[final["message_id"].isin(set(sent_ids))]
    accepted = mine["status"] == "accepted"
    return {"delivered": int(accepted.sum()), "inboxed": int((accepted & (mine["placement"] == "inbox")).sum()),
            "placed": int((accepted & mine["placement"].notna()).sum()),
            "bounced": int((mine["status"] == "bounced").sum()), "complained": len(complaints.intersection(sent_ids))}


def _shadow_labels(tally: StageTally, final: pd.DataFrame, today: DayDecisions) -> None:
    """Both arms' predictions on the messages whose outcome is known, for the shadow score."""
    labelled = final[final["label"] >= 0].set_index("message_id")["label"]
    pos = pd.Series(np.arange(len(today.message_ids)), index=today.message_ids)
    hit = labelled.index.intersection(pos.index)
    tally.shadow["y"].append(labelled.loc[hit].to_numpy(dtype=int))
    for arm in ARMS:
        tally.shadow[arm].append(today.probs[arm][pos.loc[hit].to_numpy()])


def tally_day(tally: StageTally, decided: DayDecisions, events: dict[str, pa.Table], today: date,
              prediction_log: Path | None = None) -> dict[str, dict]:
    """Add one day's per-arm outcomes to the stage's tally (and the shadow labels, and the
    prediction log); returns what each arm did that day."""
    if prediction_log is not None and decided.logged:
        write_parquet_atomic(pa.Table.from_pandas(pd.concat(decided.logged, ignore_index=True), preserve_index=False),
                             prediction_log / f"date={today.isoformat()}" / "part-0.parquet")
    final = _final(events)
    complaints = set(events["complaints"].column("message_id").to_pylist()) if "complaints" in events else set()
    per_arm = {}
    for arm in ARMS:
        got = _arm_outcomes(final, complaints, decided.done[arm].sent_ids)
        tally.add(arm, decided.done[arm], got)
        rec = decided.done[arm]
        per_arm[arm] = {"messages": len(rec.message_ids), "sent": len(rec.sent_ids), **got,
                        "requests": len(rec.latencies_ms), "errors": rec.errors}
    if decided.experiment.stage.mirror and decided.probs:
        _shadow_labels(tally, final, decided)
    return per_arm


def day_decisions(lake_root: Path, truth_dir: Path, world: World, exp: rc.Experiment, control: ArmModel,
                  candidate: ArmModel) -> DayDecisions:
    """The send filter of the world's next day: decisions taken at its midnight."""
    today = world.config.start + timedelta(days=world.day_index)
    return DayDecisions(lake_root, truth_dir, world, datetime.combine(today, datetime.min.time()), exp,
                        {"control": control, "candidate": candidate})


def run_rollout(world: World, lake_root: Path, truth_dir: Path, control: ArmModel, candidate: ArmModel,
                exp: rc.Experiment, store: rc.RolloutStore, max_days: int,
                on_decision: Callable[[rc.Experiment, rc.Verdict], None] | None = None,
                log: Callable[[str], None] = print, prediction_log: Path | None = None) -> RolloutRun:
    """Step the world day by day with both arms deciding, judge at the end of each day, until the
    experiment is promoted or rolled back or `max_days` pass. `on_decision` sees every verdict that
    changes the experiment (the registry moves aliases there)."""
    lake = EventsLake(lake_root)
    tally, days, decisions = StageTally(), [], []
    for _ in range(max_days):
        if exp.status != rc.Status.RUNNING:
            break
        today = world.config.start + timedelta(days=world.day_index)
        stage, share = exp.stage, exp.candidate_share()
        decided = day_decisions(lake_root, truth_dir, world, exp, control, candidate)
        result = world.step_day(decided)
        write_day(result, lake, truth_dir)
        write_dimensions(world, lake, truth_dir)
        per_arm = tally_day(tally, decided, result.events, today, prediction_log)
        now = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        verdict = rc.judge(exp, *tally.snapshot(), now)
        days.append(DayLog(today.isoformat(), stage.name, share, len(decided.message_ids), per_arm["control"],
                           per_arm["candidate"], verdict.action.value, verdict.reason))
        log(f"{today} {stage.name:>8} share {share:4.0%}: control {per_arm['control']['sent']:,}/"
            f"{per_arm['control']['messages']:,} sent, candidate {per_arm['candidate']['sent']:,}/"
            f"{per_arm['candidate']['messages']:,} -> {verdict.action.value}: {verdict.reason}")
        if verdict.action != rc.Action.HOLD:
            rc.apply(exp, verdict, now)
            decisions.append(exp.history[-1])
            if on_decision is not None:
                on_decision(exp, verdict)
            tally = StageTally()
        store.save(exp)
    return RolloutRun(exp, days, decisions)


def evidence_table(verdict_record: dict) -> list[dict]:
    """The evidence of one controller decision as rows (metric, control, candidate, change, z, p)."""
    return [{k: e[k] for k in ("metric", "control", "candidate", "change", "z", "p", "degraded")}
            for e in verdict_record["evidence"]]


def save_run(run: RolloutRun, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.to_json(), indent=2, default=str))
    return path


# ---- warm-up: the history models are trained on -----------------------------------------------
@dataclass
class LogEverything:
    """The warm-up's send filter: every planned message goes out (no model yet), and its
    decision-time feature row is kept for training."""

    lake_root: Path
    truth_dir: Path
    world: World
    at: datetime
    rows: pd.DataFrame | None = None

    def __call__(self, d: int, sends_table: pa.Table) -> np.ndarray:
        write_dimensions(self.world, EventsLake(self.lake_root), self.truth_dir)
        sends = sends_table.to_pandas()
        if d > 0:  # on the first day there is no history to describe anything
            self.rows = decision_rows(snapshot_tables(self.lake_root, self.at), sends)
            self.rows["event_timestamp"] = pd.to_datetime(sends["send_ts"], utc=True).to_numpy()
        return np.ones(len(sends), bool)


def warm_up(world: World, lake_root: Path, truth_dir: Path, days: int, log: Callable[[str], None] = print) -> pd.DataFrame:
    """Run `days` days with every planned message sent, logging each message's decision-time
    feature row; returns the rows of messages whose outcome is known, labelled."""
    lake = EventsLake(lake_root)
    frames = []
    for _ in range(days):
        today = world.config.start + timedelta(days=world.day_index)
        logger = LogEverything(lake_root, truth_dir, world, datetime.combine(today, datetime.min.time()))
        result = world.step_day(logger)
        write_day(result, lake, truth_dir)
        write_dimensions(world, lake, truth_dir)
        final = _final(result.events)
        if logger.rows is not None:
            frames.append(logger.rows.merge(final.loc[final["label"] >= 0, ["message_id", "label"]], on="message_id"))
        log(f"{today} warm-up: {result.events['sends'].num_rows if 'sends' in result.events else 0:,} sent")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
