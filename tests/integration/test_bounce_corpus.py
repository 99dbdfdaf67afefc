"""The bounce/ARF parser measured on real DSN and ARF messages from many MTAs and providers
(sisimai/set-of-emails, BSD-2-Clause), against their published expected verdicts, and its failed
recipients beside flufl.bounce's (on its own test messages, shipped in benchmarks/data)."""

from pathlib import Path

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
    def refused() -> int:
        return sum(t.num_rows for t in (lake.quarantined("outcomes"), lake.quarantined("complaints")) if t is not None)

    before = refused()
    second = ingest_mail(lake, files)
    assert sum(second.events.values()) == 0
    # every event again, written or refused the first time: kept once, counted as a duplicate
    assert before > 0 and second.duplicates == sum(first.events.values()) + before
    assert refused() == before
    outcomes = lake.read("outcomes")
    assert set(outcomes.column("status").to_pylist()) <= {"accepted", "deferred", "bounced", "blocked"}
    assert set(outcomes.column("source").to_pylist()) == {"dsn"}


FLUFL_CORPUS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "flufl-bounce"


def test_failed_recipients_match_flufl_bounce_on_its_own_messages():
    """On the library's own test messages the parser finds every failed recipient flufl.bounce
    does, names no other address, refuses no bounce and reads every delay warning as a delay."""
    from bounce_recipients import flufl

    from adaptive_delivery.delivery.events.evaluate import score_recipients

    ours, peer = score_recipients(FLUFL_CORPUS), score_recipients(FLUFL_CORPUS, flufl)
    assert ours.files >= 100 and ours.expected > ours.files
    assert ours.found >= peer.found, ours.missed_files
    assert ours.wrong == 0, ours.wrong_files
    assert ours.refused == 0 and ours.no_recipient == 0
    assert ours.delayed_read_as_delay == ours.delayed > 0


def test_more_sisimai_reports_name_their_failed_recipients_than_with_flufl_bounce(bounce_corpus):
    """Where labels count failed recipients, the parser names as many in more reports than the
    peer library does, and refuses fewer."""
    from bounce_recipients import counted

    c = counted(bounce_corpus, timed=False)
    assert c["ours"]["reports_with_as_many_addresses_as_verdicts"] > c["flufl_bounce"]["reports_with_as_many_addresses_as_verdicts"]
    assert c["ours"]["refused_reports"] < c["flufl_bounce"]["refused_reports"]
