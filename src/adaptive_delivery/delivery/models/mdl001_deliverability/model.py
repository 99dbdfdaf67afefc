"""MDL-001 Deliverability Predictor: per message, P(inbox, spam, soft bounce, hard bounce, block)
from subscriber, sender, content, temporal and provider-context features (spec §3.1), as an
ensemble of gradient-boosted trees (XGBoost) and a feed-forward network (PyTorch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.platform import feature_adoption
from adaptive_delivery.platform.compiled_trees import NumpyTrees
from adaptive_delivery.platform.spec import TrainingProfile
from adaptive_delivery.platform.training.dataset import Dataset, encode
from adaptive_delivery.platform.training.threads import training_threads

MODEL_ID = "MDL-001"
CLASSES = ("inbox", "spam", "soft_bounce", "hard_bounce", "block")
# A message accepted with no placement seen (most are: only seed and panel addresses show it) is
# labelled "inbox or spam" (a partial label, `ModelSpec.partial_labels`).
ACCEPTED_UNSEEN = len(CLASSES)
PARTIAL_LABELS = {ACCEPTED_UNSEEN: (CLASSES.index("inbox"), CLASSES.index("spam"))}
# Where a message ends, known for every message: the first head's classes.
FATES = ("accepted", "soft_bounce", "hard_bounce", "block")
# Feature columns as Feast returns them (full names) for the mdl_001_deliverability service.
CATEGORICAL = ["subscriber_features__email_domain", "subscriber_features__domain_category", "provider"]
NUMERIC = [
    "subscriber_features__engagement_score", "subscriber_features__days_since_last_open",
    "subscriber_features__opens_30d", "subscriber_features__clicks_30d", "subscriber_features__emails_received_30d",
    "subscriber_features__bounce_history", "subscriber_features__complaint_history",
    "subscriber_features__hard_bounces_total", "subscriber_features__tenure_days",
    "subscriber_features__soft_bounces_total", "subscriber_features__days_since_last_bounce",
    "subscriber_features__inbox_placements_30d", "subscriber_features__spam_placements_30d",
    "subscriber_features__days_since_last_click", "subscriber_features__typical_response_hours",
    "subscriber_features__days_since_last_delivery", "subscriber_features__emails_received_total",
    *[f"sender_domain_features__{c}" for c in (
        "sent_24h", "hard_bounce_rate_24h", "soft_bounce_rate_24h", "block_rate_24h", "deferral_rate_24h",
        "complaint_rate_24h", "open_rate_24h", "volume_today", "volume_this_hour", "warmup_stage", "domain_age_days",
        "spf", "dkim", "dmarc", "one_click_unsubscribe")],
    *[f"sender_ip_features__{c}" for c in (
        "sent_24h", "hard_bounce_rate_24h", "block_rate_24h", "deferral_rate_24h", "complaint_rate_24h",
        "open_rate_24h", "volume_today", "volume_this_hour", "warmup_stage", "ip_age_days")],
    *[f"sender_provider_features__{c}" for c in (
        "sent_24h", "volume_this_hour", "block_rate_24h", "deferral_rate_24h", "bounce_rate_24h",
        "spam_placement_rate_24h", "placements_24h")],
    *[f"content_features__{c}" for c in (
        "subject_length", "subject_spam_words", "body_spam_words", "all_caps_share", "exclamation_density",
        "link_count", "image_count", "image_to_text_ratio", "personalization_level", "has_unsubscribe_link",
        "has_list_unsubscribe_header", "content_spam_risk")],
    *[f"content_provider_features__{c}" for c in (
        "outcomes_so_far", "block_rate_so_far", "spam_share_so_far", "bounce_rate_so_far", "deferral_rate_so_far")],
    *[f"provider_features__{c}" for c in (
        "attempts_15m", "accept_rate_15m", "deferrals_per_min", "blocks_per_min", "rate_4xx_15m", "rate_5xx_15m",
        "mean_latency_ms_15m", "throttle_signals_per_min")],
    "temporal_features__hour_of_day", "temporal_features__day_of_week", "temporal_features__is_weekend",
    "temporal_features__is_holiday", "send_rate_per_min", "is_transactional",
]
FEATURES = NUMERIC + CATEGORICAL
# Rates the model derives from the counts above: a 30-day count means something else after three
# days of history than after three weeks, a rate does not (the holdout always has more history
# than the start of the training window). NaN where nothing was delivered.
DERIVED = ("open_rate_30d", "spam_share_30d")


def final_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Each message's last delivery outcome (status, bounce class, placement) and its class index
    in CLASSES; ACCEPTED_UNSEEN for an accepted message with no placement seen; -1 where it has
    none yet (still deferred)."""
    final = outcomes.sort_values(["message_id", "event_ts"]).groupby("message_id").tail(1)
    accepted = final["status"] == "accepted"
    cls = np.select(
        [accepted & (final["placement"] == "inbox"),
         accepted & (final["placement"] == "spam"),
         accepted,
         (final["status"] == "bounced") & (final["bounce_class"] == "soft"),
         (final["status"] == "bounced") & (final["bounce_class"] == "hard"),
         final["status"] == "blocked"],
        [0, 1, ACCEPTED_UNSEEN, 2, 3, 4], default=-1)
    return final.assign(label=cls).reset_index(drop=True)


