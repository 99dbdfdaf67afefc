"""MDL-010 List Hygiene Scorer: per message about to be sent, P(it hard-bounces: the address is
dead) and P(it soft-bounces: the mailbox is full), from what the sender knows of the address — its
own history of deliveries, bounces and opens, where it came from (`acquisition_source`), its
provider, and what the address says about itself (`address.check_address`).

A dead address looks like a live one until a message to it bounces; what hints at it is how long
ago mail last reached it, whether its owner still reads it (abandoned mailboxes fill up and are
closed), and where it was collected. A full mailbox is seen only when a message bounces off it, and
stays full for days. Spam traps never bounce nor open: no label names them, so the model does not
score them; the sending loop measures the trap hits each policy lets through (`benchmarks/`).

Two heads on the same inputs (`platform.training.binary_head`), the learner chosen by the
pipeline's search. A blocked message says nothing about the address and is not a label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.features.definitions import NEVER_DAYS
from adaptive_delivery.delivery.models.mdl006_churn_risk.model import days_since_open, open_rate
from adaptive_delivery.delivery.models.mdl010_list_hygiene.address import (
    ADDRESS_CHECKS,
    check_addresses,
)
from adaptive_delivery.platform.spec import TrainingProfile
from adaptive_delivery.platform.training import binary_head
from adaptive_delivery.platform.training.binary_head import BinaryHead, HeadConfig
from adaptive_delivery.platform.training.dataset import Dataset, encode

MODEL_ID = "MDL-010"
CLASSES = ("reached", "soft_bounce", "hard_bounce")
REACHED, SOFT, HARD = range(3)
# A bounce comes back within minutes; a deferred message may bounce after a day of retries.
ATTRIBUTION = pd.Timedelta(hours=24)

SUBSCRIBER = "subscriber_features__"
ADDRESS_CHECK = "address_check"
ACQUISITION = "acquisition_source"
CATEGORICAL = [f"{SUBSCRIBER}domain_category", "provider", ACQUISITION, ADDRESS_CHECK]
NUMERIC = [f"{SUBSCRIBER}{c}" for c in (
    "days_since_last_open", "days_since_last_click", "opens_30d", "clicks_30d", "emails_received_30d",
    "emails_received_total", "hard_bounces_total", "soft_bounces_total", "days_since_last_bounce",
    "days_since_last_delivery", "tenure_days", "engagement_score", "complaints_total")]
FEATURES = NUMERIC + CATEGORICAL
# the address check is computed from the request's `email` (service.answer)
SERVED_INPUTS = {**{c: "feature_store" for c in NUMERIC + CATEGORICAL[:1]}, "provider": "request",
                 ACQUISITION: "request", "email": "request"}
HARD_TOTAL = f"{SUBSCRIBER}hard_bounces_total"
SOFT_TOTAL = f"{SUBSCRIBER}soft_bounces_total"
SINCE_BOUNCE = f"{SUBSCRIBER}days_since_last_bounce"
SINCE_DELIVERY = f"{SUBSCRIBER}days_since_last_delivery"
TENURE = f"{SUBSCRIBER}tenure_days"
# The row-level best rule (`hygiene_rule_rates`): a typical list's bounce rates, an address that
# hard-bounced before is dead, one that soft-bounced lately likely still full.
TYPICAL_HARD_RATE = 0.003
TYPICAL_SOFT_RATE = 0.01


# ---- labels ----------------------------------------------------------------------------------
def labels_from_lake(lake_root: str | Path) -> pd.DataFrame:
    """One row per sent message whose address answered (its last outcome accepted, or bounced hard
    or soft) and old enough to have answered: the send's keys and time, the address and its
    acquisition source (the subscriber record), the address's check, and the class."""
    lake = EventsLake(lake_root)
    sends = lake.read("sends", columns=["message_id", "subscriber_id", "provider", "send_ts"]).to_pandas()
    people = lake.read("subscribers", columns=["subscriber_id", "email", ACQUISITION]).to_pandas()
    if sends.empty:
        return sends.assign(label=pd.Series(dtype=int), event_timestamp=sends["send_ts"], email=None,
                            **{ACQUISITION: None, ADDRESS_CHECK: None})
    outcomes = lake.read("outcomes", columns=["message_id", "event_ts", "status", "bounce_class"]).to_pandas()
    final = outcomes.sort_values(["message_id", "event_ts"]).groupby("message_id").tail(1)
    bounced = final["status"] == "bounced"
    label = np.select([final["status"] == "accepted", bounced & (final["bounce_class"] == "soft"),
                       bounced & (final["bounce_class"] == "hard")], [REACHED, SOFT, HARD], -1)
    final = final.assign(label=label)[label >= 0][["message_id", "label"]]
    newest = sends["send_ts"].max()
    frame = sends[sends["send_ts"] <= newest - ATTRIBUTION].merge(final, on="message_id")
    frame = frame.merge(people.drop_duplicates("subscriber_id"), on="subscriber_id", how="left")
    out = with_address_check(frame.assign(label=frame["label"].astype(int), event_timestamp=frame["send_ts"]))
    return out.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def with_address_check(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with ADDRESS_CHECK from its `email` column (kept where already there)."""
    if ADDRESS_CHECK in frame.columns:
        return frame
    return frame.assign(**{ADDRESS_CHECK: check_addresses(frame["email"])})


def dataset_from_frame(frame: pd.DataFrame, categories: dict[str, list[str]] | None = None) -> Dataset:
    """A Feast training frame (labels joined with the mdl_010_list_hygiene service) as inputs."""
    frame = with_address_check(frame)
    X, cats = encode(frame, FEATURES, CATEGORICAL, categories or {ADDRESS_CHECK: list(ADDRESS_CHECKS)})
    return Dataset(X=X, y=frame["label"].to_numpy(dtype=int),
                   keys=frame[["message_id", "event_timestamp", "subscriber_id", "provider"]].reset_index(drop=True),
                   categories=cats)


# ---- derived inputs --------------------------------------------------------------------------
def days_since(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Days since an event the feature store counts in days; never (NEVER_DAYS or missing) reads
    as the address's whole tenure."""
    since = frame[column].astype(float).to_numpy()
    tenure = frame[TENURE].astype(float).fillna(0.0).to_numpy()
    never = ~np.isfinite(since) | (since >= NEVER_DAYS)
    return np.clip(np.where(never, tenure, since), 0.0, None)


def with_derived(X: pd.DataFrame) -> pd.DataFrame:
    """`X` plus its counts read as a hygiene desk reads them: whether the address ever bounced hard,
    how long since mail last reached it (an address dies between deliveries), whether it ever did,
    how recently it soft-bounced, and the owner's shrunk open rate and days since an open."""
    never_reached = X[SINCE_DELIVERY].astype(float).fillna(NEVER_DAYS) >= NEVER_DAYS
    soft = X[SOFT_TOTAL].fillna(0).to_numpy(dtype=float) > 0
    return X.assign(
        hard_bounced=(X[HARD_TOTAL].fillna(0).to_numpy(dtype=float) > 0).astype(float),
        log_days_since_reached=np.log1p(days_since(X, SINCE_DELIVERY)),
        never_reached=never_reached.astype(float),
        log_days_since_soft=np.where(soft, np.log1p(days_since(X, SINCE_BOUNCE)), np.log1p(NEVER_DAYS)),
        open_rate_shrunk=open_rate(X),
        log_days_since_open=np.log1p(days_since_open(X)),
    )


# ---- the model -------------------------------------------------------------------------------
class HygieneModel:
    """Two heads over the encoded features and `with_derived`'s; `predict_proba` gives the three
    classes' probabilities (reached, soft bounce, hard bounce) on encoded rows."""

    def __init__(self, config: HeadConfig | None = None) -> None:
        self.config = config or HeadConfig()
        self.columns: list[str] = []
        self.hard: BinaryHead | None = None
        self.soft: BinaryHead | None = None

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> HygieneModel:
        derived = with_derived(X)
        self.columns = list(derived.columns)
        matrix = derived.to_numpy(dtype=float)
        categorical = [self.columns.index(c) for c in CATEGORICAL]
        y = np.asarray(y, dtype=int)
        self.hard = BinaryHead(self.config, categorical).fit(matrix, y == HARD)
        alive = y != HARD  # a dead address cannot be full: the soft head learns among live ones
        self.soft = BinaryHead(self.config, categorical).fit(matrix[alive], y[alive] == SOFT)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        matrix = with_derived(X)[self.columns].to_numpy(dtype=float)
        p_hard = np.clip(self.hard.predict(matrix), 0.0, 1.0)
        p_soft = np.clip(self.soft.predict(matrix), 0.0, 1.0) * (1.0 - p_hard)
        return np.column_stack([1.0 - p_hard - p_soft, p_soft, p_hard])


def search_space(trial, profile: TrainingProfile) -> dict:
    """Optuna's search space: which learner, and its regularisation (`binary_head`'s)."""
    return binary_head.search_space(trial)


def baseline_params() -> dict:
    return binary_head.baseline_params()


def fit(data: Dataset, params: dict, profile: TrainingProfile) -> HygieneModel:
    return HygieneModel(binary_head.config_from(params, MODEL_ID)).fit(data.X, data.y)


# ---- metrics and the best rule ---------------------------------------------------------------
def report(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """ROC-AUC and calibration of P(hard bounce) (the primary: hard bounces are what list an IP),
    of P(soft bounce), and of P(either)."""
    from sklearn.metrics import roc_auc_score

    from adaptive_delivery.platform.training.evaluation import binary_calibration_error

    y = np.asarray(y, dtype=int)
    proba = np.asarray(proba, dtype=float)
    out: dict[str, float] = {}
    for name, p, hit in (("hard_bounce", proba[:, HARD], y == HARD), ("soft_bounce", proba[:, SOFT], y == SOFT),
                         ("bounce", proba[:, HARD] + proba[:, SOFT], y != REACHED)):
        out[f"{name}_roc_auc"] = float(roc_auc_score(hit, p)) if 0 < hit.sum() < len(hit) else float("nan")
        out[f"{name}_ece"] = binary_calibration_error(hit, p) if len(hit) else float("nan")
        out[f"{name}_positives"] = float(hit.sum())
    return out


def hygiene_rule_rates(frame: pd.DataFrame) -> np.ndarray:
    """The best rule as class probabilities: an address that hard-bounced is dead; one that
    soft-bounced in the last week is likely still full; otherwise a typical list's rates, doubled
    for every month since the owner last opened (the sunset rule's order). Its order is the rule's;
    its level is not learned."""
    hard_before = frame[HARD_TOTAL].fillna(0).to_numpy(dtype=float) > 0
    soft_lately = (frame[SOFT_TOTAL].fillna(0).to_numpy(dtype=float) > 0) & (days_since(frame, SINCE_BOUNCE) < 7)
    factor = np.power(2.0, days_since_open(frame) / 30.0)
    p_hard = np.where(hard_before, 0.95, np.clip(TYPICAL_HARD_RATE * factor, 0.0, 0.5))
    p_soft = (1.0 - p_hard) * np.where(soft_lately, 0.5, np.clip(TYPICAL_SOFT_RATE * factor, 0.0, 0.5))
    return np.column_stack([1.0 - p_hard - p_soft, p_soft, p_hard])
