"""The bounce/ARF parser on hand-written messages, and on garbage: never a crash."""


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.events.dsn import MalformedMessage, parse_message
from adaptive_delivery.delivery.events.ingest import ingest_mail
from adaptive_delivery.delivery.events.lake import EventsLake

DSN = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: bounces@news.acme-mail.com
Subject: Undelivered Mail Returned to Sender
Date: Mon, 02 Mar 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; gone@gmail.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist. - gsmtp

Final-Recipient: rfc822; full@yahoo.com
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 Mailbox is full

Final-Recipient: rfc822; pat@outlook.com
Action: failed
Status: 5.7.1
Diagnostic-Code: smtp; 550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).

--B
Content-Type: message/rfc822

Message-ID: <m0001@news.acme-mail.com>
From: news@news.acme-mail.com
Subject: Spring collection

hello
--B--
"""

ARF = b"""From: staff@hotmail.com
To: fbl@news.acme-mail.com
Subject: complaint about message from 192.0.2.10
Date: Tue, 03 Mar 2026 08:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Rcpt-To: angry@hotmail.com
Source-IP: 192.0.2.10

--F
Content-Type: message/rfc822

Message-ID: <m0002@news.acme-mail.com>
From: news@news.acme-mail.com

hello
--F--
"""

PLAIN = b"""From: Alice <alice@example.org>
To: bob@example.com
Subject: Lunch tomorrow?
Date: Mon, 02 Mar 2026 10:00:00 +0000

