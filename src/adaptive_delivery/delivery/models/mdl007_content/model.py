"""MDL-007's spam-risk scorer: TF-IDF, the transformer and the rules, stacked and calibrated.

Each member is fitted on the training split only. The members' scores on the validation split
train a logistic stacker (which is also the calibration: Platt scaling of the members' logits), and
the same split picks which members to keep and the send threshold, using out-of-fold stacker
scores so the choice is not made on the scores it was fitted to.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from adaptive_delivery.delivery.models.mdl007_content import ngrams, rules
from adaptive_delivery.delivery.models.mdl007_content.content import Content

# The false-positive rate the send threshold must keep on validation (the target: a ham
# message wrongly held is a campaign that does not go out).
MAX_FALSE_POSITIVE_RATE = 0.005
MEMBERS = ("tfidf", "transformer", "rules")


class TfidfSpam:
    """Word 1-2-grams and character 3-5-grams, sublinear TF-IDF, a linear SVM: the classical model,
    and (uncalibrated, threshold 0) the TF-IDF baseline it is judged beside."""

    def __init__(self, c: float = 1.0) -> None:
        self.words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True,
                                     lowercase=True, strip_accents="unicode")
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, max_features=300_000,
                                     sublinear_tf=True, lowercase=False)
        self.svm = LinearSVC(C=c, class_weight="balanced")

    def _matrix(self, texts: Sequence[str], fit: bool = False) -> Any:
        if fit:
            return hstack([self.words.fit_transform(texts), self.chars.fit_transform(texts)]).tocsr()
        return hstack([ngrams.transform(self.words, texts), ngrams.transform(self.chars, texts)]).tocsr()

    def fit(self, texts: Sequence[str], y: np.ndarray) -> TfidfSpam:
        self.svm.fit(self._matrix(texts, fit=True), y)
        for vectorizer in (self.words, self.chars):  # the terms cut by max_features: only size
            if hasattr(vectorizer, "stop_words_"):
                del vectorizer.stop_words_
        return self

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """Signed distance to the margin (> 0: spam)."""
        return self.svm.decision_function(self._matrix(texts))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class Stacked:
    """The kept members, the calibrated stacker over their scores, and the send threshold."""

    members: tuple[str, ...]
    stacker: LogisticRegression
    scaler: StandardScaler
    threshold: float
    validation: dict[str, dict[str, float]] = field(default_factory=dict)

    def design(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        return self.scaler.transform(_design(self.members, scores))

    def proba(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        """Calibrated P(spam)."""
        return self.stacker.predict_proba(self.design(scores))[:, 1]


def _design(members: Sequence[str], scores: dict[str, np.ndarray]) -> np.ndarray:
    cols = []
    for m in members:
        s = scores[m]
        cols.append(s if s.ndim == 2 else s[:, None])
    return np.hstack(cols)


def confusion(y: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate of spam flags."""
    y = np.asarray(y, dtype=bool)
    flagged = np.asarray(flagged, dtype=bool)
    tp, fp = float(np.sum(flagged & y)), float(np.sum(flagged & ~y))
    fn = float(np.sum(~flagged & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "fpr": fp / max(float(np.sum(~y)), 1.0)}


def pick_threshold(y: np.ndarray, p: np.ndarray, max_fpr: float = MAX_FALSE_POSITIVE_RATE) -> float:
    """The threshold with the best F1 among those whose false-positive rate is at most `max_fpr`
    (the strictest one seen if none is): a held campaign costs more than a missed spam."""
    best, best_f1 = 1.0, -1.0
    for t in np.unique(np.concatenate([p, [0.5]])):
        m = confusion(y, p >= t)
        if m["fpr"] <= max_fpr and m["f1"] > best_f1:
            best, best_f1 = float(t), m["f1"]
    return best


def stack(scores: dict[str, np.ndarray], y: np.ndarray, seed: int = 0,
          candidates: Sequence[tuple[str, ...]] | None = None) -> Stacked:
    """The member set whose out-of-fold stacked F1 on validation is best (ties: fewer members)."""
    available = [m for m in MEMBERS if m in scores]
    if candidates is None:
        candidates = [c for n in range(1, len(available) + 1) for c in itertools.combinations(available, n)]
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    best: Stacked | None = None
    report: dict[str, dict[str, float]] = {}
    for members in candidates:
        X = _design(members, scores)
        scaler = StandardScaler().fit(X)
        lr = LogisticRegression(C=1.0, max_iter=2000)
        oof = cross_val_predict(lr, scaler.transform(X), y, cv=folds, method="predict_proba")[:, 1]
        threshold = pick_threshold(y, oof)
        report["+".join(members)] = confusion(y, oof >= threshold) | {"threshold": threshold}
        fitted = Stacked(members, lr.fit(scaler.transform(X), y), scaler, threshold)
        if best is None or report["+".join(members)]["f1"] > report["+".join(best.members)]["f1"] + 1e-12:
            best = fitted
    assert best is not None
    best.validation = report
    return best


def rule_scores(contents: Sequence[Content]) -> np.ndarray:
    """The rule features, as the stacker reads them."""
    return rules.feature_matrix(list(contents))


def member_scores(contents: Sequence[Content], tfidf: TfidfSpam | None, encoder: Any,
                  members: Sequence[str] = MEMBERS) -> dict[str, np.ndarray]:
    """Each fitted member's score of the contents among `members`, as the stacker reads them."""
    texts = [c.text for c in contents]
    scores = {"rules": rule_scores(contents)} if "rules" in members else {}
    if tfidf is not None and "tfidf" in members:
        scores["tfidf"] = tfidf.decision(texts)
    if encoder is not None and "transformer" in members:
        scores["transformer"] = _logit(encoder.predict_proba(texts))
    return scores


@dataclass
class ContentScorer:
    """The fitted spam-risk scorer: members, stacker and threshold (`fit_scorer` builds it)."""

    tfidf: TfidfSpam | None
    encoder: Any  # transformer.SpamEncoder, or None where validation kept no transformer
    stacked: Stacked
    engagement: Any = None  # engagement.EngagementModel: predicted open and click rates

    def member_scores(self, contents: Sequence[Content]) -> dict[str, np.ndarray]:
        """The scores the stacker reads (members validation dropped are not computed)."""
        return member_scores(contents, self.tfidf, self.encoder, self.stacked.members)

    def proba(self, contents: Sequence[Content]) -> np.ndarray:
        """Calibrated P(spam) per content."""
        if not contents:
            return np.zeros(0)
        return self.stacked.proba(self.member_scores(contents))

    @property
    def threshold(self) -> float:
        return self.stacked.threshold

    def save(self, path: Path) -> Path:
        """One file: what serving loads (`load_scorer`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)
        return path


def load_scorer(path: Path) -> ContentScorer:
    """A scorer `ContentScorer.save` wrote; anything else in the file is refused."""
    scorer = joblib.load(path)
    if not isinstance(scorer, ContentScorer):
        raise ValueError(f"{path} holds a {type(scorer).__name__}, not MDL-007's ContentScorer")
    return scorer


def fit_scorer(train: Sequence[Content], y_train: np.ndarray, validation: Sequence[Content],
               y_validation: np.ndarray, encoder_config: Any | None = None, seed: int = 0,
               progress: Any = None, candidates: Sequence[tuple[str, ...]] | None = None) -> ContentScorer:
    """Members on the training split, stack and threshold on validation. `encoder_config` None
    leaves the transformer out (a scorer of TF-IDF and rules); `candidates` limits the member sets
    validation may choose from."""
    from adaptive_delivery.delivery.models.mdl007_content import transformer

    texts = [c.text for c in train]
    tfidf = TfidfSpam().fit(texts, np.asarray(y_train))
    encoder = (transformer.fit(texts, np.asarray(y_train), encoder_config, seed=seed, progress=progress)
               if encoder_config is not None else None)
    scores = member_scores(validation, tfidf, encoder)
    stacked = stack(scores, np.asarray(y_validation), seed=seed, candidates=candidates)
    return ContentScorer(tfidf if "tfidf" in stacked.members else None,
                         encoder if "transformer" in stacked.members else None, stacked)
