"""The rollout scenario: one simulated world, warmed up with every message sent; a champion
trained on its first days; then two rollouts from the same moment of the same world (same
random draws): a better candidate (retrained on the most recent days), which must walk shadow → canary
→ ramp → full and be promoted, and a deliberately worse one: the same model as if trained on every
failure but one accepted message in a hundred (negative down-sampling, common for rare outcomes) and
shipped without correcting its probabilities. Its rankings are intact, so it passes shadow on AUC;
its inflated bounce and block probabilities make it skip good mail, which only live traffic shows:
it must be rolled back before it serves everyone. (A candidate trained with class-balanced weights
was the worse one before: the mail it held back was mostly mail the filter would have foldered, and
by the true placement value it was 0.01-0.05 behind the better one, which the panel cannot show.)
Models live in an MLflow registry; promotion moves `champion`, every decision tags the version.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from adaptive_delivery.delivery.scenarios import rollout as sim
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.rollout import controller as rc
from adaptive_delivery.platform.rollout.registry import record_decision
from adaptive_delivery.platform.spec import ModelSpec, get, profile
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import World

FAILURES = ("soft_bounce", "hard_bounce", "block")
NEGATIVE_KEEP = 0.01  # the worse candidate's training kept this share of the accepted messages


def downsampled_weights(classes: tuple[str, ...], keep: float = NEGATIVE_KEEP) -> dict[str, float]:
    """What training on every failure but only a `keep` share of accepted mail does to a model's
    probabilities when it is shipped without the correction p / (p + (1 - p) / w): each failure's
    odds against acceptance over-stated 1/keep-fold."""
    return {c: 1.0 / keep if c in FAILURES else 1.0 for c in classes}


@dataclass(frozen=True)
class ScenarioConfig:
    subscribers: int = 60_000
    warmup_days: int = 8
    champion_days: int = 3  # the champion only saw the world's first days
    champion_rows: int = 3_000
    candidate_days: int = 4  # the candidate is retrained on the most recent days
    max_days: int = 20
    seed: int = 21
    min_sample: int = rc.MIN_SAMPLE
    # spec §8 durations x 1/7: shadow one simulated day, canary and ramp steps judged daily
    time_scale: float = 1 / 7


def _fit(spec: ModelSpec, frame: pd.DataFrame, seed: int) -> TrainedModel:
    data = spec.to_dataset(frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True))
    model = spec.fit(data, {"seed": seed}, profile("quick"))
    return TrainedModel(spec.model_id, spec.classes, list(data.X.columns), list(data.categories), data.categories, model,
                        params={"seed": seed}, trained_rows=len(data), trained_until=str(frame["event_timestamp"].max()))


def _register(tracking: Tracking, spec: ModelSpec, bundle: TrainedModel, name: str, folder: Path,
              example: pd.DataFrame) -> str:
    """Log the bundle as a pyfunc model in its own run and register it; returns the version."""
    import mlflow

    from adaptive_delivery.platform.training.pyfunc import log_bundle
    from adaptive_delivery.platform.training.registry import register_challenger

    client = tracking.client()
    path = bundle.save(folder / f"{name}.joblib")
    with mlflow.start_run(experiment_id=tracking.experiment_id(), run_name=f"rollout scenario: {name}") as run:
        info = log_bundle(path, example)
        mlflow.log_params({"trained_rows": bundle.trained_rows, "trained_until": bundle.trained_until, "role": name,
                           **{k: str(v) for k, v in bundle.params.items()}})
    return register_challenger(client, spec, run.info.run_id, model_uri=info.model_uri)


def _fork(world: World, src: Path, dst: Path) -> World:
    """An identical copy of the world and its lake, so both rollouts start from the same moment."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return copy.deepcopy(world)


