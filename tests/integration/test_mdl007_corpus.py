"""MDL-007 on the real SpamAssassin corpus: the documented split holds on it, and the scorer of
TF-IDF and rules (the transformer is measured by benchmarks/content_spam.py; here it would cost
minutes) learns spam from the earlier and later blocks and judges an unseen block."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from adaptive_delivery.delivery.models.mdl007_content import model as spam_model
from adaptive_delivery.delivery.models.mdl007_content.corpus import read_spamassassin, time_splits


@pytest.fixture(scope="module")
def corpus(spamassassin_corpus):
    return read_spamassassin(spamassassin_corpus)


def test_the_corpus_reads_whole_and_every_split_keeps_content_apart(corpus):
    assert Counter(m.spam for m in corpus) == {False: 4397, True: 1897}
    splits = time_splits(corpus)
    assert sorted(i for s in splits for i in s.test) == list(range(len(corpus)))
    for s in splits:
        judged = {corpus[i].content.key for i in s.test}
        assert not judged & {corpus[i].content.key for i in s.train}
        assert len(s.train) > 3_500 and len(s.validation) > 1_200


def test_scorer_beats_the_rules_alone_on_an_unseen_time_block(corpus):
    split = time_splits(corpus)[1]
    y = np.array([m.spam for m in corpus], dtype=int)
    contents = [m.content for m in corpus]
    scorer = spam_model.fit_scorer([contents[i] for i in split.train], y[split.train],
                                   [contents[i] for i in split.validation], y[split.validation])
    test = [contents[i] for i in split.test]
    ours = spam_model.confusion(y[split.test], scorer.proba(test) >= scorer.threshold)
    rules_only = spam_model.stack({"rules": spam_model.rule_scores([contents[i] for i in split.validation])},
                                  y[split.validation], candidates=[("rules",)])
    alone = spam_model.confusion(y[split.test],
                                 rules_only.proba({"rules": spam_model.rule_scores(test)}) >= rules_only.threshold)
    print(ours, alone)
    assert ours["f1"] > 0.95 and ours["f1"] > alone["f1"] + 0.2
    assert ours["fpr"] < 0.02
