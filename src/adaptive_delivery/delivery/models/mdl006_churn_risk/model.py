"""MDL-006 Churn and Complaint Risk: per accepted message, P(the person unsubscribes because of it)
and P(they report it as spam), from what the sender knows of the person; per person, the chance
of either within the next 30 days at their cadence (`policy.thirty_day_risk`).

Both are rare (a few per thousand messages and a few per ten thousand), and complaints are seen
only where the provider sends a feedback loop report: Gmail and most corporate and disposable
mailboxes do not. A message to such a provider that drew no unsubscribe is "not unsubscribed, and
complained or not, unknown": a partial label (`COMPLAINT_UNSEEN`), kept out of the complaint
head's training and metrics and counted as a stay by the unsubscribe head. Its unsubscribes are
seen, but kept apart too (`UNSUBSCRIBED_UNSEEN`): among the rows whose class is known they would be
positives with no negatives beside them, and a model that merely knew the provider would rank them.

Two heads, each a binary model on the same inputs, chosen on validation by the pipeline's search:
an L2-regularised logistic regression on standardised inputs, or LightGBM with large leaves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.features.definitions import NEVER_DAYS
from adaptive_delivery.delivery.models.mdl005_engagement.model import (
    PRIOR_CLICK_RATE,
    PRIOR_OPEN_RATE,
    shrunk_rate,
)
from adaptive_delivery.delivery.providers import CATALOGUE
from adaptive_delivery.platform.spec import TrainingProfile
from adaptive_delivery.platform.training import binary_head
from adaptive_delivery.platform.training.binary_head import BinaryHead, HeadConfig
from adaptive_delivery.platform.training.dataset import Dataset, encode

MODEL_ID = "MDL-006"
CLASSES = ("stayed", "unsubscribed", "complained")
STAYED, UNSUBSCRIBED, COMPLAINED = range(3)
# Where the provider sends no complaint reports: stayed or complained, unknown which; and an
# unsubscribe there (its class is known, its population's other classes are not).
COMPLAINT_UNSEEN, UNSUBSCRIBED_UNSEEN = 3, 4
PARTIAL_LABELS = {COMPLAINT_UNSEEN: (STAYED, COMPLAINED), UNSUBSCRIBED_UNSEEN: (UNSUBSCRIBED,)}
UNSEEN = (COMPLAINT_UNSEEN, UNSUBSCRIBED_UNSEEN)
# An unsubscribe or complaint this long after the send counts for it (they come within hours of
# reading); a message younger than this at the lake's newest send waits for its label.
ATTRIBUTION = pd.Timedelta(hours=72)
# Providers whose complaint reports reach the sender (a sender knows which it has loops with).
FEEDBACK_LOOP_PROVIDERS = frozenset(p.name for p in CATALOGUE if p.sends_fbl)

SUBSCRIBER = "subscriber_features__"
CATEGORICAL = [f"{SUBSCRIBER}domain_category", f"{SUBSCRIBER}client", f"{SUBSCRIBER}device", "provider"]
NUMERIC = [f"{SUBSCRIBER}{c}" for c in (
    "engagement_score", "days_since_last_open", "days_since_last_click", "opens_30d", "clicks_30d",
    "emails_received_30d", "emails_received_total", "typical_response_hours", "engagement_consistency",
    "soft_bounces_total", "tenure_days", "days_since_last_delivery", "inbox_placements_30d",
    "spam_placements_30d")]
FEATURES = NUMERIC + CATEGORICAL
SERVED_INPUTS = {c: "feature_store" if c.startswith(SUBSCRIBER) else "request" for c in FEATURES}
RECEIVED = f"{SUBSCRIBER}emails_received_30d"
DAYS_SINCE_OPEN = f"{SUBSCRIBER}days_since_last_open"
TENURE = f"{SUBSCRIBER}tenure_days"
# The row-level best rule (the sunset rule's order as a probability): a typical list's rates,
# rising with the days since the person last opened (`sunset_rates`).
TYPICAL_UNSUBSCRIBE_RATE = 0.002
TYPICAL_COMPLAINT_RATE = 0.0004


# ---- labels ----------------------------------------------------------------------------------
def labels_from_lake(lake_root: str | Path) -> pd.DataFrame:
    """One row per accepted message old enough to be judged: unsubscribed (an unsubscribe event for
    it within ATTRIBUTION), else complained (a feedback-loop report for it), else stayed; for a
    provider without a feedback loop `UNSUBSCRIBED_UNSEEN` or `COMPLAINT_UNSEEN`."""
    lake = EventsLake(lake_root)
    sends = lake.read("sends", columns=["message_id", "subscriber_id", "provider", "send_ts"]).to_pandas()
    if sends.empty:
        return sends.assign(label=pd.Series(dtype=int), event_timestamp=sends["send_ts"])
    outcomes = lake.read("outcomes", columns=["message_id", "status"]).to_pandas()
    engaged = lake.read("engagement", columns=["message_id", "event_type", "event_ts"]).to_pandas()
    complaints = lake.read("complaints", columns=["message_id", "event_ts"]).to_pandas()
    accepted = set(outcomes.loc[outcomes["status"] == "accepted", "message_id"])
    newest = sends["send_ts"].max()
    frame = sends[sends["message_id"].isin(accepted) & (sends["send_ts"] <= newest - ATTRIBUTION)]
    unsubscribed = _within(engaged[engaged["event_type"] == "unsubscribe"], frame)
    complained = _within(complaints, frame)
    seen = frame["provider"].isin(FEEDBACK_LOOP_PROVIDERS).to_numpy()
    ids = frame["message_id"]
    unsub = ids.isin(unsubscribed).to_numpy()
    label = np.select([unsub & seen, unsub, ids.isin(complained).to_numpy(), ~seen],
                      [UNSUBSCRIBED, UNSUBSCRIBED_UNSEEN, COMPLAINED, COMPLAINT_UNSEEN], STAYED)
    out = frame.assign(label=label.astype(int), event_timestamp=frame["send_ts"])
    return out.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def _within(events: pd.DataFrame, frame: pd.DataFrame) -> set:
    """Message ids of `events` that came within ATTRIBUTION of their message's send."""
    joined = events.merge(frame[["message_id", "send_ts"]], on="message_id")
    ok = (joined["event_ts"] >= joined["send_ts"]) & (joined["event_ts"] < joined["send_ts"] + ATTRIBUTION)
    return set(joined.loc[ok, "message_id"])


