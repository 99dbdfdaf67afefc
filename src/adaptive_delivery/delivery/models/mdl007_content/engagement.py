"""MDL-007's engagement potential (spec §3.4): the open and click rates a campaign's content is
expected to get from the audience it was learned on, read from the text alone.

Learned from campaigns that went out (the twin's, whose text is written from a hidden quality):
per campaign the human opens and clicks over the messages delivered, as the sender's own logs
count them (machine opens are not engagement). A ridge regression of each rate's logit on the
text's word n-grams and the rule features, weighted by how many messages a campaign delivered, so
a campaign of ten messages does not count as much as one of ten thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from adaptive_delivery.delivery.models.mdl007_content import ngrams, rules
from adaptive_delivery.delivery.models.mdl007_content.content import Content

RATE_FLOOR = 1e-4  # a campaign with no opens is not a rate of exactly 0 (its logit is finite)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, RATE_FLOOR, 1 - RATE_FLOOR)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Campaign:
    """One campaign as its sender's logs count it."""

    content: Content
    delivered: int
    human_opens: int
    clicks: int
    org_id: str = ""
    hidden_quality: float = float("nan")  # the twin's truth, for the oracle only; never a feature

    @property
    def open_rate(self) -> float:
        return self.human_opens / max(self.delivered, 1)

    @property
    def click_rate(self) -> float:
        return self.clicks / max(self.delivered, 1)


class EngagementModel:
    """Predicted human-open and click rates of content, and its potential on a 0-100 scale (the
    share of the campaigns it was learned from that it is expected to out-open)."""

    def __init__(self, alpha: float = 10.0) -> None:  # chosen on validation worlds (content_engagement.json)
        self.words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True)
        self.scaler = StandardScaler()
        self.opens = Ridge(alpha=alpha)
        self.clicks = Ridge(alpha=alpha)
        self.reference = np.zeros(0)  # predicted open rates of the training campaigns, sorted

    def _matrix(self, contents: Sequence[Content], fit: bool = False) -> csr_matrix:
        texts = [c.text for c in contents]
        shape = rules.feature_matrix(list(contents))
        if fit:
            return hstack([self.words.fit_transform(texts), csr_matrix(self.scaler.fit_transform(shape))]).tocsr()
        return hstack([ngrams.transform(self.words, texts), csr_matrix(self.scaler.transform(shape))]).tocsr()

    def fit(self, campaigns: Sequence[Campaign]) -> EngagementModel:
        if len(campaigns) < 10:
            raise ValueError(f"{len(campaigns)} campaigns are too few to learn engagement from")
        X = self._matrix([c.content for c in campaigns], fit=True)
        weight = np.sqrt(np.array([c.delivered for c in campaigns], dtype=float))
        self.opens.fit(X, _logit(np.array([c.open_rate for c in campaigns])), sample_weight=weight)
        self.clicks.fit(X, _logit(np.array([c.click_rate for c in campaigns])), sample_weight=weight)
        self.reference = np.sort(self.predict([c.content for c in campaigns])[0])
        return self

    def predict(self, contents: Sequence[Content]) -> tuple[np.ndarray, np.ndarray]:
        """(open rate, click rate) per content."""
        if not contents:
            return np.zeros(0), np.zeros(0)
        X = self._matrix(contents)
        return _sigmoid(self.opens.predict(X)), _sigmoid(self.clicks.predict(X))

    def potential(self, open_rate: np.ndarray) -> np.ndarray:
        """0-100: the share of the learned campaigns whose predicted open rate this one beats."""
        return 100.0 * np.searchsorted(self.reference, open_rate, side="right") / max(len(self.reference), 1)