Are you free at noon?
"""


def test_rfc3464_report_gives_one_verdict_per_recipient():
    parsed = parse_message(DSN)
    assert parsed.kind == "dsn"
    got = [(v.recipient, v.status, v.reason, v.outcome, v.hard_bounce) for v in parsed.verdicts]
    assert got == [
        ("gone@gmail.com", "5.1.1", "userunknown", "hard_bounce", True),
        ("full@yahoo.com", "5.2.2", "mailboxfull", "soft_bounce", False),
        ("pat@outlook.com", "5.7.1", "blocked", "block", False),
    ]
    assert parsed.verdicts[1].reply_code == "552"


def test_arf_report_is_a_complaint():
    parsed = parse_message(ARF)
    assert parsed.kind == "arf"
    v = parsed.verdicts[0]
    assert (v.recipient, v.feedback_type, v.outcome, v.source_ip) == ("angry@hotmail.com", "abuse", "complaint", "192.0.2.10")


def test_ordinary_mail_is_not_a_bounce():
    assert parse_message(PLAIN).kind == "not_bounce"


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"", "empty input"),
        (b"\x00\x01\x02binary\x00" * 50, "binary content"),
        (bytes(range(1, 32)) * 40, "not text"),
        (b"just a line of text with no headers at all\n", "no header fields"),
        (b"X-Custom: 1\nX-Other: 2\n\nbody\n", "none of the header fields"),
        (b"From: a@b.example\nSubject: hi\n", "truncated"),
    ],
)
def test_malformed_inputs_raise_with_a_reason(raw, reason):
    with pytest.raises(MalformedMessage) as exc:
        parse_message(raw)
    assert reason in exc.value.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(raw):
    try:
        parse_message(raw)
    except MalformedMessage as exc:
        assert exc.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(DSN)), st.integers(0, 255), st.integers(0, len(DSN) - 1), st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_truncated_corrupted_or_reencoded_reports_never_crash(cut, byte, pos, charset):
    variants = [
        DSN[:cut],
        DSN[:pos] + bytes([byte]) + DSN[pos + 1 :],
        DSN.decode().replace("Content-Type: text/plain", f"Content-Type: text/plain; charset={charset}").encode(charset, errors="ignore"),
        DSN.replace(b"Final-Recipient", b"Final-Recipent")[:cut],
    ]
    for raw in variants:
        try:
            parsed = parse_message(raw)
            assert parsed.kind in {"dsn", "arf", "auto_reply", "not_bounce"}
        except MalformedMessage as exc:
            assert exc.reason


def test_ingest_counts_every_file_and_is_idempotent(tmp_path):
    inbox = tmp_path / "mail"
    inbox.mkdir()
    for name, raw in {"dsn.eml": DSN, "arf.eml": ARF, "plain.eml": PLAIN, "junk.eml": b"\x00\x01" * 300,
                      "cut.eml": DSN[:40]}.items():
        (inbox / name).write_bytes(raw)
    lake = EventsLake(tmp_path / "lake")
    files = sorted(inbox.iterdir())
    first = ingest_mail(lake, files)
    assert first.items_in == 5 == first.items_accepted + first.items_quarantined
    assert (first.items_accepted, first.items_quarantined) == (2, 3)
    assert first.events == {"outcomes": 3, "complaints": 1}
    second = ingest_mail(lake, files)
    assert sum(second.events.values()) == 0 and second.duplicates == 4
    assert lake.read("outcomes").num_rows == 3
    statuses = sorted(lake.read("outcomes").column("status").to_pylist())
    assert statuses == ["blocked", "bounced", "bounced"]
    assert lake.read("outcomes").column("message_id").to_pylist()[0] == "m0001@news.acme-mail.com"
    raw_q = list((tmp_path / "lake" / "_quarantine" / "raw").glob("*.parquet"))
    assert len(raw_q) == 3


def _text_bounce(body: str, subject: str = "Undelivered Mail Returned to Sender", extra: str = "") -> bytes:
    return (f"From: MAILER-DAEMON@mx.example.org\nTo: bounces@news.acme-mail.com\nSubject: {subject}\n"
            f"Date: Mon, 02 Mar 2026 10:00:00 +0000\n{extra}\n{body}").encode()


def test_a_dsn_reports_the_address_the_sender_used():
    """Original-Recipient (the address mailed) wins over Final-Recipient (an alias, a mailbox
    store, an X.400 name); Final-Recipient stays where no Original-Recipient is an address."""
    aliased = DSN.replace(b"Final-Recipient: rfc822; gone@gmail.com",
                          b"Original-Recipient: rfc822; gone@acme.example\nFinal-Recipient: rfc822; gone@mailstore.internal")
    x400 = DSN.replace(b"Final-Recipient: rfc822; gone@gmail.com",
                       b"Original-Recipient: rfc822; kept@acme.example\nFinal-Recipient: x400; /RFC-822=kept(a)acme.example/")
    assert parse_message(aliased).verdicts[0].recipient == "gone@acme.example"
    assert parse_message(x400).verdicts[0].recipient == "kept@acme.example"
    assert parse_message(DSN).verdicts[0].recipient == "gone@gmail.com"


def test_no_recipient_is_cut_out_of_a_longer_address():
    """'kijitora@example.jp' holds 'to' then 'ra@example.jp': a label word must stand alone."""
    body = "This message could not be delivered.\n\n  * kijitora@example.jp\n\n550 5.1.1 user unknown\n"
    assert [v.recipient for v in parse_message(_text_bounce(body)).verdicts] == ["kijitora@example.jp"]


def test_quoted_original_headers_and_message_ids_are_never_recipients():
    body = ("This message was created automatically by mail delivery software.\n\n"
            "kijitora@example.co.jp Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1 "
            "<kijitora@example.co.jp>... User Unknown\n\n"
            "Received: from mx.example.org\nMessage-ID:<14a3e1b4b5a.10b1a4c5@zoho.example.com>\n"
            "From:Nyanko <sender@zoho.example.com>\nTo:<kijitora@example.co.jp>\nSubject: hello\n")
    got = {v.recipient for v in parse_message(_text_bounce(body, "Undelivered Mail Returned to Sender")).verdicts}
    assert got == {"kijitora@example.co.jp"}


def test_a_plain_text_delay_warning_is_a_deferral(tmp_path):
    """A warning that delivery is still being tried names its recipient and bounces nothing."""
    body = ("This is an automatically generated Delivery Status Notification.\n\n"
            "THIS IS A WARNING MESSAGE ONLY.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n"
            "Delivery to the following recipients has been delayed.\n\n     later@example.com\n")
    raw = _text_bounce(body, "Delivery Status Notification (Delay)")
    verdicts = parse_message(raw).verdicts
    assert [(v.recipient, v.action) for v in verdicts] == [("later@example.com", "delayed")]
    from adaptive_delivery.delivery.events.ingest import lake_status

    assert lake_status(verdicts[0]) == ("deferred", None)
