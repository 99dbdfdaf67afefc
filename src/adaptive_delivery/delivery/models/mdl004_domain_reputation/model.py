"""MDL-004 Domain Reputation Scorer: per sending IP and domain, hourly, P(a block event in the
next 24 hours) and P(a blocklist starts listing it in the next 24 hours), from `signals.FEATURES`;
a 0-100 health score and the Postmaster Tools word for it; the factors that drove it.

Each head is an ensemble of two learners that fail differently: an L2 logistic regression on
standardised signals (smooth, extrapolates a trend) and LightGBM (thresholds and interactions: a
listed IP, a burst of hard bounces after a quiet week). Their log-odds are averaged. The factors
are each signal's share of the log-odds: the logistic part's coefficient times the signal's
distance from the training mean, and LightGBM's own per-signal contributions (TreeSHAP), averaged
the same way. Saved as JSON (the trees as LightGBM's text model): no pickle is loaded when served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.models.mdl004_domain_reputation.signals import FEATURES

FORMAT = "mdl004-reputation/1"
HEADS = ("block_event", "listing")
# Postmaster Tools' words for the health score, worst first, by the 24-hour risk they stand for
CATEGORIES = ("bad", "low", "medium", "high")
CATEGORY_RISK = (0.5, 0.2, 0.05)  # risk at or above: bad, low, medium; below the last: high
FALSE_ALERT_SHARE = 0.1  # the alert threshold: at most this share of quiet unit-hours alert
N_FACTORS = 3
Z_CLIP = 5.0
LGBM = {"n_estimators": 250, "num_leaves": 15, "learning_rate": 0.05, "min_child_samples": 80,
        "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 2.0, "verbose": -1}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


@dataclass
class Head:
    """One event's ensemble: logistic regression (centre, scale, coef, intercept) and LightGBM."""

    centre: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    trees: str  # LightGBM's text model ("" where training saw one class only)
    rate: float  # training base rate
    # which learners answer: "both" (the ensemble), or one alone ("logistic", "lightgbm": the
    # validation's comparison)
    learners: str = "both"
    _booster: object = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, seed: int) -> Head:
        import lightgbm as lgb
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y, dtype=int)
        centre, scale = X.mean(axis=0), X.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        rate = float((y.sum() + 0.5) / (len(y) + 1.0))
        if y.min() == y.max():
            return cls(centre, scale, np.zeros(X.shape[1]), float(np.log(rate / (1 - rate))), "", rate)
        lr = LogisticRegression(C=0.5, max_iter=2_000).fit(np.clip((X - centre) / scale, -Z_CLIP, Z_CLIP), y)
        gbm = lgb.LGBMClassifier(random_state=seed, **LGBM).fit(pd.DataFrame(X, columns=list(FEATURES)), y)
        return cls(centre, scale, lr.coef_[0].astype(float), float(lr.intercept_[0]), gbm.booster_.model_to_string(), rate)

    def booster(self):
        if self._booster is None and self.trees:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.trees)
        return self._booster

    def _standard(self, X: np.ndarray) -> np.ndarray:
        """Standardised signals, clipped where a world sends the regression far outside training."""
        return np.clip((X - self.centre) / self.scale, -Z_CLIP, Z_CLIP)

    def logit(self, X: np.ndarray) -> np.ndarray:
        """The ensemble's log-odds: the mean of the two learners'."""
        linear = self._standard(X) @ self.coef + self.intercept
        if not self.trees or self.learners == "logistic":
            return linear
        trees = self.booster().predict(X, raw_score=True)
        return trees if self.learners == "lightgbm" else 0.5 * (linear + trees)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Each signal's share of the log-odds, rows × FEATURES (their sum plus a constant is `logit`)."""
        linear = self._standard(X) * self.coef
        if not self.trees or self.learners == "logistic":
            return linear
        trees = self.booster().predict(X, pred_contrib=True)[:, :-1]
        return trees if self.learners == "lightgbm" else 0.5 * (linear + trees)

    def to_json(self) -> dict:
        return {"centre": self.centre.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, "trees": self.trees, "rate": self.rate}

    @classmethod
    def from_json(cls, d: dict) -> Head:
        return cls(np.array(d["centre"]), np.array(d["scale"]), np.array(d["coef"]), float(d["intercept"]),
                   d["trees"], float(d["rate"]))


def matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FEATURES)].to_numpy(dtype=float)


