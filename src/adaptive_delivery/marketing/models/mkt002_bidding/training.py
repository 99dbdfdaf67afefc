"""MKT-002 through the platform's pipeline: learn a click's conversion from many campaigns' clicks
in the marketing twin's training worlds, then judge the served model by bidding with it in
evaluation worlds it never saw, against the rules and the hindsight oracle.

Training: each training world's campaigns run the bid optimiser (learning only from their own
clicks) for `budget` days; every click, with what the advertiser knew when it was bought (the hour,
weekday, audience, the campaign's conversion rate for the audience, its age, what a click cost at
that hour), is a row; gradient-boosted trees (XGBoost, so that serving walks them in numpy) learn
whether it converted. A new campaign then prices its first clicks on everyone's experience rather
than on the published average alone.

Evaluation: each evaluation campaign runs, on the same auctions, the optimiser with the registered
model as its prior (through `service.load_value_model`, as served), the optimiser without it,
bidding the value and linear bidding (its base set as benchmarks/marketing_twin.py chose on
validation worlds); the oracle buys the most value each day's budget could in hindsight."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from adaptive_delivery.marketing import bidding as bd
from adaptive_delivery.marketing.models.mkt002_bidding.service import load_value_model
from adaptive_delivery.marketing.models.mkt002_bidding.spec import MODEL_FILE
from adaptive_delivery.platform import protocol
from adaptive_delivery.twin import marketing as tw

EVALUATION_TABLE = "bidding_eval.md"
TRAINING_WORLDS = 6  # worlds of four campaigns each
DAILY_OPPORTUNITIES = 20_000  # a training or evaluation campaign's weekday auctions (the twin's default)
PACING_GAIN = 0.25  # the optimiser's pacing gain chosen on validation worlds (marketing_twin.json)
LINEAR_BASE = 1.25  # linear bidding's base, x a click's published value, likewise chosen
# Evaluation worlds (never trained on, never a sealed headline) and days, per profile
EVALUATION = {"smoke": (1, 4, 5), "quick": (2, 4, 7), "full": (5, 4, 14)}  # worlds, campaigns, days
EVALUATION_SEED = 60_001  # 'other' seeds: neither validation nor sealed
BIDDERS = ("optimiser", "optimiser_no_prior", "value", "linear")
XGB_PARAMS = {"n_estimators": 150, "max_depth": 4, "learning_rate": 0.05, "min_child_weight": 20.0,
              "subsample": 0.8, "colsample_bytree": 1.0, "objective": "binary:logistic", "tree_method": "hist"}


def training_seeds(seed: int) -> list[int]:
    return [protocol.TRAINING_SEED_FLOOR + 1_000 * seed + k for k in range(TRAINING_WORLDS)]


def click_rows(world: tw.MarketingWorld, days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every campaign's clicks over `days` of its own optimiser, as value-model rows."""
    xs, ys = [], []
    for k in range(len(world.campaigns)):
        bidder = bd.BidOptimiser(seed=seed, pacing_gain=PACING_GAIN)
        for day in range(days):
            tw.run_day(world, k, day, bidder)
        x, y = bidder.training_rows(as_known=True)
        xs.append(x)
        ys.append(y)
    return np.vstack(xs), np.concatenate(ys)


def fit(x: np.ndarray, y: np.ndarray, seed: int):
    import xgboost as xgb

    model = xgb.XGBClassifier(**XGB_PARAMS, random_state=seed, n_jobs=1)
    model.fit(x, y.astype(int))
    model.get_booster().feature_names = list(bd.VALUE_FEATURES)
    return model


