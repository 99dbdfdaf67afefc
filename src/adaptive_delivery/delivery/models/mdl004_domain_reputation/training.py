"""MDL-004 through the platform's pipeline: learn from the logs of the twin's training worlds, then
judge in worlds training never saw, against the best rule an operator runs and the twin's hidden
reputation.

Training: each training world runs `budget` days; every sending IP and domain is a unit, every hour
a row (`signals.snapshot_frame`), labelled from the same log (`signals.labels`). Rows of units that
sent nothing in the week before are not scored (nothing to say) and not learned from.

Judging a world (`judge_world`): ROC-AUC of P(block event in 24 h) and of P(listing in 24 h) (over
unit-hours not listed already) for MDL-004, for the heuristic (`heuristic_risk`, weights tuned on
validation worlds) and for the oracle that reads the hidden reputation the unit's mail meets;
Spearman's correlation of the health score with the hidden reputation at the end of each day; and,
for each listing, the hours of warning: how long before it began the listing risk had stayed above
the alert threshold (at most FALSE_ALERT_SHARE of quiet unit-hours alert).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.models.mdl004_domain_reputation import model as rm
from adaptive_delivery.delivery.models.mdl004_domain_reputation import signals as sg
from adaptive_delivery.delivery.models.mdl004_domain_reputation.spec import MODEL_FILE
from adaptive_delivery.delivery.models.mdl004_domain_reputation.worlds import (
    WORLD_SUBSCRIBERS,
    WorldRun,
    run_world,
)
from adaptive_delivery.platform import protocol

EVALUATION_TABLE = "reputation_eval.md"
TRAINING_WORLDS = 12  # chosen on validation worlds over 6 (mdl004_validation.json)
EVALUATION_DAYS = 28
EVALUATION = {"smoke": 1, "quick": 2, "full": 5}  # evaluation worlds per profile
# the smoke profile (a budget under two weeks: tests, notebooks) trains and judges on two and one
# small worlds: every step runs, at a fraction of the cost
SMALL_BUDGET_DAYS = 14
SMALL_WORLDS = 2
SMALL_SUBSCRIBERS = 16_000
SMALL_EVALUATION_DAYS = 16
EVALUATION_SEED = 40_001  # 'other' seeds: neither validation nor sealed
WARNING_LOOKBACK_H = 72
# The heuristic's terms: a signal and the level an operator calls "too much" (engagement: the open
# rate it falls short of). Its weights: chosen on validation worlds (benchmarks/mdl004_reputation.py
# --validation, mdl004_validation.json); an IP on a public blocklist is always the worst.
HEURISTIC_TERMS = {"hard_rate_24h": 0.02, "complaint_rate_7d": 0.001, "open_rate_7d": -0.15, "block_rate_24h": 0.02}
HEURISTIC_WEIGHTS = {"hard_rate_24h": 1.0, "complaint_rate_7d": 0.0, "open_rate_7d": 0.5, "block_rate_24h": 4.0}
HEURISTIC_GRID = (0.0, 0.5, 1.0, 2.0, 4.0)
HEURISTIC_ALERT = 29.8  # its alert threshold: FALSE_ALERT_SHARE of quiet validation unit-hours reach it


# ---- rows --------------------------------------------------------------------------------------
def world_rows(run: WorldRun) -> pd.DataFrame:
    """Every unit-hour of a run with its signals, labels and (for the referee) `day`; units that
    sent nothing in the week before are left out."""
    parts = []
    for kind in sg.UNITS:
        counts = sg.hourly_counts(kind, run.start, run.days * 24, run.ips, run.sends, run.outcomes, run.complaints,
                                  run.opens, run.public)
        frame = sg.snapshot_frame(counts).merge(sg.labels(counts), on=["unit", "t"])
        parts.append(frame.assign(kind=kind))
    rows = pd.concat(parts, ignore_index=True)
    return rows[rows["log_sent_7d"] > 0].reset_index(drop=True)


def hidden_reputation(run: WorldRun) -> pd.DataFrame:
    """Per unit (IP or domain) and day: the hidden reputation its mail met that day (a domain's:
    its IPs' domain reputation weighted by their mail) and whether it sent. The referee's only."""
    h = run.hidden.merge(run.ips, on="sending_ip")
    ips = h.rename(columns={"sending_ip": "unit"})[["unit", "day", "reputation", "sent"]]
    w = h.assign(weighted=h["domain_reputation"] * np.maximum(h["sent"], 1e-9), weight=np.maximum(h["sent"], 1e-9))
    domains = w.groupby(["sending_domain", "day"], as_index=False).agg(weighted=("weighted", "sum"),
                                                                       weight=("weight", "sum"), sent=("sent", "sum"))
    domains = domains.assign(reputation=domains["weighted"] / domains["weight"]).rename(columns={"sending_domain": "unit"})
    return pd.concat([ips, domains[["unit", "day", "reputation", "sent"]]], ignore_index=True)


def training_seeds(seed: int, worlds: int = TRAINING_WORLDS) -> list[int]:
    return [protocol.TRAINING_SEED_FLOOR + 4_000 * seed + 400 + k for k in range(worlds)]


def training_rows(budget: int, seed: int, subscribers: int, worlds: int) -> pd.DataFrame:
    """Every training world's unit-hours, `world` naming which (0, 1, …)."""
    rows = []
    for k, s in enumerate(training_seeds(seed, worlds)):
        rows.append(world_rows(run_world(s, budget, subscribers)).assign(world=k))
        print(f"training world {k + 1}/{worlds} (seed {s}): {len(rows[-1])} unit-hours", flush=True)
    return pd.concat(rows, ignore_index=True)


def train_and_save(budget: int, seed: int, out: Path, subscribers: int | None = None,
                   worlds: int | None = None) -> Path:
    """`budget` days of every training world's log -> both heads, saved."""
    small = budget < SMALL_BUDGET_DAYS
    worlds = worlds or (SMALL_WORLDS if small else TRAINING_WORLDS)
    subscribers = subscribers or (SMALL_SUBSCRIBERS if small else WORLD_SUBSCRIBERS)
    seeds = training_seeds(seed, worlds)
    frame = training_rows(budget, seed, subscribers, worlds)
    model = rm.fit(frame, seed)
    model.meta.update(training_worlds=seeds, days=budget, subscribers=subscribers)
    print(f"MDL-004 from {len(frame)} unit-hours: {model.meta['positives']} positives; alert thresholds "
          f"{ {k: round(v, 3) for k, v in model.alert.items()} }", flush=True)
    return model.save(out / MODEL_FILE)



# ---- the best rule ---------------------------------------------------------------------------
def heuristic_risk(frame: pd.DataFrame, weights: dict[str, float] | None = None) -> np.ndarray:
    """The operator's score of the kind sending platforms publish: a weighted sum of bounce,
    complaint, engagement and block rates against their 'too much' levels; a listed IP is the
    worst there is. An order, not a probability."""
    weights = HEURISTIC_WEIGHTS if weights is None else weights
    total = np.zeros(len(frame))
    for name, level in HEURISTIC_TERMS.items():
        x = frame[name].to_numpy(dtype=float)
        total += weights[name] * ((x / level) if level > 0 else (x - (-level)) / level)
    return total + 1e3 * frame["listed_now"].to_numpy(dtype=float)


def tune_heuristic(rows: list[pd.DataFrame]) -> tuple[dict[str, float], float]:
    """The weights (over HEURISTIC_GRID) with the best mean ROC-AUC for both events over the rows of
    several validation worlds, and that mean."""
    best, best_auc = dict(HEURISTIC_WEIGHTS), -np.inf
    for combo in itertools.product(HEURISTIC_GRID, repeat=len(HEURISTIC_TERMS)):
        if not any(combo):
            continue
        weights = dict(zip(HEURISTIC_TERMS, combo, strict=True))
        aucs = [auc for r in rows for auc in event_aucs(r, heuristic_risk(r, weights)).values()]
        mean = float(np.nanmean(aucs))
        if mean > best_auc:
            best, best_auc = weights, mean
    return best, best_auc


def alert_threshold(score: np.ndarray, label: np.ndarray) -> float:
    """The score at most FALSE_ALERT_SHARE of the quiet rows reach."""
    quiet = score[label == 0]
    return float(np.quantile(quiet, 1.0 - rm.FALSE_ALERT_SHARE)) if quiet.size else float("inf")


# ---- the referee -------------------------------------------------------------------------------
def _auc(label: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(label) & np.isfinite(score)
    label, score = label[ok], score[ok]
    return float(roc_auc_score(label, score)) if 0 < label.sum() < len(label) else float("nan")


def event_aucs(rows: pd.DataFrame, score: np.ndarray, listing_score: np.ndarray | None = None) -> dict[str, float]:
    """ROC-AUC for block events (all rows) and listings (rows not listed now)."""
    listing_score = score if listing_score is None else listing_score
    return {"block_event": _auc(rows["block_event"].to_numpy(dtype=float), score),
            "listing": _auc(rows["listing"].to_numpy(dtype=float), listing_score)}


def warning_hours(rows: pd.DataFrame, score: np.ndarray, threshold: float) -> list[float]:
    """For each listing seen in `rows` (a unit not listed at t - 1 and listed at t), the hours
    before it during which `score` had stayed at or above `threshold` (at most WARNING_LOOKBACK_H;
    0: no alert in the hour before)."""
    out = []
    frame = rows[["unit", "t", "listed_now"]].assign(score=score)
    for _, unit in frame.groupby("unit"):
        unit = unit.sort_values("t")
        t = unit["t"].to_numpy()
        listed = unit["listed_now"].to_numpy() > 0.5
        s = unit["score"].to_numpy()
        by_t = dict(zip(t.tolist(), range(len(t)), strict=True))
        for i in np.flatnonzero(listed[1:] & ~listed[:-1]) + 1:
            onset, hours = t[i], 0
            while hours < WARNING_LOOKBACK_H:
                j = by_t.get(onset - 1 - hours)
                if j is None or listed[j] or s[j] < threshold:
                    break
                hours += 1
            out.append(float(hours))
    return out


def world_frames(seed: int, days: int = EVALUATION_DAYS,
                 subscribers: int = WORLD_SUBSCRIBERS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fresh world's scored unit-hours (from its second day: the oracle reads yesterday's
    reputation) and its hidden reputations (the referee's)."""
    run = run_world(seed, days, subscribers)
    rows = world_rows(run)
    return rows[rows["t"] >= 24].reset_index(drop=True), hidden_reputation(run)


def judge(model: rm.ReputationModel, rows: pd.DataFrame, hidden: pd.DataFrame,
          weights: dict[str, float] | None = None, heuristic_alert: float | None = None) -> dict[str, float]:
    """One world's figures for MDL-004, the heuristic and the oracle (see the module's docstring).
    `heuristic_alert`: the heuristic's alert threshold (HEURISTIC_ALERT, tuned on validation
    worlds, unless given)."""
    from scipy.stats import spearmanr

    heuristic_alert = HEURISTIC_ALERT if heuristic_alert is None else heuristic_alert
    scored = model.probabilities(rows)  # the referee needs no factors
    heuristic = heuristic_risk(rows, weights)
    yesterday = rows.assign(day=rows["t"] // 24 - 1).merge(hidden, on=["unit", "day"], how="left")
    oracle = -yesterday["reputation"].to_numpy(dtype=float)
    out: dict[str, float] = {}
    for name, (block, listing) in {"model": (scored["p_block_event"].to_numpy(), scored["p_listing"].to_numpy()),
                                   "heuristic": (heuristic, heuristic), "oracle": (oracle, oracle)}.items():
        for event, auc in event_aucs(rows, block, listing).items():
            out[f"{event}_auc_{name}"] = auc
    day_end = rows.assign(health=100.0 * (1.0 - rm.either(scored).to_numpy()))
    day_end = day_end[day_end["t"] % 24 == 0].assign(day=lambda f: f["t"] // 24 - 1)
    day_end = day_end.merge(hidden, on=["unit", "day"])
    day_end = day_end[day_end["sent"] > 0]
    out["spearman_model"] = float(spearmanr(day_end["health"], day_end["reputation"]).statistic)
    out["spearman_heuristic"] = float(spearmanr(-heuristic_risk(day_end, weights), day_end["reputation"]).statistic)
    warn_model = warning_hours(rows, scored["p_listing"].to_numpy(), model.alert["listing"])
    warn_rule = warning_hours(rows, heuristic, heuristic_alert)
    out["listings"] = float(len(warn_model))
    out["warning_hours_model"] = float(np.median(warn_model)) if warn_model else float("nan")
    out["warning_hours_heuristic"] = float(np.median(warn_rule)) if warn_rule else float("nan")
    # the same, each at the threshold that alerts on exactly FALSE_ALERT_SHARE of this world's quiet
    # unit-hours: warnings at an equal false-alert rate
    listing = rows["listing"].to_numpy()
    for name, score in (("model", scored["p_listing"].to_numpy()), ("heuristic", heuristic)):
        warned = warning_hours(rows, score, alert_threshold(score, listing))
        out[f"warning_hours_{name}_equal_alerts"] = float(np.median(warned)) if warned else float("nan")
    quiet = listing == 0
    out["false_alert_share_model"] = float(np.mean(scored["p_listing"].to_numpy()[quiet] >= model.alert["listing"]))
    out["false_alert_share_heuristic"] = float(np.mean(heuristic[quiet] >= heuristic_alert))
    out["block_event_share"] = float(np.nanmean(rows["block_event"]))
    out["unit_hours"] = float(len(rows))
    return out


def judge_world(model: rm.ReputationModel, seed: int, days: int = EVALUATION_DAYS,
                subscribers: int = WORLD_SUBSCRIBERS) -> dict[str, float]:
    return judge(model, *world_frames(seed, days, subscribers))


def evaluate_into(trained: Path, out: Path, profile: str) -> dict[str, float]:
    """Registry metrics: means over the profile's evaluation worlds, the heuristic's and the
    oracle's beside ours."""
    model = rm.ReputationModel.load(trained)
    worlds = EVALUATION.get(profile, EVALUATION["quick"])
    size = (SMALL_EVALUATION_DAYS, SMALL_SUBSCRIBERS) if profile == "smoke" else (EVALUATION_DAYS, WORLD_SUBSCRIBERS)
    cells = [judge_world(model, EVALUATION_SEED + w, *size) for w in range(worlds)]
    metrics = {name: float(np.nanmean([c[name] for c in cells])) if any(np.isfinite(c[name]) for c in cells)
               else float("nan") for name in cells[0]}
    metrics["gain_over_heuristic"] = metrics["block_event_auc_model"] - metrics["block_event_auc_heuristic"]
    metrics.update(evaluation_worlds=float(worlds))
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    (out / EVALUATION_TABLE).write_text(evaluation_table(metrics, worlds, size[0]))
    return metrics


def evaluation_table(m: dict[str, float], worlds: int, days: int) -> str:
    lines = [f"# MDL-004 in {worlds} evaluation world(s) of {days} days", "",
             "| scorer | block event in 24 h: ROC-AUC | listing in 24 h: ROC-AUC | Spearman with hidden reputation |",
             "|---|---|---|---|",
             f"| MDL-004 | {m['block_event_auc_model']:.3f} | {m['listing_auc_model']:.3f} | {m['spearman_model']:.3f} |",
             f"| heuristic (bounce, complaint, engagement, blocks) | {m['block_event_auc_heuristic']:.3f} | "
             f"{m['listing_auc_heuristic']:.3f} | {m['spearman_heuristic']:.3f} |",
             f"| oracle (hidden reputation) | {m['block_event_auc_oracle']:.3f} | {m['listing_auc_oracle']:.3f} | 1 |", "",
             f"Median hours of warning before a listing: MDL-004 {m['warning_hours_model']:.1f}, heuristic "
             f"{m['warning_hours_heuristic']:.1f} (alerts on {m['false_alert_share_model']:.1%} and "
             f"{m['false_alert_share_heuristic']:.1%} of quiet unit-hours)."]
    return "\n".join(lines) + "\n"
