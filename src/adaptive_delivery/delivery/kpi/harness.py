"""One KPI world: its history simulated and written to a lake, its features built by Spark, the
learned parts trained on that history by their own pipelines, then its future run once per sender
from the same moment (a copy of the same world each time, so every sender meets the same people,
campaigns, provider change and luck), each sender deciding every morning from its own records.

The training pipelines are passed in (`train`, as `jobs.worlds` takes them), so this module needs
neither KFP nor the command line.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from adaptive_delivery.delivery.jobs import worlds
from adaptive_delivery.delivery.kpi import senders as sd
from adaptive_delivery.delivery.kpi.measure import Accuracy, Tally
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import (
    US_PER_DAY,
    World,
    _epoch_us,
    write_day,
    write_dimensions,
)

PACKAGE = worlds.PACKAGE
TRAINED = ("MDL-010", "MDL-005", "MDL-006", "MDL-002", "MDL-001")  # the learned parts trained on each world's history
WORLD_FILE = "kpi_world.json"
LEDGER_ID = "KPI"  # the sealed ledger's name for the whole system's headline


@dataclass(frozen=True)
class KpiSize:
    """How big a KPI world is: its list, the history the models learn from, the days compared, and
    the provider that changes halfway through them (none: no change)."""

    subscribers: int = 10_000
    history_days: int = 35  # the 30-day features have settled: a gate judges drift that is the world's, not the window's
    days: int = 28
    change_provider: str | None = "gmail"
    strictness_scale: float = 1.5  # its spam filter grows stricter, as in the drift scenario
    inbox_shift: float = -0.5

    def config(self, seed: int) -> WorldConfig:
        change = self.history_days + self.days // 2 if self.change_provider else None
        return WorldConfig(subscribers=self.subscribers, days=self.history_days + self.days, seed=seed,
                           change_day=change, change_provider=self.change_provider,
                           strictness_scale=self.strictness_scale if change is not None else 1.0,
                           inbox_shift=self.inbox_shift if change is not None else 0.0)


Progress = Callable[[str], None]


def build_history(root: Path, config: WorldConfig, days: int) -> World:
    """The world's first `days` days into ROOT/lake and ROOT/truth, and the world as it stands
    after them. Events dated after them (opens and late bounces of the last days' mail) go to
    ROOT/late instead: the models are trained without them, and each sender's records gain them
    as their days come."""
    from adaptive_delivery.delivery.events.lake import EventsLake

    world = World(config)
    lake, late = EventsLake(root / "lake"), EventsLake(root / "late")
    end_us = _epoch_us(config.start + timedelta(days=days))
    for _ in range(days):
        result = world.step_day()
        write_day(result, lake, root / "truth", end_us)
        _write_late(result, late, end_us)
    write_dimensions(world, lake, root / "truth")
    return world


def _write_late(result, late, end_us: int) -> None:
    """A day's events dated at or after `end_us`, partitioned as `write_day` partitions."""
    import pyarrow as pa

    for kind, table in result.events.items():
        ts = table.column("send_ts" if kind == "sends" else "event_ts").cast(pa.int64()).to_numpy()
        days = (ts // US_PER_DAY).astype("datetime64[D]")
        for day in np.unique(days[ts >= end_us]):
            late.write_partition(kind, day.astype(object), table.filter(pa.array((ts >= end_us) & (days == day))),
                                 part=f"sim-{result.day.isoformat()}")


def train_parts(root: Path, train: worlds.Train, profile: str,
                scorer: sd.ContentGate | None) -> tuple[sd.Models, dict[str, dict[str, object]]]:
    """Each learned part's model, trained by its own pipeline (`train`: the runner's) on the history,
    where its gate promoted it (the system serves no model its gate stopped: that part runs the
    rule), and each gate's verdict."""
    from adaptive_delivery.platform.training.registry import latest_training_run

    if not (root / "features").exists():
        worlds.build_world_features(root)
    tracking = Tracking(default_tracking_uri(root / "mlflow"), "kpi-history")
    bundles, gates = {}, {}
    for model_id in TRAINED:
        spec = get(model_id)
        if not list((root / "kfp").glob(f"train-{model_id.lower()}-*")):
            train(spec, lake=root / "lake", features=root / "features", feast_home=root / "feast",
                  tracking_uri=tracking.uri, pipeline_root=root / "kfp", truth_dir=root / "truth", profile=profile,
                  experiment=tracking.experiment)
        run = latest_training_run(tracking.uri, spec)
        gates[model_id] = {"promoted": bool(run.get("promoted")), "verdict": str(run.get("verdict", ""))[:300]}
        bundles[model_id] = worlds.trained_bundle(root, spec) if gates[model_id]["promoted"] else None
    models = sd.Models(hygiene=bundles["MDL-010"], engagement=bundles["MDL-005"], risk=bundles["MDL-006"],
                       timing=bundles["MDL-002"], content=scorer, delivery=bundles["MDL-001"])
    return models, gates


def send_filter(design: sd.Design, models: sd.Models, rules: sd.Rules, risk: sd.Risk, accuracy: Accuracy,
                world: World, tables: dict, features) -> Callable:
    """The twin's `send_filter` hook for one morning: which planned messages go out, part by part
    (hygiene, engagement, risk, then MDL-001 on what is left)."""

    def keep_of(day: int, sends) -> np.ndarray:
        ids, marketing = sd.recipients(sends)
        held = marketing & sd.hygiene_held(design.hygiene, features, ids, rules, models.hygiene, world, day)
        held |= sd.engagement_held(design.engagement, features, tables, sends, marketing & ~held, rules,
                                   models.engagement, world)
        keep = ~held
        keep[~held] = risk.keep(features, day, ids[~held], marketing[~held])
        if design.delivery == sd.MODEL and keep.any():
            where = np.flatnonzero(keep)
            stop, likely = sd.delivery_held(tables, sends.take(where), models.delivery)
            keep[where] = ~(stop & marketing[where])
            accuracy.record(sends.column("message_id").to_numpy(zero_copy_only=False)[where], likely)
        return keep

    return keep_of


def human_openers(engagement) -> np.ndarray:
    """The subscribers a day's engagement events show opening by hand (machine opens are not)."""
    if engagement is None or not engagement.num_rows:
        return np.array([], dtype=object)
    e = engagement.select(["subscriber_id", "event_type", "machine_open"]).to_pandas()
    return e.loc[(e["event_type"] == "open") & ~e["machine_open"].astype(bool), "subscriber_id"].unique()


def run_sender(design: sd.Design, world: World, first_day: int, days: int, models: sd.Models, rules: sd.Rules,
               records: sd.Records) -> dict[str, object]:
    """`days` days of the world under one sender, from day `first_day`: what it sent and what came of
    it. A part whose model is not served runs as business as usual runs it (`senders.served`)."""
    planned, design = design, sd.served(design, models)
    risk = sd.Risk(design.risk, models.risk, world)
    gate = models.content if design.content == sd.MODEL else None
    tally = Tally()
    accuracy = Accuracy(classes=tuple(models.delivery.classes) if models.delivery is not None else ())
    started = time.perf_counter()
    for day in range(first_day, first_day + days):
        tables = records.morning(datetime.combine(world.config.start + timedelta(days=day), datetime.min.time()))
        features = records.subscribers(tables)
        result = world.step_day(
            send_filter=send_filter(design, models, rules, risk, accuracy, world, tables, features), content_gate=gate,
            send_hours=lambda d, sends, features=features: sd.send_hours(design.timing, features, sends, models.timing,
                                                                         world))
        if result.events:
            tally.add_day(result.truth["messages"], result.events.get("engagement"))
            accuracy.judge(result.truth["messages"])
            risk.opened(human_openers(result.events.get("engagement")))
        records.write(result, world)
    return {"sender": design.name, "design": asdict(planned), "served": asdict(design),
            "seconds": round(time.perf_counter() - started, 1),
            **tally.summary(), **accuracy.summary()}


def run_world(root: Path, seed: int, size: KpiSize, designs: list[sd.Design], train: worlds.Train, profile: str,
              rules: sd.Rules, scorer: sd.ContentGate | None, progress: Progress = print) -> dict[str, object]:
    """One world: history, training, then every sender's future; ROOT/kpi_world.json holds the
    result (a world already there is read back, so an interrupted run goes on where it stopped)."""
    done = root / WORLD_FILE
    if done.exists():
        return json.loads(done.read_text())
    config = size.config(seed)
    t = time.perf_counter()
    world = build_history(root / "history", config, size.history_days)
    models, gates = train_parts(root / "history", train, profile, scorer)
    stopped = [m for m, g in gates.items() if not g["promoted"]]
    progress(f"world {seed}: history of {size.history_days} days and its models ready "
             f"({time.perf_counter() - t:.0f} s; stopped by their gates: {', '.join(stopped) or 'none'})")
    out: dict[str, object] = {"seed": seed, "gates": gates, "senders": {}}
    address_checks: dict[object, str] = {}  # an address's verdict is the same for every sender
    for design in designs:
        mine = root / design.name
        shutil.rmtree(mine, ignore_errors=True)
        shutil.copytree(root / "history" / "lake", mine / "lake")
        if (root / "history" / "late").exists():
            shutil.copytree(root / "history" / "late", mine / "lake", dirs_exist_ok=True)
        row = run_sender(design, copy.deepcopy(world), size.history_days, size.days, models, rules,
                         sd.Records(mine / "lake", mine / "truth", address_checks))
        out["senders"][design.name] = row
        progress(f"world {seed} {design.name}: sent {row['sent']:.0f}, inbox {row['inbox_placement']:.4f}, "
                 f"bounces {row['bounce_rate']:.4f}, blocks {row['block_rate']:.4f}, "
                 f"complaints {row['complaint_rate']:.5f}, opens {row['open_rate']:.4f} ({row['seconds']:.0f} s)")
        shutil.rmtree(mine, ignore_errors=True)
    out = _json_safe(out)
    done.write_text(json.dumps(out, indent=2))
    return out


def _json_safe(value):
    """`value` with every NaN as None (JSON has no NaN: an orchestrator's results store refuses it)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    return value


def content_check(scorer_file: Path | None, size: KpiSize) -> sd.ContentGate | None:
    """MDL-007's pre-send gate from an exported scorer file, holding at the decision service's bar."""
    if scorer_file is None:
        return None
    from adaptive_delivery.delivery.decisions.actions import ActionThresholds
    from adaptive_delivery.delivery.models.mdl007_content.model import load_scorer
    from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
    from adaptive_delivery.delivery.models.mdl007_content.twin_gate import content_gate

    return content_gate(ContentAssessor(load_scorer(scorer_file)), size.config(0),
                        hold_at=ActionThresholds().hold_content_spam_risk)


def kpi_version(size: KpiSize, profile: str, rules: sd.Rules, scorer_file: Path | None) -> str:
    """What a KPI headline judges: the harness, every part's model folder, the shared recipe, the
    MDL-007 scorer's bytes, the world size, the profile and the rules."""
    from adaptive_delivery.platform.protocol import artefact_version

    folders = [PACKAGE / "delivery" / "kpi", *(worlds.model_folder(get(m)) for m in (*TRAINED, "MDL-007")),
               *(PACKAGE / p for p in worlds.SHARED_RECIPE)]
    code = artefact_version([*folders, *([scorer_file] if scorer_file else [])])
    material = f"{code}|{profile}|{asdict(size)}|{asdict(rules)}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def claim_sealed(size: KpiSize, profile: str, rules: sd.Rules, scorer_file: Path | None, worlds: int,
                 command: str) -> tuple[str, list[int]]:
    """This version and the sealed worlds it is judged on, claimed in the ledger before the run: once
    per version, on sealed worlds no earlier version was judged on while any are left."""
    from adaptive_delivery.platform import protocol

    version = kpi_version(size, profile, rules, scorer_file)
    ledger = protocol.SealedLedger(protocol.ledger_path())
    seeds = ledger.unseen_seeds(LEDGER_ID, worlds)
    ledger.claim(LEDGER_ID, version, tuple(seeds), command=command)
    return version, list(seeds)


def run(out: Path, seeds: list[int], size: KpiSize, *, train: worlds.Train, profile: str, rules: sd.Rules,
        scorer_file: Path | None, ablations: bool, seeds_kind: str, progress: Progress = print) -> dict[str, object]:
    """Every world in turn, then the report (OUT/kpi.json and OUT/kpi.html); returns the summary."""
    from adaptive_delivery.delivery.kpi import report

    gate = content_check(scorer_file, size)
    designs = sd.designs(ablations, with_content=gate is not None)
    results = [run_world(out / f"world-{seed}", seed, size, designs, train, profile, rules, gate, progress)
               for seed in seeds]
    summary = report.summarise(results, size=asdict(size), rules=asdict(rules), seeds_kind=seeds_kind)
    summary["content_scorer"] = str(scorer_file.name) if scorer_file else None
    summary["profile"] = profile
    report.write(summary, out)
    return summary