def train_and_save(budget: int, seed: int, out: Path) -> Path:
    """`budget` days of every training campaign's clicks -> the conversion model, as XGBoost JSON."""
    rows = [click_rows(tw.MarketingWorld.build(s, daily_opportunities=DAILY_OPPORTUNITIES), budget, seed)
            for s in training_seeds(seed)]
    x, y = np.vstack([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
    print(f"{len(y)} clicks, {int(y.sum())} conversions from {len(rows)} training worlds over {budget} days",
          flush=True)
    if y.sum() < bd.MIN_TRAINING_CONVERSIONS:
        raise RuntimeError(f"{int(y.sum())} conversions in the training clicks: give training more days")
    out.mkdir(parents=True, exist_ok=True)
    path = out / MODEL_FILE
    fit(x, y, seed).get_booster().save_model(str(path))
    (out / "training.json").write_text(json.dumps({"clicks": len(y), "conversions": int(y.sum()), "days": budget,
                                                   "worlds": training_seeds(seed)}) + "\n")
    return path



def bidder(kind: str, campaign: tw.Campaign, prior: bd.CvrModel):
    unit = bd.PRIOR_CVR * campaign.value
    return {"optimiser": lambda: bd.BidOptimiser(pacing_gain=PACING_GAIN, prior=prior),
            "optimiser_no_prior": lambda: bd.BidOptimiser(pacing_gain=PACING_GAIN),
            "value": bd.ValueBid, "linear": lambda: bd.LinearBid(LINEAR_BASE * unit)}[kind]()


def judge_world(seed: int, campaigns: int, days: int, prior: bd.CvrModel) -> dict[str, float]:
    """Per bidder: the share of the oracle's value bought, conversions per $1,000 of budget, and
    regret per campaign-day; and the model's ranking of the served optimiser's clicks."""
    from sklearn.metrics import log_loss, roc_auc_score

    world = tw.MarketingWorld.build(seed, n_campaigns=campaigns, daily_opportunities=DAILY_OPPORTUNITIES)
    totals = {k: {"value": 0.0, "conversions": 0.0} for k in BIDDERS}
    oracle = budget = 0.0
    clicks_x, clicks_y = [], []
    for k, c in enumerate(world.campaigns):
        for kind in BIDDERS:
            b = bidder(kind, c, prior)
            for day in range(days):
                r = tw.run_day(world, k, day, b)
                totals[kind]["value"] += r.expected_value
                totals[kind]["conversions"] += r.expected_conversions
            if kind == "optimiser":
                x, y = b.training_rows(as_known=True)
                clicks_x.append(x)
                clicks_y.append(y)
        oracle += sum(tw.oracle_value(world, k, day, np.zeros(1, int)) for day in range(days))
        budget += c.budget * days
    out = {}
    for kind, t in totals.items():
        prefix = "" if kind == "optimiser" else f"{kind}_"
        out[f"{prefix}share_of_oracle"] = t["value"] / oracle
        out[f"{prefix}conversions_per_1000"] = 1000 * t["conversions"] / budget
        out[f"{prefix}regret_per_campaign_day"] = (oracle - t["value"]) / (days * campaigns)
    x, y = np.vstack(clicks_x), np.concatenate(clicks_y)
    if 0 < y.sum() < len(y):
        p = np.clip(prior(x), 1e-6, 1 - 1e-6)
        rate = np.clip(x[:, bd.VALUE_FEATURES.index("historical_cvr")], 1e-6, 1 - 1e-6)
        out.update(cvr_auc=roc_auc_score(y, p), cvr_logloss=log_loss(y, p, labels=[0, 1]),
                   campaign_rate_auc=roc_auc_score(y, rate), campaign_rate_logloss=log_loss(y, rate, labels=[0, 1]))
    return out


def evaluate_into(trained: Path, out: Path, profile: str) -> dict[str, float]:
    """Registry metrics: means over the profile's evaluation worlds, the rules' beside ours."""
    worlds, campaigns, days = EVALUATION.get(profile, EVALUATION["quick"])
    prior = load_value_model(trained)
    cells = [judge_world(EVALUATION_SEED + w, campaigns, days, prior) for w in range(worlds)]
    metrics = {name: float(np.mean([c[name] for c in cells if name in c])) for name in cells[0]}
    for rule in ("value", "linear", "optimiser_no_prior"):
        metrics[f"gain_over_{rule}"] = metrics["share_of_oracle"] - metrics[f"{rule}_share_of_oracle"]
    metrics.update(evaluation_worlds=float(worlds), evaluation_days=float(days))
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    (out / EVALUATION_TABLE).write_text(evaluation_table(metrics, worlds, campaigns, days))
    return metrics


def evaluation_table(metrics: dict[str, float], worlds: int, campaigns: int, days: int) -> str:
    lines = [f"# MKT-002 in {worlds} evaluation world(s), {campaigns} campaigns, {days} days, second price", "",
             "| bidder | share of the oracle's value | conversions per $1,000 | regret $/campaign-day |",
             "|---|---|---|---|"]
    names = {"optimiser": "optimiser, registered model as prior", "optimiser_no_prior": "optimiser, own clicks only",
             "value": "bid the value", "linear": f"linear ({LINEAR_BASE} x published value)"}
    for kind, name in names.items():
        prefix = "" if kind == "optimiser" else f"{kind}_"
        lines.append(f"| {name} | {metrics[prefix + 'share_of_oracle']:.3f} | "
                     f"{metrics[prefix + 'conversions_per_1000']:.2f} | {metrics[prefix + 'regret_per_campaign_day']:.1f} |")
    if "cvr_auc" in metrics:
        lines += ["", f"Conversion of the served optimiser's clicks: the model's AUC {metrics['cvr_auc']:.3f} "
                  f"(log loss {metrics['cvr_logloss']:.4f}); the campaign's own rate alone "
                  f"{metrics['campaign_rate_auc']:.3f} ({metrics['campaign_rate_logloss']:.4f})."]
    return "\n".join(lines) + "\n"
