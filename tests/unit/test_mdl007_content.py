"""MDL-007 content scorer: reading content, the time split, rules and their rewrites, the stack,
the transformer on a toy corpus, and the spec §3.4 answer."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.models.mdl007_content import model as spam_model
from adaptive_delivery.delivery.models.mdl007_content import rules, transformer
from adaptive_delivery.delivery.models.mdl007_content.content import Content, from_bytes
from adaptive_delivery.delivery.models.mdl007_content.corpus import Labelled, time_splits
from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor

LIST_MAIL = b"""From: someone@example.org
Subject: =?utf-8?q?Re=3A_=5BILUG=5D_Caf=C3=A9_meeting?=
Date: Tue, 06 Aug 2002 11:48:09 +0100
Content-Type: text/plain; charset=utf-8

Shall we meet at the cafe on Friday?
See http://www.example.org/map

--
Irish Linux Users' Group: ilug@linux.ie
http://www.linux.ie/mailman/listinfo/ilug for (un)subscription information.
List maintainer: listmaster@linux.ie
"""

HTML_MAIL = b"""From: shop@example.com
Subject: Offer
Content-Type: text/html

<html><head><style>p {color: red}</style><script>var x = 1;</script></head>
<body><p>BUY NOW &amp; save</p><a href="http://192.168.0.1/x">here</a><a href="mailto:a@b">m</a></body></html>
"""


def test_list_server_artefacts_are_struck_and_encoded_subjects_decoded():
    content = from_bytes(LIST_MAIL)
    assert content.subject == "Re: Café meeting"
    assert "mailman" not in content.body and "listmaster" not in content.body
    assert content.body.endswith("http://www.example.org/map")
    assert content.links == ("http://www.example.org/map",)


def test_html_only_mail_gives_visible_text_and_link_targets():
    content = from_bytes(HTML_MAIL)
    assert content.html
    assert "BUY NOW & save" in content.body and "color" not in content.body and "var x" not in content.body
    assert content.links == ("http://192.168.0.1/x",)


def test_content_hash_ignores_case_and_spacing_but_not_words():
    a = Content("Hello  World", "see  you\tsoon")
    assert a.key == Content("hello world", "See you soon").key
    assert a.key != Content("hello world", "see you later").key


def _corpus(n_per_folder: int = 25) -> list[Labelled]:
    rnd = random.Random(3)
    out = []
    start = datetime(2002, 1, 1, tzinfo=UTC)
    for folder, spam in (("easy_ham", False), ("hard_ham", False), ("spam", True)):
        for i in range(n_per_folder):
            words = " ".join(rnd.choice(["alpha", "beta", "gamma", "delta", "eps"]) for _ in range(6))
            out.append(Labelled(Content(f"s{i}", f"{folder} {i} {words}"), spam, folder, f"{i:05d}",
                                start + timedelta(days=rnd.randrange(300))))
    # the same content in two folders: must never be learned and judged
    out.append(Labelled(Content("dup", "copied text"), True, "spam", "99998", start))
    out.append(Labelled(Content("DUP", "Copied  text"), True, "easy_ham", "99999", start + timedelta(days=299)))
    return out


def test_time_split_tests_each_message_once_in_time_blocks_and_never_learns_what_it_judges():
    messages = _corpus()
    splits = time_splits(messages)
    assert len(splits) == 5
    tested = sorted(i for s in splits for i in s.test)
    assert tested == list(range(len(messages)))
    for s in splits:
        test_keys = {messages[i].content.key for i in s.test}
        assert not test_keys & {messages[i].content.key for i in s.train + s.validation}
        assert not {messages[i].content.key for i in s.validation} & {messages[i].content.key for i in s.train}
        assert {messages[i].folder for i in s.test} == {"easy_ham", "hard_ham", "spam"}
    for folder in ("easy_ham", "hard_ham", "spam"):  # blocks follow each other in time
        spans = [[messages[i].sent for i in s.test if messages[i].folder == folder] for s in splits]
        assert all(max(a) <= min(b) for a, b in zip(spans, spans[1:], strict=False))


def test_rules_find_triggers_shouting_and_bad_links_where_they_are():
    content = Content("FREE gift!!! Act now", "Click here: http://bit.ly/abc and http://example.com/ok",
                      links=("http://bit.ly/abc", "http://example.com/ok"))
    found = {(f.code, f.location) for f in rules.risk_findings(content)}
    assert ("trigger_phrase", "subject") in found and ("trigger_phrase", "body") in found
    assert ("urgency", "subject") in found and ("shouting", "subject") in found
    assert ("suspicious_link", "links") in found
    assert rules.suspicious("http://10.0.0.1/a") and rules.suspicious("http://a.b.c.d.e.com/")
    assert not rules.suspicious("https://news.example.com/article")
    assert not rules.risk_findings(Content("Minutes of Tuesday's meeting", "Attached are the minutes."))


_WORDS = st.sampled_from(["free", "FREE", "act now", "URGENT", "hello", "meeting", "click here", "winner",
                          "Limited time", "report", "!!!", "!", "cash", "Guaranteed", "notes", "the",
                          "this is not spam", "bonus", "do not delete"])


@settings(max_examples=100, deadline=None)
@given(subject=st.lists(_WORDS, max_size=6).map(" ".join), body=st.lists(_WORDS, max_size=20).map(" ".join))
def test_a_findings_rewrite_removes_that_finding(subject, body):
    """The invariant behind every suggestion: applying it makes its own finding go away."""
    content = Content(subject, body)
    for finding in rules.risk_findings(content):
        if finding.rewrite is None:
            continue
        after = finding.rewrite(content)
        still = {(f.code, f.location) for f in rules.risk_findings(after)}
        assert (finding.code, finding.location) not in still, (finding, after)


def test_a_phrase_dropped_between_two_words_does_not_leave_a_new_trigger():
    content = Content("Hello", "cash this is not spam bonus today")
    finding = next(f for f in rules.risk_findings(content) if f.code == "trigger_phrase")
    assert not any(f.code == "trigger_phrase" for f in rules.risk_findings(finding.rewrite(content)))


def test_compliance_checks_unsubscribe_one_click_address_and_subject():
    bare = Content("Re: your order", "We have news about shoes.")
    codes = {f.code: f.severity for f in rules.compliance_findings(bare)}
    assert codes["no_unsubscribe"] == "critical" and codes["deceptive_subject"] == "critical"
    assert codes["no_address"] == "warning"
    good = Content("Autumn shoes", "New autumn shoes are in.\nUnsubscribe: https://shop.example/u\n"
                   "Shop Ltd, 12 High Street, Springfield IL 62701",
                   headers={"List-Unsubscribe": "<https://shop.example/u>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    assert rules.compliance_findings(good) == []
    no_click = Content(good.subject, good.body, headers={"List-Unsubscribe": "<https://shop.example/u>"})
    assert [f.code for f in rules.compliance_findings(no_click)] == ["no_one_click"]
    promise = Content("Winter coats half price tomorrow", "New autumn shoes are in. Unsubscribe here. "
                      "12 High Street, Springfield IL 62701")
    assert "deceptive_subject" in {f.code for f in rules.compliance_findings(promise)}


def test_confusion_and_threshold_keep_the_false_positive_budget():
    y = np.array([0] * 200 + [1] * 50)
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.7, 200), rng.uniform(0.3, 1.0, 50)])
    t = spam_model.pick_threshold(y, p, max_fpr=0.01)
    m = spam_model.confusion(y, p >= t)
    assert m["fpr"] <= 0.01
    assert spam_model.confusion(y, p >= 0.3)["fpr"] > 0.01  # the budget did bind
    assert spam_model.confusion(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == {
        "f1": 0.5, "precision": 0.5, "recall": 0.5, "fpr": 0.5}


def test_stack_keeps_the_informative_member_and_drops_noise():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 600)
    scores = {"tfidf": y * 2.0 - 1 + rng.normal(0, 0.6, 600), "rules": rng.normal(size=(600, 3))}
    fitted = spam_model.stack(scores, y)
    assert "tfidf" in fitted.members
    assert fitted.validation["tfidf"]["f1"] > fitted.validation["rules"]["f1"] + 0.3


def _toy(n: int, seed: int) -> tuple[list[Content], np.ndarray]:
    rnd = random.Random(seed)
    spam_words = ["free", "winner", "cash", "offer", "click", "prize", "money", "cheap", "deal", "now"]
    ham_words = ["meeting", "notes", "kernel", "patch", "lunch", "report", "build", "review", "team", "today"]
    contents, y = [], []
    for i in range(n):
        spam = i % 2 == 0
        pool = spam_words if spam else ham_words
        words = [rnd.choice(pool) if rnd.random() < 0.6 else rnd.choice(spam_words + ham_words) for _ in range(30)]
        contents.append(Content(" ".join(words[:4]), " ".join(words[4:])))
        y.append(int(spam))
    return contents, np.array(y)


TINY = transformer.EncoderConfig(vocab=200, hidden=32, layers=1, heads=2, intermediate=64, max_tokens=48,
                                 mlm_steps=80, mlm_batch=16, finetune_epochs=8, finetune_batch=16,
                                 finetune_lr=2e-3)


@pytest.fixture(scope="module")
def toy_encoder():
    contents, y = _toy(160, seed=0)
    return transformer.fit([c.text for c in contents], y, TINY, seed=0)


def test_pretraining_lowers_the_masked_token_loss(toy_encoder):
    losses = toy_encoder.mlm_losses
    assert losses[-1] < losses[0] - 0.5, losses


def test_fine_tuned_encoder_separates_held_out_toy_mail_and_reloads_the_same(toy_encoder, tmp_path):
    contents, y = _toy(100, seed=9)
    p = toy_encoder.predict_proba([c.text for c in contents])
    assert ((p >= 0.5) == y).mean() > 0.9
    toy_encoder.save(tmp_path / "enc")
    again = transformer.SpamEncoder.load(tmp_path / "enc")
    np.testing.assert_allclose(again.predict_proba([c.text for c in contents]), p, atol=1e-5)


def test_masking_hides_only_real_tokens_at_about_the_bert_rate():
    import torch

    ids = torch.randint(5, 100, (64, 64))
    ids[:, -8:] = 0
    gen = torch.Generator().manual_seed(0)
    inputs, labels = transformer.mask_tokens(ids, 100, 4, gen)
    hidden = labels != -100
    assert not hidden[:, -8:].any()
    assert 0.12 < hidden[:, :-8].float().mean() < 0.18
    assert (inputs[hidden] == 4).float().mean() > 0.7
    assert torch.equal(inputs[~hidden], ids[~hidden])


@pytest.fixture(scope="module")
def assessor():
    train, y_train = _toy(300, seed=1)
    val, y_val = _toy(200, seed=2)
    return ContentAssessor(spam_model.fit_scorer(train, y_train, val, y_val, encoder_config=None))


def test_answer_has_the_spec_shape_and_its_rewrites_are_scored_again(assessor):
    content = Content("FREE cash winner!!!", "click now for free money offer, act now")
    answer = assessor.assess(content)
    assert set(answer) >= {"overall_score", "category_scores", "issues", "approved_for_send"}
    assert 0 <= answer["category_scores"]["spam_risk"] <= 100
    assert not answer["approved_for_send"]  # spammy and no unsubscribe link
    trigger = next(i for i in answer["issues"] if i["code"] == "trigger_phrase" and i["location"] == "subject")
    rewritten = next(f for f in rules.risk_findings(content)
                     if f.code == "trigger_phrase" and f.location == "subject").rewrite(content)
    assert trigger["spam_risk_after"] == round(100 * assessor.spam_risk([rewritten])[0])
    assert {i["severity"] for i in answer["issues"]} <= {"info", "warning", "critical"}


def test_answers_are_cached_by_content_hash(assessor):
    before = assessor.hits
    first = assessor.assess(Content("Team notes", "meeting notes for the review"))
    again = assessor.assess(Content("team  notes", "Meeting notes for the review"))
    assert again is first and assessor.hits == before + 1


def test_a_saved_scorer_with_its_encoder_reloads_and_scores_the_same(toy_encoder, tmp_path):
    train, y_train = _toy(120, seed=3)
    val, y_val = _toy(80, seed=4)
    tfidf = spam_model.TfidfSpam().fit([c.text for c in train], y_train)
    scores = spam_model.member_scores(val, tfidf, toy_encoder)
    scorer = spam_model.ContentScorer(tfidf, toy_encoder, spam_model.stack(scores, y_val, candidates=[spam_model.MEMBERS]))
    test, _ = _toy(40, seed=5)
    again = spam_model.load_scorer(scorer.save(tmp_path / "scorer.joblib"))
    assert again.stacked.members == spam_model.MEMBERS and again.threshold == scorer.threshold
    np.testing.assert_allclose(again.proba(test), scorer.proba(test), atol=1e-6)
    joblib_file = tmp_path / "other.joblib"
    __import__("joblib").dump({"not": "a scorer"}, joblib_file)
    with pytest.raises(ValueError, match="not MDL-007's ContentScorer"):
        spam_model.load_scorer(joblib_file)


def test_a_request_row_becomes_the_content_the_sender_wrote():
    from adaptive_delivery.delivery.models.mdl007_content.service import contents_of

    html = "<html><head><style>p{}</style></head><body><p>Big <b>sale</b></p><a href='https://x.example/a'>go</a></body>"
    got = contents_of({"subject": np.array(["  Spring   sale "], dtype=object), "body": np.array([""], dtype=object),
                       "body_html": np.array([html], dtype=object),
                       "list_unsubscribe": np.array(["<https://x.example/u>"], dtype=object),
                       "from_address": np.array([b"Shop <a@x.example>"], dtype=object)})
    assert len(got) == 1
    c = got[0]
    assert c.subject == "Spring sale" and "Big sale" in c.body and "p{}" not in c.body and c.html
    assert c.links == ("https://x.example/a",)
    assert c.headers == {"List-Unsubscribe": "<https://x.example/u>", "From": "Shop <a@x.example>"}


@pytest.mark.parametrize(("columns", "says"), [
    ({"body": ["x"]}, "missing inputs: subject"),
    ({"subject": ["x"]}, "'body'"),
    ({"subject": ["x"], "body": [3.0]}, "must be text"),
    ({"subject": ["x", "y"], "body": ["x"]}, "different lengths"),
    ({"subject": [], "body": []}, "empty"),
    ({"subject": ["x"] * 1001, "body": ["x"] * 1001}, "exceeds the limit"),
    ({"subject": ["x"], "body": ["x"], "score": ["1"]}, "unknown inputs"),
])
def test_a_malformed_request_is_refused_with_what_to_fix(columns, says):
    from adaptive_delivery.delivery.decisions.service import RequestError
    from adaptive_delivery.delivery.models.mdl007_content.service import contents_of

    with pytest.raises(RequestError, match=says):
        contents_of({k: np.asarray(v, dtype=object) for k, v in columns.items()})


def test_encoder_budgets_buy_the_cpu_size_or_the_gpu_size():
    from adaptive_delivery.delivery.models.mdl007_content.training import encoder_for

    assert encoder_for(20).hidden == transformer.SMALL.hidden and encoder_for(20).finetune_epochs == 1
    assert encoder_for(400) == transformer.SMALL
    assert encoder_for(transformer.BASE.mlm_steps) == transformer.BASE


def test_the_gate_sends_approved_content_rewrites_flagged_content_and_holds_what_stays_risky(assessor):
    from adaptive_delivery.delivery.models.mdl007_content.rules import UNSUBSCRIBE_FOOTER

    footer = "\nUnsubscribe: https://x.example/u\nExample Ltd, 12 High Street, London SW1A 1AA"
    clean = Content("Team notes", "meeting notes for the review" + footer,
                    headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "List-Unsubscribe": "<u>"})
    sent, answer = assessor.gate(clean)
    assert sent is clean and answer["approved_for_send"]
    pushy = Content("FREE cash winner!!!", "click here now for free money, act now")
    sent, again = assessor.gate(pushy, hold_at=1.01)  # held only for what is critical
    assert sent is not None and sent != pushy and UNSUBSCRIBE_FOOTER in sent.body
    assert "free" not in sent.subject.lower() and "!" not in sent.subject
    assert not any(i["severity"] == "critical" for i in again["issues"])
    held, _ = assessor.gate(pushy, hold_at=0.0)
    assert held is None


def _campaigns(n: int, seed: int):
    from adaptive_delivery.delivery.models.mdl007_content.engagement import Campaign

    rnd = random.Random(seed)
    good = ["thank you for reading", "your weekly summary", "a short story from the team", "tips for you"]
    filler = ["offer", "update", "news", "today", "spring", "collection"]
    out = []
    for _ in range(n):
        k = rnd.randint(0, 4)
        body = " ".join([*rnd.sample(good, k), *rnd.choices(filler, k=6)])
        delivered = rnd.randint(200, 2000)
        rate = 0.08 + 0.05 * k
        opens = sum(rnd.random() < rate for _ in range(delivered))
        out.append(Campaign(Content("News", body), delivered, opens, opens // 8, rnd.choice(["a", "b"]), k / 4))
    return out


def test_engagement_learns_which_content_opens_better_and_ranks_it_below_the_oracle():
    from adaptive_delivery.delivery.models.mdl007_content.engagement import EngagementModel
    from adaptive_delivery.delivery.models.mdl007_content.training import engagement_metrics

    model = EngagementModel().fit(_campaigns(200, seed=1))
    held_out = _campaigns(120, seed=2)
    m = engagement_metrics(model, held_out)
    assert m["open_rate_rank_within_sender"] > 0.6
    assert m["oracle_open_rate_rank_within_sender"] >= m["open_rate_rank_within_sender"] - 0.05
    opens, clicks = model.predict([c.content for c in held_out])
    assert ((opens > 0) & (opens < 1) & (clicks < opens)).all()
    potential = model.potential(np.sort(opens))
    assert (np.diff(potential) >= 0).all() and potential.min() >= 0 and potential.max() <= 100
    with pytest.raises(ValueError, match="too few"):
        EngagementModel().fit(held_out[:5])


def test_the_answer_carries_engagement_potential_when_the_scorer_has_it(assessor):
    from adaptive_delivery.delivery.models.mdl007_content.engagement import EngagementModel

    scorer = assessor.scorer
    with_engagement = ContentAssessor(spam_model.ContentScorer(scorer.tfidf, scorer.encoder, scorer.stacked,
                                                               EngagementModel().fit(_campaigns(100, seed=3))))
    answer = with_engagement.assess(Content("Team notes", "thank you for reading your weekly summary"))
    assert 0 <= answer["category_scores"]["engagement_potential"] <= 100
    assert 0 < answer["engagement"]["predicted_open_rate"] < 1
    assert assessor.assess(Content("Team notes", "x"))["engagement"] is None


HOLD_AT = 0.9


def test_the_twin_gate_records_on_each_content_the_score_of_what_went_out(assessor, tmp_path):
    """The senders' pre-send check in a simulated world: every campaign that went out carries
    MDL-007's P(spam) of its text as sent (the content features read it); a held one sent nothing."""
    from types import SimpleNamespace

    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.delivery.features.definitions import UNSCORED
    from adaptive_delivery.delivery.features.reference import content_features
    from adaptive_delivery.delivery.models.mdl007_content.training import twin_campaign_content
    from adaptive_delivery.delivery.models.mdl007_content.twin_gate import content_gate
    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.simulator import simulate

    config = WorldConfig(subscribers=2_000, days=3, seed=5)  # nine campaigns, the toy scorer holds one
    simulate(config, tmp_path, progress=False, content_gate=content_gate(assessor, config, hold_at=HOLD_AT))
    lake = EventsLake(tmp_path / "lake")
    contents, campaigns = lake.read("contents").to_pandas(), lake.read("campaigns").to_pandas()
    went_out = contents["content_id"].isin(campaigns.loc[campaigns["audience_size"] > 0, "content_id"])
    assert went_out.any() and (~went_out).any()
    assert contents.loc[~went_out, "spam_risk"].isna().all()
    domains = {s.org_id: s.sending_domain for s in config.senders}
    for row in contents[went_out].itertuples():
        sent = twin_campaign_content(SimpleNamespace(**row._asdict()), domains[row.org_id])
        assert row.spam_risk == pytest.approx(assessor.assess(sent)["spam_probability"])
        assert row.spam_risk < HOLD_AT
    features = content_features({"contents": contents, "campaigns": campaigns}).set_index("content_id")
    assert (features["content_spam_risk"] == contents.set_index("content_id")["spam_risk"].fillna(UNSCORED)).all()


