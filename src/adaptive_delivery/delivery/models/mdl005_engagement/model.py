"""MDL-005 Engagement Predictor: per accepted message (subscriber x content x send time), P(human
open) and P(click) within the attribution window, as one gradient-boosted multi-class model
(LightGBM) over three nested outcomes: not opened, opened without a click, clicked.

Machine opens (Apple Mail Privacy Protection fetches every image on delivery) are not engagement:
the labels and the subscriber features count human opens only. P(open) is the sum of the two
opened classes, so it can never be below P(click).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.platform.spec import TrainingProfile
from adaptive_delivery.platform.training.dataset import Dataset, encode
from adaptive_delivery.platform.training.threads import training_threads

MODEL_ID = "MDL-005"
CLASSES = ("not_opened", "opened", "clicked")
OPENED, CLICKED = CLASSES.index("opened"), CLASSES.index("clicked")
# Opens and clicks this long after the send count for it; a message sent less than this before the
# lake's newest send has no label yet (its opens may still come).
ATTRIBUTION = pd.Timedelta(hours=72)
OPEN_HEATMAP = "subscriber_features__open_hour_heatmap"
CLICK_HEATMAP = "subscriber_features__click_hour_heatmap"
HOURS = 24
# The best rule (what an operator without a model runs): each subscriber's own 30-day human open
# and click rates, shrunk toward a typical list's rates by this many messages' worth of prior.
PRIOR_MESSAGES = 4.0
PRIOR_OPEN_RATE = 0.20
PRIOR_CLICK_RATE = 0.03
# Not read: tenure, the total sent and the days since the last delivery. A young list's history
# grows with the window, so in training they said how old the window was, not how engaged a person
# is (validation: they cost ranking and calibration on the holdout's longer histories).
CATEGORICAL = ["subscriber_features__domain_category", "subscriber_features__client", "subscriber_features__device",
               "provider"]
NUMERIC = [
    *[f"subscriber_features__{c}" for c in (
        "engagement_score", "days_since_last_open", "days_since_last_click", "opens_30d", "clicks_30d",
        "emails_received_30d", "typical_response_hours", "engagement_consistency", "complaints_total",
        "inbox_placements_30d", "spam_placements_30d")],
    # the subscriber's share of human opens (and clicks) by UTC hour, one column per hour
    *[f"{OPEN_HEATMAP}[{h}]" for h in range(HOURS)],
    *[f"{CLICK_HEATMAP}[{h}]" for h in range(HOURS)],
    *[f"content_features__{c}" for c in (
        "subject_length", "subject_spam_words", "body_spam_words", "all_caps_share", "exclamation_density",
        "link_count", "image_count", "image_to_text_ratio", "personalization_level", "has_unsubscribe_link",
        "content_spam_risk")],
    "temporal_features__hour_of_day", "temporal_features__day_of_week", "temporal_features__is_weekend",
    "temporal_features__is_holiday", "is_transactional",
]
FEATURES = NUMERIC + CATEGORICAL
# What the caller sends (the heatmaps whole, 24 values per message) and where a sender reads it.
SERVED_INPUTS = {c: "feature_store" if "__" in c else "request"
                 for c in [*(c for c in NUMERIC if "[" not in c), OPEN_HEATMAP, CLICK_HEATMAP, *CATEGORICAL]}


# ---- labels ----------------------------------------------------------------------------------
def labels_from_lake(lake_root: str | Path) -> pd.DataFrame:
    """One row per accepted message old enough to be judged: the send's keys, its time, and the
    class (clicked, else opened by a person, else not opened) from the engagement events within
    ATTRIBUTION of the send. Bounced and blocked mail is MDL-001's to predict, not engagement."""
    lake = EventsLake(lake_root)
    sends = lake.read("sends", columns=["message_id", "subscriber_id", "sending_domain", "sending_ip", "provider",
                                        "content_id", "send_ts", "campaign_type"]).to_pandas()
    outcomes = lake.read("outcomes", columns=["message_id", "status"]).to_pandas()
    engaged = lake.read("engagement", columns=["message_id", "event_type", "machine_open", "event_ts"]).to_pandas()
    if sends.empty:
        return sends.assign(label=pd.Series(dtype=int), event_timestamp=sends["send_ts"], is_transactional=0.0)
    accepted = set(outcomes.loc[outcomes["status"] == "accepted", "message_id"])
    newest = sends["send_ts"].max()
    frame = sends[sends["message_id"].isin(accepted) & (sends["send_ts"] <= newest - ATTRIBUTION)]
    engaged = engaged.merge(frame[["message_id", "send_ts"]], on="message_id")
    in_window = (engaged["event_ts"] >= engaged["send_ts"]) & (engaged["event_ts"] < engaged["send_ts"] + ATTRIBUTION)
    engaged = engaged[in_window]
    human_open = engaged.loc[(engaged["event_type"] == "open") & ~engaged["machine_open"].astype(bool), "message_id"]
    click = engaged.loc[engaged["event_type"] == "click", "message_id"]
    label = np.where(frame["message_id"].isin(set(click)), CLICKED,
                     np.where(frame["message_id"].isin(set(human_open)), OPENED, 0))
    out = frame.assign(label=label, event_timestamp=frame["send_ts"],
                       is_transactional=(frame["campaign_type"] == "transactional").astype(float))
    return out.drop(columns=["campaign_type"]).sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def dataset_from_frame(frame: pd.DataFrame, categories: dict[str, list[str]] | None = None) -> Dataset:
    """A Feast training frame (labels joined with the mdl_005_engagement service) as model inputs."""
    X, cats = encode(frame, FEATURES, CATEGORICAL, categories)
    return Dataset(X=X, y=frame["label"].to_numpy(dtype=int),
                   keys=frame[["message_id", "event_timestamp", "subscriber_id", "provider"]].reset_index(drop=True),
                   categories=cats)