@dataclass
class ReputationModel:
    heads: dict[str, Head]
    alert: dict[str, float] = field(default_factory=dict)  # per head: the risk that raises an alert
    meta: dict = field(default_factory=dict)

    def probabilities(self, frame: pd.DataFrame) -> pd.DataFrame:
        """p_block_event, p_listing (1 where the unit is listed now: the listing has happened)."""
        X = matrix(frame)
        p_block = _sigmoid(self.heads["block_event"].logit(X))
        listed = frame["listed_now"].to_numpy(dtype=float) > 0.5
        p_listing = np.where(listed, 1.0, _sigmoid(self.heads["listing"].logit(X)))
        return pd.DataFrame({"p_block_event": p_block, "p_listing": p_listing})

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The probabilities, the risk of either, the health score (100: no risk), its word, the
        alerts, and the factors behind the risk."""
        out = self.probabilities(frame)
        risk = either(out)
        out["risk"] = risk
        out["health_score"] = 100.0 * (1.0 - risk)
        out["category"] = category_of(risk.to_numpy())
        out["block_alert"] = out["p_block_event"] >= self.alert.get("block_event", 1.0)
        out["listing_alert"] = out["p_listing"] >= self.alert.get("listing", 1.0)
        out["factors"] = self.factors(frame, out)
        return out

    def factors(self, frame: pd.DataFrame, probs: pd.DataFrame) -> list[str]:
        """The N_FACTORS signals that raised the risk most, each head's contributions weighted by its
        share of the risk, as 'signal (+log-odds)'."""
        X = matrix(frame)
        pb, pl = probs["p_block_event"].to_numpy(), probs["p_listing"].to_numpy()
        weight = pb / np.maximum(pb + pl, 1e-12)
        mixed = (weight[:, None] * self.heads["block_event"].contributions(X)
                 + (1 - weight)[:, None] * self.heads["listing"].contributions(X))
        out = []
        for row in mixed:
            top = np.argsort(-row)[:N_FACTORS]
            out.append("; ".join(f"{FEATURES[j]} ({row[j]:+.2f})" for j in top if row[j] > 0.05) or "none")
        return out

    def with_learners(self, learners: str) -> ReputationModel:
        """The same heads answering with `learners` only ("logistic" or "lightgbm"; "both": as trained)."""
        from dataclasses import replace

        return ReputationModel({k: replace(h, learners=learners, _booster=None) for k, h in self.heads.items()},
                               dict(self.alert), dict(self.meta))

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps({"format": FORMAT, "features": list(FEATURES), "alert": self.alert,
                                    "meta": self.meta, "heads": {k: h.to_json() for k, h in self.heads.items()}}))
        return path

    @classmethod
    def load(cls, path: Path) -> ReputationModel:
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"not an MDL-004 model file: {exc}") from exc
        if d.get("format") != FORMAT or d.get("features") != list(FEATURES):
            raise ValueError(f"an MDL-004 model file of another version ({d.get('format')!r}); this code reads {FORMAT!r}")
        return cls({k: Head.from_json(h) for k, h in d["heads"].items()}, d.get("alert", {}), d.get("meta", {}))


def either(probabilities: pd.DataFrame) -> pd.Series:
    """P(a block event or a listing), the two taken as independent."""
    return 1.0 - (1.0 - probabilities["p_block_event"]) * (1.0 - probabilities["p_listing"])


def category_of(risk: np.ndarray) -> np.ndarray:
    """Postmaster Tools' word for each risk (bad, low, medium, high)."""
    index = np.searchsorted(-np.array(CATEGORY_RISK), -np.asarray(risk, dtype=float), side="left")
    return np.array(CATEGORIES, dtype=object)[index]


def fit(rows: pd.DataFrame, seed: int = 0) -> ReputationModel:
    """Both heads from training rows (FEATURES, block_event, listing: NaN where unknown; `world`:
    which training world a row is from). Each head's alert threshold: the risk at most
    FALSE_ALERT_SHARE of its quiet rows reach, scored out of fold (each half of the worlds by
    heads fitted on the other half), as unseen worlds will be scored; in-sample with one world."""
    heads, alert = {}, {}
    worlds = np.asarray(rows["world"]) if "world" in rows else np.zeros(len(rows))
    names = np.unique(worlds)
    fold = np.isin(worlds, names[::2])
    for name in HEADS:
        known = rows[name].notna().to_numpy()
        y = rows[name].to_numpy()
        heads[name] = Head.fit(matrix(rows[known]), y[known].astype(int), seed)
        if len(names) > 1:
            quiet = [_sigmoid(Head.fit(matrix(rows[known & a]), y[known & a].astype(int), seed)
                              .logit(matrix(rows[known & b & (y == 0)])))
                     for a, b in ((fold, ~fold), (~fold, fold))]
            quiet = np.concatenate(quiet)
        else:
            quiet = _sigmoid(heads[name].logit(matrix(rows[known & (y == 0)])))
        alert[name] = float(np.quantile(quiet, 1.0 - FALSE_ALERT_SHARE)) if quiet.size else 1.0
    return ReputationModel(heads, alert, {"rows": int(len(rows)),
                                          "positives": {h: int(np.nansum(rows[h])) for h in HEADS}})