# ---- counting n-grams line by line -------------------------------------------------------------
_LINE_WORDS = ["free", "FREE", "offer", "café", "naïve", "ΣΟΦΟΣ", "re:", "win!!", "a", "x1", "meeting", "notes"]
_SEPARATORS = [" ", "  ", "\n", "\n\n", "\t", "\r\n", " \n ", "-", "\u2028"]


def _line_texts() -> st.SearchStrategy[str]:
    piece = st.one_of(st.sampled_from(_LINE_WORDS), st.text(min_size=0, max_size=6))
    return st.lists(st.tuples(piece, st.sampled_from(_SEPARATORS)), max_size=25).map(
        lambda parts: "".join(w + s for w, s in parts))


@pytest.fixture(scope="module")
def fitted_vectorizers():
    from sklearn.feature_extraction.text import TfidfVectorizer

    corpus, _ = _toy(60, seed=3)
    texts = [c.text for c in corpus] + [" ".join(_LINE_WORDS), "\n".join(_LINE_WORDS)]
    return [TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode").fit(texts),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=False).fit(texts),
            TfidfVectorizer(ngram_range=(1, 1)).fit(texts)]


@settings(max_examples=150, deadline=None)
@given(st.lists(_line_texts(), min_size=1, max_size=4))
def test_counting_line_by_line_gives_exactly_the_vectorizers_own_rows(fitted_vectorizers, texts):
    from adaptive_delivery.delivery.models.mdl007_content import ngrams
    from adaptive_delivery.delivery.models.mdl007_content.ngrams import LineMemo

    for vectorizer in fitted_vectorizers:
        memo = LineMemo(vectorizer)
        for _ in range(2):  # remembered lines give the same rows as fresh ones
            assert (memo.transform(texts) != vectorizer.transform(texts)).nnz == 0, vectorizer.analyzer
            assert (ngrams.transform(vectorizer, texts) != vectorizer.transform(texts)).nnz == 0  # the memo it keeps