# ---- derived inputs --------------------------------------------------------------------------
def with_derived(X: pd.DataFrame) -> pd.DataFrame:
    """`X` plus the subscriber's habits read at this send's hour (the heatmaps' share at the send
    hour and the two after it, when a reply would come), the 30-day open and click rates, and the
    same rates shrunk toward a typical list's (the best rule's estimates: with a few messages of
    history, one split on them is worth more than many on the raw counts)."""
    hour = X["temporal_features__hour_of_day"].to_numpy(dtype=float)
    h = np.where(np.isfinite(hour), hour, 0).astype(int) % HOURS
    opens = X[[f"{OPEN_HEATMAP}[{k}]" for k in range(HOURS)]].to_numpy(dtype=float)
    clicks = X[[f"{CLICK_HEATMAP}[{k}]" for k in range(HOURS)]].to_numpy(dtype=float)
    rows = np.arange(len(X))
    ahead = [(h + k) % HOURS for k in range(3)]
    received = X["subscriber_features__emails_received_30d"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_message = 1.0 / np.where(received > 0, received, np.nan)
    return X.assign(
        open_share_send_hour=opens[rows, h],
        open_share_next_3h=sum(opens[rows, a] for a in ahead),
        click_share_next_3h=sum(clicks[rows, a] for a in ahead),
        open_rate_30d=X["subscriber_features__opens_30d"].to_numpy(dtype=float) * per_message,
        click_rate_30d=X["subscriber_features__clicks_30d"].to_numpy(dtype=float) * per_message,
        open_rate_shrunk=shrunk_rate(X["subscriber_features__opens_30d"], received, PRIOR_OPEN_RATE),
        click_rate_shrunk=shrunk_rate(X["subscriber_features__clicks_30d"], received, PRIOR_CLICK_RATE),
    )


def shrunk_rate(events, received, prior_rate: float) -> np.ndarray:
    """A person's rate of opens (or clicks) per message received, shrunk toward `prior_rate` by
    PRIOR_MESSAGES messages' worth of prior (missing counts count as none)."""
    events = np.nan_to_num(np.asarray(events, dtype=float))
    received = np.nan_to_num(np.asarray(received, dtype=float))
    return (events + PRIOR_MESSAGES * prior_rate) / (received + PRIOR_MESSAGES)


# ---- the model -------------------------------------------------------------------------------
@dataclass
class EngagementConfig:
    # Shallow, well-populated leaves: a subscriber's habit is most of the signal and a campaign's
    # words a little; deep trees would learn the training campaigns by heart.
    lgbm_params: dict = field(default_factory=lambda: {
        "num_leaves": 15, "learning_rate": 0.05, "n_estimators": 300, "min_child_samples": 200,
        "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.7, "reg_lambda": 1.0})
    # the trees stop when the log loss of the newest slice of the training window stops improving
    early_stopping_rounds: int = 30
    validation_share: float = 0.1
    seed: int = 0


LGBM_PARAMS = ("num_leaves", "learning_rate", "n_estimators", "min_child_samples", "subsample", "colsample_bytree",
               "reg_lambda")


class EngagementModel:
    """LightGBM multi-class over the encoded features and `with_derived`'s; `predict_proba` on encoded rows."""

    def __init__(self, config: EngagementConfig | None = None) -> None:
        self.config = config or EngagementConfig()
        self.columns: list[str] = []
        self.booster = None
        self.best_iteration = 0

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> EngagementModel:
        import lightgbm as lgb

        derived = with_derived(X)
        self.columns = list(derived.columns)
        cut = int(len(derived) * (1.0 - self.config.validation_share))  # rows come in time order
        params = {**self.config.lgbm_params}
        rounds = int(params.pop("n_estimators"))
        params.update(objective="multiclass", num_class=len(CLASSES), seed=self.config.seed, verbosity=-1,
                      num_threads=training_threads(), deterministic=True, force_row_wise=True)
        train = lgb.Dataset(derived.iloc[:cut].to_numpy(np.float32), y[:cut], free_raw_data=True)
        valid = lgb.Dataset(derived.iloc[cut:].to_numpy(np.float32), y[cut:], reference=train)
        self.booster = lgb.train(params, train, num_boost_round=rounds, valid_sets=[valid],
                                 callbacks=[lgb.early_stopping(self.config.early_stopping_rounds, verbose=False)])
        self.best_iteration = int(self.booster.best_iteration or rounds)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        matrix = with_derived(X)[self.columns].to_numpy(np.float32)
        return np.asarray(self.booster.predict(matrix, num_iteration=self.best_iteration), dtype=float)

    def feature_importance(self) -> dict[str, float]:
        gain = self.booster.feature_importance("gain", iteration=self.best_iteration)
        total = float(gain.sum()) or 1.0
        ranked = sorted(zip(self.columns, gain, strict=True), key=lambda kv: -kv[1])
        return {name: float(g) / total for name, g in ranked if g > 0}


def search_space(trial, profile: TrainingProfile) -> dict:
    """Optuna's search space: the trees' size, pace and regularisation."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.15, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 150, 800 if profile.name == "full" else 500, step=50),
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 1_000, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


def baseline_params() -> dict:
    """The defaults of EngagementConfig as a point of the search space (Optuna's first trial)."""
    base = EngagementConfig().lgbm_params
    return {k: base[k] for k in LGBM_PARAMS}


def fit(data: Dataset, params: dict, profile: TrainingProfile) -> EngagementModel:
    unknown = set(params) - set(LGBM_PARAMS) - {"seed"}
    if unknown:
        raise ValueError(f"unknown MDL-005 parameters {sorted(unknown)}")
    base = EngagementConfig()
    config = EngagementConfig(lgbm_params={**base.lgbm_params, **{k: params[k] for k in LGBM_PARAMS if k in params}},
                              seed=int(params.get("seed", 0)))
    return EngagementModel(config).fit(data.X, data.y)


# ---- metrics, the best rule and the referee ---------------------------------------------------
def open_and_click(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(human open) and P(click) from the three classes' probabilities."""
    proba = np.asarray(proba, dtype=float)
    return proba[:, OPENED] + proba[:, CLICKED], proba[:, CLICKED]


def report(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """ROC-AUC, calibration error and log loss of P(open) and of P(click), each against its own
    outcome (a click counts as an open)."""
    # here, not at module level: it imports sklearn, which DAG parsing must not pay for
    from sklearn.metrics import log_loss, roc_auc_score

    from adaptive_delivery.platform.training.evaluation import binary_calibration_error

    p_open, p_click = open_and_click(proba)
    out: dict[str, float] = {}
    for name, p, hit in (("open", p_open, y >= OPENED), ("click", p_click, y == CLICKED)):
        both = 0 < hit.sum() < len(hit)
        out[f"{name}_roc_auc"] = float(roc_auc_score(hit, p)) if both else float("nan")
        out[f"{name}_ece"] = binary_calibration_error(hit, p)
        out[f"{name}_log_loss"] = float(log_loss(hit, np.clip(p, 1e-7, 1 - 1e-7), labels=[False, True]))
    return out


def historical_rates(frame: pd.DataFrame) -> np.ndarray:
    """The best rule's class probabilities: P(open) and P(click) are the subscriber's smoothed
    30-day rates (opens and clicks per message received), P(click) at most P(open)."""
    received = frame["subscriber_features__emails_received_30d"]
    p_open = np.clip(shrunk_rate(frame["subscriber_features__opens_30d"], received, PRIOR_OPEN_RATE), 0.0, 1.0)
    p_click = np.minimum(shrunk_rate(frame["subscriber_features__clicks_30d"], received, PRIOR_CLICK_RATE), p_open)
    return np.column_stack([1.0 - p_open, p_open - p_click, p_click])


def referee(truth_dir: Path, holdout: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, records oracle, clairvoyant) for accepted messages. The labels are the lake's: a
    sender sees every human open and click. The oracle knows each person's habits and propensity
    and the content's quality, and where the message would land only as a probability (inbox or
    spam folder given accepted); the clairvoyant also knows where it landed."""
    from adaptive_delivery.platform.training.truth import truth_columns

    rows = truth_columns(truth_dir, holdout["message_id"], ["seen_p_open_if_accepted", "p_open", "p_click_if_opened"])
    click = rows["p_click_if_opened"].to_numpy(dtype=float)
    oracle = _classes(rows["seen_p_open_if_accepted"].to_numpy(dtype=float), click)
    clairvoyant = _classes(rows["p_open"].to_numpy(dtype=float), click)
    return holdout["label"].to_numpy(dtype=int), oracle, clairvoyant


def _classes(p_open: np.ndarray, p_click_if_opened: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p_open, p_open * (1.0 - p_click_if_opened), p_open * p_click_if_opened])
