"""A fitted TF-IDF vectorizer's transform, counted line by line with each line's counts remembered.

Scoring an email's suggested rewrites again means transforming texts that differ from it in a line
or two, and most mail repeats footers and boilerplate across messages: remembered lines are not
analysed again. The result is exactly sklearn's `transform` (tested): word tokens and `char_wb`
n-grams never cross a line break, and the word bigrams that span one are added back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

LINES_KEPT = 20_000  # remembered lines per vectorizer (tens of MB at most); forgotten all at once when full
_EMPTY = np.zeros(0, dtype=np.int32)

# A line's vocabulary indices and their counts, and its first and last word token (word analyzers)
LineCounts = tuple[np.ndarray, np.ndarray, str | None, str | None]


class LineMemo:
    """`transform` of a fitted word (1- or 1-2-gram) or `char_wb` TfidfVectorizer, line by line."""

    def __init__(self, vectorizer: TfidfVectorizer, lines_kept: int = LINES_KEPT) -> None:
        if not supports(vectorizer):
            raise ValueError(f"line-by-line counting does not reproduce analyzer={vectorizer.analyzer!r}, "
                             f"ngram_range={vectorizer.ngram_range}, stop_words={vectorizer.stop_words!r}")
        self.vectorizer = vectorizer
        self.vocabulary = vectorizer.vocabulary_
        self.word = vectorizer.analyzer == "word"
        self.bigrams = self.word and vectorizer.ngram_range[1] == 2
        self.preprocess = vectorizer.build_preprocessor()
        self.tokenize = vectorizer.build_tokenizer() if self.word else None
        self.lines_kept = lines_kept
        self._lines: dict[str, LineCounts] = {}

    def _line(self, line: str) -> LineCounts:
        known = self._lines.get(line)
        if known is not None:
            return known
        v = self.vectorizer
        first = last = None
        if self.word:
            tokens = self.tokenize(self.preprocess(line))
            grams = v._word_ngrams(tokens)  # noqa: SLF001 - the vectorizer's own n-grams, so they match exactly
            if tokens:
                first, last = tokens[0], tokens[-1]
        else:
            grams = v._char_wb_ngrams(self.preprocess(line))  # noqa: SLF001
        counts: dict[int, int] = {}
        vocabulary = self.vocabulary
        for gram in grams:
            index = vocabulary.get(gram)
            if index is not None:
                counts[index] = counts.get(index, 0) + 1
        entry = (np.fromiter(counts, dtype=np.int32, count=len(counts)),
                 np.fromiter(counts.values(), dtype=np.int32, count=len(counts)), first, last)
        if len(self._lines) >= self.lines_kept:
            self._lines.clear()
        self._lines[line] = entry
        return entry

    def counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary indices and counts of one text (an index may repeat: the rows sum them): its
        lines' counts plus the bigrams across line breaks."""
        indices, counts = [], []
        across: list[int] = []
        previous = None
        for line in text.split("\n"):
            line_indices, line_counts, first, last = self._line(line)
            indices.append(line_indices)
            counts.append(line_counts)
            if self.bigrams and previous is not None and first is not None:
                index = self.vocabulary.get(f"{previous} {first}")
                if index is not None:
                    across.append(index)
            if last is not None:
                previous = last
        indices.append(np.asarray(across, dtype=np.int32))
        counts.append(np.ones(len(across), dtype=np.int32))
        return np.concatenate(indices), np.concatenate(counts)

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """The TF-IDF rows of `texts`, as `vectorizer.transform(texts)` gives them."""
        counted = [self.counts(text) for text in texts]
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(i) for i, _ in counted])
        indices = np.concatenate([i for i, _ in counted]) if counted else _EMPTY
        values = np.concatenate([c for _, c in counted]).astype(np.float64) if counted else _EMPTY.astype(np.float64)
        X = csr_matrix((values, indices, indptr), shape=(len(texts), len(self.vocabulary)))
        X.sum_duplicates()  # sorts each row's indices and adds repeated ones: the counts of the whole text
        v = self.vectorizer
        if v.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        if v.use_idf:
            X.data *= v.idf_[X.indices]
        return normalize(X, norm=v.norm, copy=False) if v.norm is not None else X

    def __getstate__(self) -> dict:  # the remembered lines are a cache, not part of the model
        return {**self.__dict__, "_lines": {}}


def transform(vectorizer: TfidfVectorizer, texts: Sequence[str]) -> csr_matrix:
    """`vectorizer.transform(texts)`, counted line by line by the memo kept on the vectorizer (made
    again when the vectorizer was fitted again, or loaded from a file saved before memos)."""
    memo = getattr(vectorizer, "_line_memo", None)
    if memo is None or memo.vocabulary is not vectorizer.vocabulary_:
        memo = vectorizer._line_memo = LineMemo(vectorizer)
    return memo.transform(texts)


def supports(vectorizer: TfidfVectorizer) -> bool:
    """Whether counting line by line gives exactly the vectorizer's own counts."""
    v = vectorizer
    if v.stop_words is not None or v.binary or v.input != "content" or v.tokenizer is not None \
            or v.preprocessor is not None:
        return False
    if v.analyzer == "char_wb":
        return True
    return v.analyzer == "word" and v.ngram_range in ((1, 1), (1, 2))
