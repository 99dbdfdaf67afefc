"""MDL-008 through the platform's pipeline: learn how mailbox providers answer from the delivery
logs of the twin's training worlds, then judge the clusters and the change test in worlds the
training never saw, against the groupings an operator would use and the twin's hidden classes.

Training: each training world runs `budget` days with nothing changing; every recipient domain's
profile over the whole period is a point (a domain in another world is another point), its weekly
profiles say which features are steady traits. K-means finds `N_CLUSTERS` groups. The change
threshold: each provider's first half of the days is its reference, and the threshold is the least
at which at most `FALSE_FLAG_SHARE` of the provider-weeks of the second half are flagged.

Evaluation: each world's domains are profiled over its first `REFERENCE_DAYS` and assigned; the
adjusted Rand index against the providers' hidden classes says how well the groups match the
rules the providers really follow. Then one provider changes as the twin's change-provider
scenario makes it (spec §9.3's drift: its filter tightens on all bulk mail), and the days until
MDL-008 flags it, and the other providers it flags meanwhile, say whether the change test works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.features.definitions import human_opens
from adaptive_delivery.delivery.models.mdl008_isp_behaviour import model as mm
from adaptive_delivery.delivery.models.mdl008_isp_behaviour.profile import (
    OUTCOME_COLUMNS,
    DailyLog,
    daily_log,
    provider_of_units,
    windowed_profiles,
)
from adaptive_delivery.delivery.models.mdl008_isp_behaviour.spec import MODEL_FILE
from adaptive_delivery.platform import protocol

EVALUATION_TABLE = "isp_behaviour_eval.md"
N_CLUSTERS = 6  # chosen on validation worlds (benchmarks/mdl008_clusters.py, mdl008_validation.json)
TRAINING_WORLDS = 6
WORLD_SUBSCRIBERS = 20_000
WINDOW_DAYS = 3  # the change test's trailing window (chosen on validation worlds)
FALSE_FLAG_SHARE = 0.05  # of provider-weeks where nothing changed
WEEKLY = 7
REFERENCE_DAYS = 14  # an evaluation world's days before the change
AFTER_DAYS = 7  # days after it: "flagged within a week"
# the twin's change-provider scenario (delivery.scenarios.drift): the filter tightens on bulk mail
CHANGE = {"change_provider": "gmail", "inbox_shift": -1.5}
EVALUATION = {"smoke": 1, "quick": 2, "full": 5}  # evaluation worlds per profile
EVALUATION_SEED = 70_001  # 'other' seeds: neither validation nor sealed


def world_events(seed: int, days: int, subscribers: int = WORLD_SUBSCRIBERS,
                 **change: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A twin world's delivery log (what its senders' MTAs record) and its human opens
    (`message_id`, `event_ts`), in memory."""
    import pyarrow as pa

    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.simulator import World

    world = World(WorldConfig(subscribers=subscribers, days=days, seed=seed, **change))
    outcomes, engagement = [], []
    for _ in range(days):
        events = world.step_day().events
        outcomes.append(events["outcomes"].select(list(OUTCOME_COLUMNS)))
        engagement.append(events["engagement"].select(["message_id", "event_ts", "event_type", "machine_open"]))
    return pa.concat_tables(outcomes).to_pandas(), human_opens(pa.concat_tables(engagement).to_pandas())


def world_logs(seed: int, days: int, unit: str, subscribers: int = WORLD_SUBSCRIBERS,
               **change: object) -> dict[str, DailyLog]:
    """A twin world's delivery log cut into days per each of `unit` (comma-separated units)."""
    outcomes, opens = world_events(seed, days, subscribers, **change)
    ids = opens["message_id"].to_numpy()
    return {u: daily_log(outcomes, u, opened=ids) for u in unit.split(",")}


def hidden_classes(units: list[str], unit: str = "domain") -> list[str]:
    """The twin's behaviour class of each unit's provider: the referee's answer, never an input."""
    from adaptive_delivery.twin.providers import CLASS_OF

    return [CLASS_OF[p] for p in provider_of_units(units, unit)]