def labels_from_lake(lake_root: str | Path) -> pd.DataFrame:
    """One row per message with a known final outcome: the send's keys, its time, and the class.

    A message's label is its last delivery outcome: accepted with an observed placement (inbox or
    spam), accepted with none seen (ACCEPTED_UNSEEN, as most are in real logs), a soft or hard
    bounce, or a block. Messages still deferred have no label yet and are left out.
    """
    lake = EventsLake(lake_root)
    sends = lake.read("sends", columns=["message_id", "subscriber_id", "sending_domain", "sending_ip", "provider",
                                        "content_id", "send_ts", "send_rate_per_min", "campaign_type"]).to_pandas()
    out = lake.read("outcomes", columns=["message_id", "attempt", "event_ts", "status", "bounce_class", "placement"]).to_pandas()
    final = final_outcomes(out)
    frame = sends.merge(final.loc[final["label"] >= 0, ["message_id", "label"]], on="message_id", how="inner")
    frame["event_timestamp"] = frame["send_ts"]
    frame["is_transactional"] = (frame["campaign_type"] == "transactional").astype(float)
    return frame.drop(columns=["campaign_type"]).reset_index(drop=True)


def model_columns(extra: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(feature columns, categorical columns) the model reads: FEATURES, then the features a person
    adopted (`platform.feature_adoption`; `extra` instead, for a shadow trial), column -> kind."""
    extra = feature_adoption.adopted(MODEL_ID) if extra is None else extra
    added = [c for c in extra if c not in FEATURES]
    return FEATURES[:len(NUMERIC)] + added + CATEGORICAL, \
        CATEGORICAL + [c for c in added if extra[c] == "categorical"]


def dataset_from_frame(frame: pd.DataFrame, categories: dict[str, list[str]] | None = None,
                       extra: Mapping[str, str] | None = None) -> Dataset:
    """Encode a Feast training frame (labels joined with features) into model inputs: the model's
    columns (`model_columns`)."""
    columns, categorical = model_columns(extra)
    X, cats = encode(frame, columns, categorical, categories)
    return Dataset(X=X, y=frame["label"].to_numpy(dtype=int),
                   keys=frame[["message_id", "event_timestamp", "subscriber_id", "provider"]].reset_index(drop=True),
                   categories=cats)


# ---- the model -------------------------------------------------------------------------------
def with_derived(X: pd.DataFrame) -> pd.DataFrame:
    """`X` plus the DERIVED rates (computed the same way in training and serving): opens per message
    sent (every subscriber has it), and the spam share of the placements seen (panel members only;
    NaN for everyone else)."""
    inbox = X.get("subscriber_features__inbox_placements_30d")
    spam = X.get("subscriber_features__spam_placements_30d")
    opens = X.get("subscriber_features__opens_30d")
    received = X.get("subscriber_features__emails_received_30d")
    if inbox is None or spam is None or opens is None or received is None:
        return X
    open_rate, spam_share = derived_rates(*(c.to_numpy(dtype=np.float64) for c in (inbox, spam, opens, received)))
    return X.assign(open_rate_30d=open_rate, spam_share_30d=spam_share)


def derived_rates(inbox: np.ndarray, spam: np.ndarray, opens: np.ndarray,
                  received: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`with_derived`'s two rates from the four 30-day counts (NaN where the denominator is not
    positive), on arrays: the compiled model computes them the same way."""
    placed = inbox + spam
    with np.errstate(divide="ignore", invalid="ignore"):
        return (opens / np.where(received > 0, received, np.nan),
                spam / np.where(placed > 0, placed, np.nan))


# Where the network's and the placement regression's inputs are clipped: the training values'
# 0.1% and 99.9% quantiles. A linear model extrapolates: a rate that was near-constant in training
# and jumps for one new campaign (a domain's soft bounces) put whole campaigns at P(spam) > 0.9.
CLIP_QUANTILES = (0.001, 0.999)


def scaled_inputs(a: np.ndarray, median: np.ndarray, mean: np.ndarray, std: np.ndarray,
                  bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The network's and the placement regression's inputs: missing values imputed with the
    training medians, clipped to the training range (`bounds`; none for a model saved before
    there were bounds), standardised, then one missing-indicator per column (float32)."""
    miss = np.isnan(a)
    a = np.where(miss, median, a)
    if bounds is not None:
        a = np.clip(a, *bounds)
    a = (a - mean) / std
    return np.concatenate([a, miss.astype(np.float64)], axis=1).astype(np.float32)


class _Inputs:
    """One batch's inputs to every part of the ensemble, each made at most once: the trees'
    float32 matrix, and the network's and the placement regression's imputed, scaled inputs."""

    def __init__(self, model: DeliverabilityEnsemble, derived: pd.DataFrame) -> None:
        self.model, self.derived, self.rows = model, derived, len(derived)
        self._matrix: np.ndarray | None = None
        self._scaled: np.ndarray | None = None

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = self.derived[self.model.columns].to_numpy(dtype=np.float32)
        return self._matrix

    @property
    def scaled(self) -> np.ndarray:
        if self._scaled is None:
            self._scaled = self.model._nn_inputs(self.derived)
        return self._scaled


@dataclass
class EnsembleConfig:
    # Shallow, well-populated trees: most of the signal is per subscriber and per sender, and deep
    # trees learn each campaign's content by heart (the holdout's campaigns are new ones).
    xgb_params: dict = field(default_factory=lambda: {
        "max_depth": 4, "learning_rate": 0.05, "n_estimators": 400, "min_child_weight": 50.0, "subsample": 0.9,
        "colsample_bytree": 0.7, "reg_lambda": 1.0, "reg_alpha": 1e-4})
    nn_hidden: tuple[int, ...] = (64, 32)
    nn_epochs: int = 12
    nn_lr: float = 2e-3
    nn_batch: int = 512
    nn_weight: float = 0.15  # share of the network in the averaged probabilities
    # The placement head learns from the panel's few percent of accepted mail: an L2-regularised
    # logistic regression (inverse strength `placement_c`) that holds up on a few hundred rows,
    # averaged with trees by `placement_tree_weight` (worth it only with many panel rows).
    placement_c: float = 0.005
    placement_tree_weight: float = 0.0
    # Vector scaling of the fate head on the most recent slice (the validation share of the rows).
    calibrate: bool = True
    # The trees stop growing when the primary metric (macro ROC-AUC) on the most recent slice of
    # the training window stops improving: n_estimators is a ceiling. (Stopping on the slice's log
    # loss stopped after ~20 trees: the slice's class shares move from day to day, its ranking does not.)
    early_stopping_rounds: int = 30
    validation_share: float = 0.1
    seed: int = 0


def slice_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The trees' early-stopping metric: macro ROC-AUC (a binary head's scores as two columns)."""
    # here, not at module level: it imports sklearn, which DAG parsing must not pay for
    from adaptive_delivery.platform.training.evaluation import macro_roc_auc

    proba = np.asarray(proba)
    return macro_roc_auc(y_true, np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba)


def level_shift(logits: np.ndarray, target_mean: float) -> float:
    """The shift of every logit that makes the mean probability `target_mean` (bisection)."""
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if (1.0 / (1.0 + np.exp(-(logits + mid)))).mean() < target_mean:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def fates(y: np.ndarray) -> np.ndarray:
    """Class labels (with ACCEPTED_UNSEEN) as FATES indices: inbox, spam and unseen are accepted."""
    y = np.asarray(y).astype(int)
    return np.select([np.isin(y, (0, 1, ACCEPTED_UNSEEN)), y == 2, y == 3, y == 4], [0, 1, 2, 3], default=-1)


@dataclass
class TemperatureScaling:
    """p'_k ∝ p_k^(1/T) · exp(b_k): one temperature and a bias per class, fitted by maximum
    likelihood on held-out rows. It moves each class's level and the sharpness of all of them, and
    leaves how rows rank within a class almost untouched (a full matrix would mix the classes)."""

    temperature: float = 1.0
    bias: np.ndarray | None = None

    def fit(self, proba: np.ndarray, y: np.ndarray) -> TemperatureScaling:
        from scipy.optimize import minimize

        logp = np.log(np.clip(proba, 1e-7, 1.0))
        k = logp.shape[1]

        def nll(theta: np.ndarray) -> float:
            z = logp / np.exp(theta[0]) + theta[1:]
            z -= z.max(axis=1, keepdims=True)
            return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean())

        theta = minimize(nll, np.zeros(k + 1), method="L-BFGS-B").x
        self.temperature, self.bias = float(np.exp(theta[0])), theta[1:]
        return self

    def apply(self, proba: np.ndarray) -> np.ndarray:
        z = np.log(np.clip(proba, 1e-7, 1.0)) / self.temperature + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class DeliverabilityEnsemble:
    """Two heads, because a sender sees where every message ends but inbox or spam only for a few:
    - the fate head, P(accepted, soft bounce, hard bounce, block), learns from every message
      (XGBoost and a feed-forward network, probabilities averaged);
    - the placement head, P(spam | accepted), learns from the accepted messages whose placement was
      seen (seed and panel addresses, a random sample of the accepted ones; XGBoost).
    P(inbox) = P(accepted)(1 - P(spam | accepted)), P(spam) = P(accepted) P(spam | accepted).
    Missing values: native in XGBoost; for the network, imputed with training medians plus a
    missing-indicator per column."""

    def __init__(self, config: EnsembleConfig | None = None) -> None:
        self.config = config or EnsembleConfig()
        self.xgb = None
        self.placement = None
        self.spam_prior = 0.0
        self.net = None
        self.columns: list[str] = []

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> DeliverabilityEnsemble:
        X = with_derived(X)
        self.columns = list(X.columns)
        matrix = X.to_numpy(dtype=np.float32)
        fate = fates(y)
        cut = len(fate) - int(len(fate) * self.config.validation_share)
        # The most recent slice is held out of the fate head to stop its trees and to calibrate it:
        # the list cleans and senders change over a training window, and a model's levels lag.
        calibrate = self.config.calibrate and len(np.unique(fate[cut:])) == len(FATES) and cut > 0
        self.xgb = self._fit_trees(matrix, fate, len(FATES), hold_out_recent=calibrate)
        self._fit_scaling(X)
        if self.config.nn_weight > 0:
            self._fit_net(X.iloc[:cut] if calibrate else X, fate[:cut] if calibrate else fate)
        self.fate_calibration = (TemperatureScaling().fit(self._raw_fates(_Inputs(self, X.iloc[cut:])), fate[cut:])
                                 if calibrate else None)
        seen = np.isin(np.asarray(y).astype(int), (0, 1))
        spam = (np.asarray(y)[seen] == 1).astype(int)
        self.spam_prior = float(spam.mean()) if seen.any() else 0.0
        self.placement = self.placement_trees = None
        if len(np.unique(spam)) == 2:
            from sklearn.linear_model import LogisticRegression

            self.placement = LogisticRegression(C=self.config.placement_c, max_iter=2_000).fit(
                self._nn_inputs(X[seen]), spam)
            # The panel is a random sample of the accepted mail: over all of it, the head must
            # average the panel's spam share (its own features alone pull it toward the panel's).
            accepted = np.asarray(fate == 0)
            self.placement.intercept_ = self.placement.intercept_ + level_shift(
                self.placement.decision_function(self._nn_inputs(X[accepted])), self.spam_prior)
            if self.config.placement_tree_weight > 0:
                self.placement_trees = self._fit_trees(matrix[seen], spam, 2)
        return self

    def predict_spam_given_accepted(self, X: pd.DataFrame) -> np.ndarray:
        """P(spam | accepted) per row (the panel's share where the panel saw both outcomes too rarely)."""
        return self._spam(_Inputs(self, with_derived(X)))

    def _spam(self, inputs: _Inputs) -> np.ndarray:
        if self.placement is None:
            return np.full(inputs.rows, self.spam_prior)
        p = self.placement.predict_proba(inputs.scaled)[:, 1]
        if self.placement_trees is not None:
            w = self.config.placement_tree_weight
            p = (1 - w) * p + w * self.placement_trees.predict_proba(inputs.matrix)[:, 1]
        return p

    def _fit_trees(self, matrix: np.ndarray, target: np.ndarray, n_classes: int, hold_out_recent: bool = False):
        """Gradient-boosted trees that stop growing when the macro ROC-AUC on the most recent slice
        stops improving (rows arrive in time order): n_estimators is a ceiling. `hold_out_recent`
        keeps that slice out of the trees even when it cannot stop them."""
        import xgboost as xgb

        cut = len(target) - int(len(target) * self.config.validation_share)
        enough = len(np.unique(target[:cut])) == n_classes and len(np.unique(target[cut:])) == n_classes
        stop = self.config.early_stopping_rounds if self.config.early_stopping_rounds and enough else None
        if hold_out_recent and not stop:
            matrix, target = matrix[:cut], target[:cut]
        binary = n_classes == 2
        callbacks = [xgb.callback.EarlyStopping(rounds=stop, metric_name="slice_auc", maximize=True, save_best=True)] if stop else None
        objective = {"objective": "binary:logistic"} if binary else {"objective": "multi:softprob", "num_class": n_classes}
        model = xgb.XGBClassifier(**objective, tree_method="hist", n_jobs=training_threads(), random_state=self.config.seed,
                                  eval_metric=slice_auc, callbacks=callbacks, **self.config.xgb_params)
        if stop:
            model.fit(matrix[:cut], target[:cut], eval_set=[(matrix[cut:], target[cut:])], verbose=False)
        else:
            model.fit(matrix, target)
        return model

    # -- the network's and the placement regression's inputs --
    def _fit_scaling(self, X: pd.DataFrame) -> None:
        """Training medians (for imputing) and the mean and spread of every column."""
        a = X[self.columns].to_numpy(dtype=np.float64)
        self._median = np.nan_to_num(np.nanmedian(a, axis=0))  # an all-missing column imputes 0
        filled = np.where(np.isnan(a), self._median, a)
        self._bounds = tuple(np.quantile(filled, CLIP_QUANTILES, axis=0))
        filled = np.clip(filled, *self._bounds)
        self._mean, self._std = filled.mean(axis=0), filled.std(axis=0) + 1e-6

    def _nn_inputs(self, X: pd.DataFrame) -> np.ndarray:
        return scaled_inputs(X[self.columns].to_numpy(dtype=np.float64), self._median, self._mean, self._std,
                             getattr(self, "_bounds", None))

    def _fit_net(self, X: pd.DataFrame, y: np.ndarray) -> None:
        import torch
        from torch import nn

        torch.manual_seed(self.config.seed)
        # A GPU when there is one (the cluster's A100 step); the fitted network is kept on the CPU.
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        inputs = torch.from_numpy(self._nn_inputs(X)).to(device)
        target = torch.from_numpy(y.astype(np.int64)).to(device)
        layers: list[nn.Module] = []
        width = inputs.shape[1]
        for h in self.config.nn_hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, len(FATES)))
        self.net = nn.Sequential(*layers).to(device)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.config.nn_lr)
        loss_fn = nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(self.config.seed)
        self.losses: list[float] = []
        for _ in range(self.config.nn_epochs):
            order = torch.randperm(len(target), generator=gen).to(device)
            total = 0.0
            for start in range(0, len(order), self.config.nn_batch):
                idx = order[start:start + self.config.nn_batch]
                opt.zero_grad()
                loss = loss_fn(self.net(inputs[idx]), target[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            self.losses.append(total / len(target))
        self.net = self.net.cpu().eval()
        self.device_used = device.type

    def predict_fates(self, X: pd.DataFrame) -> np.ndarray:
        """P(accepted, soft bounce, hard bounce, block) per row, calibrated on the recent slice."""
        return self._fates(_Inputs(self, with_derived(X)))

    def _fates(self, inputs: _Inputs) -> np.ndarray:
        raw = self._raw_fates(inputs)
        calibration = getattr(self, "fate_calibration", None)
        return raw if calibration is None else calibration.apply(raw)

    def _raw_fates(self, inputs: _Inputs) -> np.ndarray:
        """The trees' and the network's fate probabilities, averaged."""
        p = self.xgb.predict_proba(inputs.matrix)
        if self.net is None or self.config.nn_weight <= 0:
            return p
        import torch

        with torch.no_grad():
            q = torch.softmax(self.net(torch.from_numpy(inputs.scaled)), dim=1).numpy()
        w = self.config.nn_weight
        return (1 - w) * p + w * q

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        # the derived columns, the trees' matrix and the scaled inputs are made once for both heads
        inputs = _Inputs(self, with_derived(X))
        if not hasattr(self, "spam_prior"):  # a one-head model registered before placements became partial
            return self._fates(inputs)
        fate = self._fates(inputs)
        spam = self._spam(inputs)
        accepted = fate[:, 0]
        return np.column_stack([accepted * (1 - spam), accepted * spam, fate[:, 1], fate[:, 2], fate[:, 3]])

    def compiled(self, threads: int | None = None) -> CompiledEnsemble | None:
        """The serving form (`CompiledEnsemble`); None for a one-head model registered before
        placements became partial (it keeps this class's own predict_proba)."""
        return CompiledEnsemble(self, threads) if hasattr(self, "spam_prior") else None

    def probe(self, rows: int = 256, seed: int = 0) -> pd.DataFrame:
        """Encoded rows spread like the training inputs (a tenth of the values missing), on which
        `TrainedModel.for_serving` checks the compiled form against this one."""
        rng = np.random.default_rng(seed)
        width = len(self.columns) - sum(c in self.columns for c in DERIVED)
        a = self._mean[:width] + self._std[:width] * rng.standard_normal((rows, width)) * 2
        a[rng.random(a.shape) < 0.1] = np.nan
        return pd.DataFrame(a, columns=self.columns[:width])

    def feature_importance(self) -> dict[str, float]:
        """Share of the trees' total gain per feature, both heads together."""
        named: dict[str, float] = {}
        for model in (self.xgb, self.placement_trees):
            if model is None:
                continue
            gain = model.get_booster().get_score(importance_type="gain")
            total = sum(gain.values()) or 1.0
            for k, v in gain.items():
                name = self.columns[int(k[1:])] if k.startswith("f") and k[1:].isdigit() else k
                named[name] = named.get(name, 0.0) + v / total
        total = sum(named.values()) or 1.0
        return dict(sorted(((k, v / total) for k, v in named.items()), key=lambda kv: -kv[1]))


# ---- the fastest faithful form, for serving ------------------------------------------------------
@dataclass(frozen=True)
class _NumpyNet:
    """The network's forward pass in numpy float32 (ReLU hidden layers, softmax out): torch's
    per-call dispatch and thread pool cost more than the arithmetic on a serving batch."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weight transposed, bias) per Linear

    @classmethod
    def of(cls, net) -> _NumpyNet:
        linear = [m for m in net if hasattr(m, "weight")]
        return cls(tuple((m.weight.detach().numpy().T.astype(np.float32).copy(),
                          m.bias.detach().numpy().astype(np.float32)) for m in linear))

    def proba(self, x: np.ndarray) -> np.ndarray:
        for w, b in self.layers[:-1]:
            x = np.maximum(x @ w + b, np.float32(0))
        w, b = self.layers[-1]
        z = x @ w + b
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


class _Trees:
    """A fitted XGBClassifier's booster, cut at its best iteration as predict_proba is: a handful
    of rows walk its trees in numpy (`platform.compiled_trees`: XGBoost's call alone costs more),
    small batches take XGBoost's inplace path on one thread (waking a pool for a few rows costs
    more than it saves), large ones `threads` threads (None: as trained)."""

    SMALL = 256  # rows
    NUMPY_WORK = 4096  # rows × trees up to which the numpy walk is faster than XGBoost's call

    def __init__(self, model, threads: int | None) -> None:
        self.iterations = model._get_iteration_range(None)
        self.many = model.get_booster().copy()
        if threads is not None:
            self.many.set_param({"nthread": threads})
        self.few = model.get_booster().copy()
        self.few.set_param({"nthread": 1})
        self.walk = NumpyTrees.of(self.few, self.iterations)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        if self.walk is not None and len(matrix) * len(self.walk.roots) <= self.NUMPY_WORK:
            return self.walk.predict(matrix)
        booster = self.few if len(matrix) < self.SMALL else self.many
        return booster.inplace_predict(matrix, iteration_range=self.iterations)


class CompiledEnsemble:
    """`DeliverabilityEnsemble.predict_proba` on an encoded float64 matrix (`TrainedModel.features`
    order) without pandas or torch: the boosters' `inplace_predict` on one contiguous float32 matrix,
    the network and the placement regression in numpy. `TrainedModel.compiled` checks it against
    the model it came from before anything is served."""

    def __init__(self, model: DeliverabilityEnsemble, threads: int | None = None) -> None:
        index = {c: j for j, c in enumerate(model.columns)}
        self.counts = [index[f"subscriber_features__{c}"] for c in (
            "inbox_placements_30d", "spam_placements_30d", "opens_30d", "emails_received_30d")]
        self.derived = [c for c in DERIVED if c in index]
        self.width = len(model.columns) - len(self.derived)
        self.xgb = _Trees(model.xgb, threads)
        self.placement_trees = None if model.placement_trees is None else _Trees(model.placement_trees, threads)
        self.tree_weight = model.config.placement_tree_weight
        self.net = None if model.net is None or model.config.nn_weight <= 0 else _NumpyNet.of(model.net)
        self.nn_weight = model.config.nn_weight
        self.median, self.mean, self.std = model._median, model._mean, model._std
        self.bounds = getattr(model, "_bounds", None)
        calibration = getattr(model, "fate_calibration", None)
        self.calibration = calibration
        self.spam_prior, self.placement = model.spam_prior, None
        if model.placement is not None:
            self.placement = (model.placement.coef_[0].astype(np.float64), float(model.placement.intercept_[0]))

    def _with_derived(self, x: np.ndarray) -> np.ndarray:
        if not self.derived:
            return x
        return np.column_stack([x, *derived_rates(*(x[:, j] for j in self.counts))])

    def predict_proba(self, encoded: np.ndarray) -> np.ndarray:
        a = self._with_derived(np.asarray(encoded, dtype=np.float64))
        matrix = np.ascontiguousarray(a, dtype=np.float32)
        p = self.xgb.predict(matrix)
        scaled = (scaled_inputs(a, self.median, self.mean, self.std, self.bounds)
                  if self.net is not None or self.placement is not None else None)
        if self.net is not None:
            p = (1 - self.nn_weight) * p + self.nn_weight * self.net.proba(scaled)
        fate = p if self.calibration is None else self.calibration.apply(p)
        if self.placement is None:
            spam = np.full(len(a), self.spam_prior)
        else:
            coef, intercept = self.placement
            spam = 1.0 / (1.0 + np.exp(-(scaled @ coef + intercept)))
            if self.placement_trees is not None:
                w = self.tree_weight
                spam = (1 - w) * spam + w * self.placement_trees.predict(matrix)
        accepted = fate[:, 0]
        return np.column_stack([accepted * (1 - spam), accepted * spam, fate[:, 1], fate[:, 2], fate[:, 3]])


# ---- the training entry points the generic pipeline calls --------------------------------------
XGB_PARAMS = ("max_depth", "learning_rate", "n_estimators", "min_child_weight", "subsample", "colsample_bytree",
              "reg_lambda", "reg_alpha")


def search_space(trial, profile: TrainingProfile) -> dict:
    """Optuna's search space: the trees' shape and regularisation, and the network's share."""
    return {
        "max_depth": trial.suggest_int("max_depth", 3, 6),
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.12, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 300, 900 if profile.name == "full" else 600, step=50),
        "min_child_weight": trial.suggest_float("min_child_weight", 5.0, 200.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-4, 1.0, log=True),
        "nn_weight": trial.suggest_float("nn_weight", 0.0, 0.5),
        "placement_c": trial.suggest_float("placement_c", 1e-3, 0.1, log=True),
        "placement_tree_weight": trial.suggest_float("placement_tree_weight", 0.0, 0.8),
    }


def baseline_params() -> dict:
    """The defaults of EnsembleConfig as a point of the search space (Optuna's first trial)."""
    base = EnsembleConfig()
    return {**{k: base.xgb_params[k] for k in XGB_PARAMS}, "nn_weight": base.nn_weight,
            "placement_c": base.placement_c, "placement_tree_weight": base.placement_tree_weight}


def config_from_params(params: dict, profile: TrainingProfile | None = None) -> EnsembleConfig:
    """An ensemble configuration from tuned parameters (unknown keys are an error, not ignored)."""
    base = EnsembleConfig()
    unknown = set(params) - set(XGB_PARAMS) - {"nn_weight", "nn_epochs", "nn_lr", "seed", "placement_c",
                                                "placement_tree_weight"}
    if unknown:
        raise ValueError(f"unknown MDL-001 parameters {sorted(unknown)}")
    xgb_params = {**base.xgb_params, **{k: params[k] for k in XGB_PARAMS if k in params}}
    epochs = int(params.get("nn_epochs", base.nn_epochs))
    if profile is not None:
        epochs = max(1, round(epochs * profile.epochs_scale))
    return EnsembleConfig(xgb_params=xgb_params, nn_weight=float(params.get("nn_weight", base.nn_weight)),
                          nn_epochs=epochs, nn_lr=float(params.get("nn_lr", base.nn_lr)), seed=int(params.get("seed", 0)),
                          placement_c=float(params.get("placement_c", base.placement_c)),
                          placement_tree_weight=float(params.get("placement_tree_weight", base.placement_tree_weight)))


def fit(data: Dataset, params: dict, profile: TrainingProfile) -> DeliverabilityEnsemble:
    return DeliverabilityEnsemble(config_from_params(params, profile)).fit(data.X, data.y)


def decide_actions(proba: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    """Spec §6.1: send / send_monitored / defer / skip, with the default thresholds; content the
    pre-send check scored at or above the bar is held (the decision service's rule)."""
    from adaptive_delivery.delivery.decisions.actions import decide
    from adaptive_delivery.delivery.decisions.service import content_risk

    return decide(proba, content_spam_risk=content_risk(rows)).action