def dataset_from_frame(frame: pd.DataFrame, categories: dict[str, list[str]] | None = None) -> Dataset:
    """A Feast training frame (labels joined with the mdl_006_churn_complaint service) as inputs."""
    X, cats = encode(frame, FEATURES, CATEGORICAL, categories)
    return Dataset(X=X, y=frame["label"].to_numpy(dtype=int),
                   keys=frame[["message_id", "event_timestamp", "subscriber_id", "provider"]].reset_index(drop=True),
                   categories=cats)


# ---- derived inputs --------------------------------------------------------------------------
def with_derived(X: pd.DataFrame) -> pd.DataFrame:
    """`X` plus what a person's counts say once read as rates: the open and click rates shrunk
    toward a typical list's (MDL-005's estimates), the share of the panel's placements in the spam
    folder, and the days since the last open with "never" read as the whole tenure."""
    received = X[RECEIVED]
    placed = X[f"{SUBSCRIBER}inbox_placements_30d"].fillna(0) + X[f"{SUBSCRIBER}spam_placements_30d"].fillna(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        spam_share = np.where(placed > 0, X[f"{SUBSCRIBER}spam_placements_30d"].fillna(0) / placed, np.nan)
    return X.assign(
        open_rate_shrunk=open_rate(X),
        click_rate_shrunk=shrunk_rate(X[f"{SUBSCRIBER}clicks_30d"], received, PRIOR_CLICK_RATE),
        spam_placement_share=spam_share,
        log_days_since_open=np.log1p(days_since_open(X)),
        never_opened=(X[DAYS_SINCE_OPEN].fillna(NEVER_DAYS) >= NEVER_DAYS).astype(float),
    )


def open_rate(frame: pd.DataFrame) -> np.ndarray:
    """A person's expected opens per message: their 30-day open rate shrunk toward a typical
    list's (MDL-005's best-rule estimate, from the same inputs)."""
    return shrunk_rate(frame[f"{SUBSCRIBER}opens_30d"], frame[RECEIVED], PRIOR_OPEN_RATE)


def days_since_open(frame: pd.DataFrame) -> np.ndarray:
    """Days since the person last opened; for one who never did (the feature store's NEVER_DAYS, or
    missing), their tenure: how long they have gone without."""
    since = frame[DAYS_SINCE_OPEN].astype(float).to_numpy()
    tenure = frame[TENURE].astype(float).fillna(0.0).to_numpy()
    never = ~np.isfinite(since) | (since >= NEVER_DAYS)
    return np.clip(np.where(never, tenure, since), 0.0, None)


# ---- the model -------------------------------------------------------------------------------
LEARNERS = binary_head.LEARNERS
_Head = BinaryHead  # the name models registered before the head moved to the platform pickled


class RiskModel:
    """Two heads over the encoded features and `with_derived`'s; `predict_proba` gives the three
    classes' probabilities (stayed, unsubscribed, complained) on encoded rows."""

    def __init__(self, config: HeadConfig | None = None) -> None:
        self.config = config or HeadConfig()
        self.columns: list[str] = []
        self.unsubscribe: BinaryHead | None = None
        self.complaint: BinaryHead | None = None

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> RiskModel:
        derived = with_derived(X)
        self.columns = list(derived.columns)
        matrix = derived.to_numpy(dtype=float)
        categorical = [self.columns.index(c) for c in CATEGORICAL]
        y = np.asarray(y, dtype=int)
        self.unsubscribe = BinaryHead(self.config, categorical).fit(matrix, unsubscribed(y))
        seen = ~np.isin(y, UNSEEN)  # the complaint head learns where complaints are reported
        self.complaint = BinaryHead(self.config, categorical).fit(matrix[seen], y[seen] == COMPLAINED)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        matrix = with_derived(X)[self.columns].to_numpy(dtype=float)
        p_unsub = np.clip(self.unsubscribe.predict(matrix), 0.0, 1.0)
        # a complaint is a reader who did not unsubscribe instead
        p_complaint = np.clip(self.complaint.predict(matrix), 0.0, 1.0) * (1.0 - p_unsub)
        return np.column_stack([1.0 - p_unsub - p_complaint, p_unsub, p_complaint])


def search_space(trial, profile: TrainingProfile) -> dict:
    """Optuna's search space: which learner, and its regularisation (`binary_head`'s)."""
    return binary_head.search_space(trial)


def baseline_params() -> dict:
    return binary_head.baseline_params()


def fit(data: Dataset, params: dict, profile: TrainingProfile) -> RiskModel:
    return RiskModel(binary_head.config_from(params, MODEL_ID)).fit(data.X, data.y)


# ---- metrics, the best rule and the referee ---------------------------------------------------
def unsubscribed(y: np.ndarray) -> np.ndarray:
    """Whether each label is an unsubscribe (seen at every provider)."""
    return np.isin(np.asarray(y, dtype=int), (UNSUBSCRIBED, UNSUBSCRIBED_UNSEEN))


def report(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """ROC-AUC and calibration of P(unsubscribe) over every row, of P(complaint) over the rows whose
    provider reports complaints, and of P(either) over every row (`risk_*`, the primary: most of
    its positives are unsubscribes, so it is measurable on a few days of a small list; a complaint
    no report showed counts as a stay there, for every model alike)."""
    from sklearn.metrics import roc_auc_score

    from adaptive_delivery.platform.training.evaluation import binary_calibration_error

    y = np.asarray(y, dtype=int)
    proba = np.asarray(proba, dtype=float)
    seen = ~np.isin(y, UNSEEN)
    out: dict[str, float] = {}
    for name, p, hit, rows in (
            ("unsubscribe", proba[:, UNSUBSCRIBED], unsubscribed(y), np.ones(len(y), bool)),
            ("complaint", proba[:, COMPLAINED], y == COMPLAINED, seen),
            ("risk", proba[:, UNSUBSCRIBED] + proba[:, COMPLAINED], unsubscribed(y) | (y == COMPLAINED),
             np.ones(len(y), bool))):
        h, q = hit[rows], p[rows]
        out[f"{name}_roc_auc"] = float(roc_auc_score(h, q)) if 0 < h.sum() < len(h) else float("nan")
        out[f"{name}_ece"] = binary_calibration_error(h, q) if len(h) else float("nan")
        out[f"{name}_positives"] = float(h.sum())
    return out


def sunset_rates(frame: pd.DataFrame) -> np.ndarray:
    """The sunset rule as class probabilities: a typical list's rates, doubled for every month
    since the person last opened (never: their whole tenure). Its order is the rule's; its level
    is not learned."""
    factor = np.power(2.0, days_since_open(frame) / 30.0)
    p_unsub = np.clip(TYPICAL_UNSUBSCRIBE_RATE * factor, 0.0, 0.5)
    p_complaint = np.clip(TYPICAL_COMPLAINT_RATE * factor, 0.0, 0.5)
    return np.column_stack([1.0 - p_unsub - p_complaint, p_unsub, p_complaint])
