"""The bounce/ARF parser measured on real DSN and ARF messages from many MTAs and providers
(sisimai/set-of-emails, BSD-2-Clause), against their published expected verdicts."""

from adaptive_delivery.delivery.events.dsn import MalformedMessage, parse_message
from adaptive_delivery.delivery.events.evaluate import score_corpus

# The acceptance thresholds.
MIN_OUTCOME_ACCURACY = 0.95
MIN_REASON_ACCURACY = 0.85


def test_parser_meets_accuracy_targets_on_the_real_corpus(bounce_corpus):
    score = score_corpus(bounce_corpus)
    acc = score.accuracy()
    print({k: round(v, 4) for k, v in acc.items()}, score.verdicts)
    assert score.verdicts >= 590
    assert acc["outcome_class"] >= MIN_OUTCOME_ACCURACY, acc
    assert acc["reason"] >= MIN_REASON_ACCURACY, acc


def test_every_not_bounce_message_is_rejected(bounce_corpus):
    score = score_corpus(bounce_corpus)
    assert score.not_bounce_total == 3
    assert score.not_bounce_rejected == score.not_bounce_total


def test_every_corpus_file_parses_or_is_refused_with_a_reason(bounce_corpus):
    for path in sorted((bounce_corpus / "maildir").iterdir()):
        try:
            parse_message(path.read_bytes())
        except MalformedMessage as exc:
            assert exc.reason, path


def test_ingesting_the_corpus_accounts_for_every_file_and_is_idempotent(bounce_corpus, tmp_path):
    from adaptive_delivery.delivery.events.ingest import ingest_mail
    from adaptive_delivery.delivery.events.lake import EventsLake

    files = sorted((bounce_corpus / "maildir").iterdir()) + sorted((bounce_corpus / "not-bounce").iterdir())
    lake = EventsLake(tmp_path / "lake")
    first = ingest_mail(lake, files)
    assert first.items_in == len(files) == first.items_accepted + first.items_quarantined
    assert first.items_accepted > 550 and first.events["outcomes"] > 500 and first.events["complaints"] >= 20
    second = ingest_mail(lake, files)
    assert sum(second.events.values()) == 0
    assert second.duplicates == sum(first.events.values())
    outcomes = lake.read("outcomes")
    assert set(outcomes.column("status").to_pylist()) <= {"accepted", "deferred", "bounced", "blocked"}
    assert set(outcomes.column("source").to_pylist()) == {"dsn"}