def test_line_by_line_counting_refuses_what_it_cannot_reproduce():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from adaptive_delivery.delivery.models.mdl007_content.ngrams import LineMemo

    for vectorizer in (TfidfVectorizer(ngram_range=(1, 3)), TfidfVectorizer(analyzer="char"),
                       TfidfVectorizer(stop_words="english")):
        with pytest.raises(ValueError, match="does not reproduce"):
            LineMemo(vectorizer.fit(["a text of words", "another text"]))


def test_simulate_with_a_content_check_records_scores_and_refuses_a_file_that_is_no_scorer(assessor, tmp_path):
    from typer.testing import CliRunner

    from adaptive_delivery.cli import app
    from adaptive_delivery.delivery.events.lake import EventsLake

    scorer = assessor.scorer.save(tmp_path / "scorer.joblib")
    base = ["simulate", "--subscribers", "400", "--days", "2", "--seed", "3"]
    done = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "w"), "--content-check", str(scorer)])
    assert done.exit_code == 0, done.output
    risk = EventsLake(tmp_path / "w" / "lake").read("contents").column("spam_risk").to_pylist()
    assert risk and all(r is None or 0 <= r <= 1 for r in risk) and any(r is not None for r in risk)
    not_a_scorer = tmp_path / "notes.txt"
    not_a_scorer.write_text("not a model")
    refused = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "v"), "--content-check", str(not_a_scorer)])
    assert refused.exit_code == 2 and "not an MDL-007 scorer" in refused.output
    assert not (tmp_path / "v").exists()  # nothing written for a refused run


_FOLDING = st.sampled_from(["FREE", "fRee", "ſpecial promotion", "\u212aeep", "v\u0130agra", "v\u0131agra", "click here",
                            "risk-free", "risk free", "100% free", "act now", "don't miss", "ürgent", "-free", "free-"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_FOLDING, st.text(max_size=5)), max_size=15).map(" ".join))
def test_phrase_counts_skip_only_phrases_that_cannot_match(text):
    for phrases in (rules._TRIGGERS, rules._URGENT):
        assert phrases.count(text) == sum(len(p.findall(text)) for p in phrases.each.values())
    assert all(t.isascii() and t == t.lower() for t in [*rules.TRIGGERS, *rules.URGENCY])  # what the skip relies on