def run_scenario(cfg: ScenarioConfig, out: Path, log: Callable[[str], None] = print) -> dict:
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    spec = get("MDL-001")
    world = World(WorldConfig(subscribers=cfg.subscribers, days=cfg.warmup_days + cfg.max_days, seed=cfg.seed))
    base = out / "warmup"
    log(f"warming up a {cfg.subscribers:,}-subscriber world for {cfg.warmup_days} days (every message sent)")
    history = sim.warm_up(world, base / "lake", base / "truth", cfg.warmup_days, log=log)
    cutoff = pd.Timestamp(world.config.start + timedelta(days=cfg.champion_days), tz="UTC")
    early = history[history["event_timestamp"] < cutoff]
    early = early.sample(min(cfg.champion_rows, len(early)), random_state=cfg.seed)
    champion = _fit(spec, early, cfg.seed)
    recent = history[history["event_timestamp"] >= history["event_timestamp"].max().normalize()
                     - pd.Timedelta(days=cfg.candidate_days - 1)]
    better = _fit(spec, recent.sample(min(200_000, len(recent)), random_state=cfg.seed), cfg.seed)
    history.to_parquet(base / "decision_rows.parquet", index=False)
    worse = sim.reweighted(better, downsampled_weights(spec.classes))

    tracking = Tracking(default_tracking_uri(out / "mlflow"), experiment="rollout-simulation")
    (out / "mlflow").mkdir(parents=True, exist_ok=True)
    client = tracking.client()
    versions = {name: _register(tracking, spec, b, name, out / "bundles", history)
                for name, b in (("champion", champion), ("better", better), ("worse", worse))}
    from adaptive_delivery.platform.training.registry import CHAMPION

    summary: dict = {"config": asdict(cfg), "versions": versions, "training_rows": {
        "champion": champion.trained_rows, "better": better.trained_rows}, "runs": {}}
    for name in ("better", "worse"):
        client.set_registered_model_alias(spec.registered_name, CHAMPION, versions["champion"])
        client.set_registered_model_alias(spec.registered_name, "challenger", versions[name])
        root = out / name
        forked = _fork(world, base, root)
        at = datetime.combine(forked.config.start + timedelta(days=forked.day_index), datetime.min.time(), tzinfo=UTC)
        exp = rc.start(f"mdl-001-{name}", spec.model_id, versions["champion"], versions[name], at,
                       plan=rc.default_plan(cfg.time_scale), min_sample=cfg.min_sample)
        store = rc.RolloutStore(root / "state")
        store.save(exp)
        log(f"rollout of the {name} candidate (v{versions[name]}) against champion v{versions['champion']}")

        def on_decision(e: rc.Experiment, verdict: rc.Verdict) -> None:
            record_decision(client, spec.registered_name, e, verdict.reason)

        run = sim.run_rollout(forked, root / "lake", root / "truth",
                              sim.ArmModel(versions["champion"], champion),
                              sim.ArmModel(versions[name], better if name == "better" else worse),
                              exp, store, cfg.max_days, on_decision=on_decision, log=log,
                              prediction_log=root / "predictions")
        sim.save_run(run, root / "evidence.json")
        alias_now = client.get_model_version_by_alias(spec.registered_name, CHAMPION).version
        summary["runs"][name] = {"status": run.experiment.status.value, "final_stage": run.experiment.stage.name,
                                 "days": len(run.days), "champion_after": str(alias_now),
                                 "decisions": run.decisions, "evidence_file": str(root / "evidence.json")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def plot_scenario(out: Path) -> Path:
    """Per rollout: the candidate's traffic share and what each arm delivered, of all the mail it
    decided on and of the mail it let out, day by day (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {name: json.loads((out / name / "evidence.json").read_text()) for name in ("better", "worse")
            if (out / name / "evidence.json").exists()}
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 3.8), squeeze=False)
    for ax, (name, run) in zip(axes[0], runs.items(), strict=True):
        days = [d["day"][5:] for d in run["days"]]
        share = [d["candidate_share"] * 100 for d in run["days"]]

        def rate(arm: str, num: str, denom: str, run=run) -> list[float]:
            return [100 * d[arm][num] / d[arm][denom] if d[arm][denom] else float("nan") for d in run["days"]]

        ax.bar(days, share, color="#dde5f0", label="candidate traffic %")
        ax.set_ylabel("candidate traffic (%)")
        twin = ax.twinx()
        for arm, colour, marker in (("control", "#345", "o"), ("candidate", "#c33", "s")):
            who = "champion" if arm == "control" else "candidate"
            twin.plot(days, rate(arm, "delivered", "messages"), marker + "-", color=colour,
                      label=f"delivered, of all its mail ({who})")
            twin.plot(days, rate(arm, "delivered", "sent"), marker + "--", color=colour, alpha=0.6,
                      label=f"delivered, of mail it sent ({who})")
        twin.set_ylabel("%")
        ax.set_title(f"{name} candidate: {run['experiment']['status']}")
        ax.tick_params(axis="x", rotation=60)
        twin.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    path = out / "rollouts.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