@dataclass(frozen=True)
class TrainingLogs:
    """What training learns from, for each training world: the domains' whole-period profiles,
    their weekly profiles, and the providers' daily logs."""

    whole: pd.DataFrame
    weekly: pd.DataFrame
    provider_logs: list[DailyLog]


def training_logs(seeds: list[int], days: int, subscribers: int) -> TrainingLogs:
    whole, weekly, providers = [], [], []
    for seed in seeds:
        logs = world_logs(seed, days, "domain,provider", subscribers)
        whole.append(logs["domain"].profiles().reset_index().assign(world=seed))
        weekly.append(windowed_profiles(logs["domain"], WEEKLY, WEEKLY).assign(world=seed))
        providers.append(logs["provider"])
    weekly_frame = pd.concat(weekly, ignore_index=True)
    weekly_frame["group"] = weekly_frame["unit"] + "@" + weekly_frame["world"].astype(str)
    return TrainingLogs(pd.concat(whole, ignore_index=True), weekly_frame, providers)


SCALE_CUTS = (0.33, 0.5, 0.67)  # where a scale world's reference period ends, as a share of its days


def no_change_differences(model: mm.ClusterModel, logs: list[DailyLog], cuts: tuple[float, ...]) -> pd.DataFrame:
    """Window differences from the reference where nothing changed, the reference ending at each
    cut (a share of the days): `world`, `unit`, `week` (since the cut) and the features."""
    parts = []
    for k, log in enumerate(logs):
        for cut in cuts:
            day = int(round(cut * log.days))
            diff = mm.window_differences(model, log, day)
            parts.append(diff.assign(world=k, week=(diff["end_day"] - day - model.window_days) // WEEKLY + 100 * day))
    if not parts or all(p.empty for p in parts):
        raise ValueError("the training worlds are too short to calibrate the change test (give training more days)")
    return pd.concat(parts, ignore_index=True)


def fit_from_logs(logs: TrainingLogs, seed: int, k: int = N_CLUSTERS) -> mm.ClusterModel:
    """Clusters from the domains' profiles; then the change test: its scales from one half of the
    training worlds, its threshold from the other half."""
    model = mm.fit_clusters(logs.whole, logs.weekly, k, seed, window_days=WINDOW_DAYS)
    half = max(len(logs.provider_logs) // 2, 1)
    scaling = no_change_differences(model, logs.provider_logs[:half], SCALE_CUTS)
    model.change_scales = mm.null_scales(scaling)
    model.change_scales = mm.even_tails(model, scaling, FALSE_FLAG_SHARE)
    calibration = no_change_differences(model, logs.provider_logs[half:] or logs.provider_logs, (0.5,))
    scores = calibration.assign(score=mm.change_scores(model, calibration))
    model.change_threshold = mm.calibrate_threshold(scores, FALSE_FLAG_SHARE)
    model.meta.update(false_flag_share=FALSE_FLAG_SHARE, calibration_weeks=int(mm.week_peaks(scores).size))
    return model


def training_seeds(seed: int) -> list[int]:
    return [protocol.TRAINING_SEED_FLOOR + 2_000 * seed + 500 + k for k in range(TRAINING_WORLDS)]


def train_and_save(budget: int, seed: int, out: Path, subscribers: int = WORLD_SUBSCRIBERS) -> Path:
    """`budget` days of every training world's delivery log -> the clusters and the change test."""
    seeds = training_seeds(seed)
    logs = training_logs(seeds, budget, subscribers)
    model = fit_from_logs(logs, seed)
    model.meta.update(training_worlds=seeds, days=budget, subscribers=subscribers)
    print(f"{len(logs.whole)} domain profiles from {len(seeds)} training worlds over {budget} days: "
          f"{len(model.names)} clusters ({'; '.join(model.names)}), change threshold {model.change_threshold:.2f}",
          flush=True)
    return model.save(out / MODEL_FILE)



# ---- the rules an operator groups providers by ---------------------------------------------
# KumoMTA's shaping.toml groups destinations by their MX hosts (its `provider` blocks): Yahoo and
# AOL share Yahoo's MX; each big consumer provider is its own group; everything else is "default".
MX_GROUPS = {"gmail": "google", "yahoo": "yahoo", "aol": "yahoo", "outlook": "outlook", "apple": "apple",
             "comcast": "comcast"}


def rule_groups(units: list[str], rule: str) -> list[str]:
    """Each unit's group by a rule: 'mx' (the MTA's provider blocks) or 'category' (the public
    catalogue's consumer / corporate / disposable)."""
    from adaptive_delivery.delivery.providers import public_facts

    providers = provider_of_units(units, "domain")
    if rule == "mx":
        return [MX_GROUPS.get(p, "default") for p in providers]
    if rule == "category":
        return [public_facts(p).category for p in providers]
    raise ValueError(f"unknown rule {rule!r}")


RULES = ("mx", "category")


def judge_world(model: mm.ClusterModel, seed: int, days_after: int = AFTER_DAYS, subscribers: int = WORLD_SUBSCRIBERS,
                change: dict | None = None) -> dict[str, float]:
    """ARI of the model's groups and the rules' against the hidden classes on the world's first
    REFERENCE_DAYS, then the change: days until its provider is flagged (NaN: not within
    `days_after`) and the share of the other providers flagged meanwhile."""
    from sklearn.metrics import adjusted_rand_score

    change = dict(CHANGE if change is None else change)
    logs = world_logs(seed, REFERENCE_DAYS + days_after, "domain,provider", subscribers, change_day=REFERENCE_DAYS,
                      **change)
    domains = logs["domain"].profiles(0, REFERENCE_DAYS)
    truth = hidden_classes(list(domains.index))
    out = {"ari": adjusted_rand_score(truth, model.assign(domains)["cluster"])}
    for rule in RULES:
        out[f"ari_rule_{rule}"] = adjusted_rand_score(truth, rule_groups(list(domains.index), rule))
    flags = mm.change_flags(model, logs["provider"], REFERENCE_DAYS)
    changed = str(change["change_provider"])
    first = flags.loc[flags["unit"] == changed, "days_after"]
    out["flagged"] = float(first.notna().any())
    out["days_to_flag"] = float(first.min()) if first.notna().any() else float("nan")
    others = flags[flags["unit"] != changed]
    out["false_flag_share"] = float(others["days_after"].notna().mean()) if len(others) else 0.0
    return out


def evaluate_into(trained: Path, out: Path, profile: str) -> dict[str, float]:
    """Registry metrics: means over the profile's evaluation worlds, the rules' beside ours."""
    model = mm.ClusterModel.load(trained)
    worlds = EVALUATION.get(profile, EVALUATION["quick"])
    cells = [judge_world(model, EVALUATION_SEED + w) for w in range(worlds)]
    metrics = {name: float(np.nanmean([c[name] for c in cells])) if any(np.isfinite(c[name]) for c in cells)
               else float("nan") for name in cells[0]}
    metrics["flagged_within_week"] = float(np.mean([c["flagged"] for c in cells]))
    metrics["gain_over_rule"] = metrics["ari"] - max(metrics[f"ari_rule_{r}"] for r in RULES)
    metrics.update(evaluation_worlds=float(worlds))
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    (out / EVALUATION_TABLE).write_text(evaluation_table(metrics, model, worlds))
    return metrics


def evaluation_table(metrics: dict[str, float], model: mm.ClusterModel, worlds: int) -> str:
    lines = [f"# MDL-008 in {worlds} evaluation world(s): {REFERENCE_DAYS} days, then "
             f"{CHANGE['change_provider']}'s filter tightens", "",
             "| grouping | adjusted Rand index vs the hidden classes |", "|---|---|",
             f"| MDL-008 ({len(model.names)} clusters) | {metrics['ari']:.3f} |",
             f"| rule: the MTA's MX groups | {metrics['ari_rule_mx']:.3f} |",
             f"| rule: the public category | {metrics['ari_rule_category']:.3f} |", "",
             f"Change flagged within {AFTER_DAYS} days in {metrics['flagged_within_week']:.0%} of the worlds "
             f"(mean {metrics['days_to_flag']:.1f} days after it); other providers flagged: "
             f"{metrics['false_flag_share']:.1%}.", "", "Clusters: " + "; ".join(model.names) + "."]
    return "\n".join(lines) + "\n"
