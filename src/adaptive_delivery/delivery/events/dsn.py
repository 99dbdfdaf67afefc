"""Parse what providers send back: DSN bounces (RFC 3464), ARF complaints (RFC 5965), and the
many pre-standard bounce formats MTAs still emit (qmail, Exim, Sendmail, Postfix text, …).

`parse_message(raw)` returns a `Parsed` with a kind (`dsn`, `arf`, `auto_reply`, `not_bounce`)
and one `Verdict` per failed recipient, or raises `MalformedMessage` with a reason for input
that cannot be read as mail at all (binary, truncated, no headers, undecodable).
"""

from __future__ import annotations

import email
import email.policy
import functools
import json
import re
from dataclasses import dataclass, field
from email.message import Message

from adaptive_delivery.delivery.events.reasons import classify, outcome_for

MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class MalformedMessage(ValueError):
    """The input is not a readable e-mail message; `reason` says why (for the quarantine)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Verdict:
    recipient: str = ""
    status: str = ""  # enhanced status code, e.g. 5.1.1
    reply_code: str = ""  # SMTP reply code, e.g. 550
    diagnostic: str = ""
    action: str = ""
    remote_mta: str = ""
    reason: str = "undefined"
    hard_bounce: bool = False
    outcome: str = "soft_bounce"
    feedback_type: str | None = None
    source_ip: str = ""


@dataclass
class Parsed:
    kind: str  # dsn | arf | auto_reply | not_bounce
    verdicts: list[Verdict] = field(default_factory=list)
    subject: str = ""
    sender_mta: str = ""
    date: str = ""
    original_message_id: str = ""
    why: str = ""  # for not_bounce: what made us decide


_STATUS_RX = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_RX = re.compile(r"(?<![\d.#:/-])([245]\d\d)(?:[ -]|$)")
# Addresses have bounded parts (RFC 5321: a 64-character local part, 255 for the domain): bounded
# quantifiers keep every pattern over a line linear, even over a line of 50,000 dashes.
_LOCAL = r"[A-Za-z0-9._%+\-=/'!#$&*?^`{|}~]{1,64}"
_DOMAIN = r"[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63}"
_EMAIL_RX = re.compile(rf"<?({_LOCAL}@{_DOMAIN})>?")
_BOUNCE_FROM = re.compile(r"mailer-daemon|postmaster|mail delivery|mail administrator|mailer_daemon|mdaemon|"
                          r"delivery subsystem|system administrator|microsoftexchange|mailerdaemon|no-?reply@.*(bounce|amazonses)|"
                          r"bounce", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status|failure|failed|notification|has failed|report)|returned mail|"
    r"failure notice|mail delivery|could not be delivered|delivery problem|non[- ]?delivery|nondeliverable|"
    r"returned to sender|mail system error|rejected|warning: could not send|message not delivered|"
    r"delivery final failure|mail failure|bounce|unzustellbar|fehler|error|failed|permanent|delayed|problem", re.I)
_FAILURE_BODY = re.compile(
    r"(could not|can't|cannot|couldn't|unable to|was not|wasn't) (be )?deliver|permanent (error|fatal|failure)|delivery (has )?failed|"
    r"undeliverable|not (been )?delivered to|did not reach the following|delivery to the following recipients? failed|"
    r"^\s*(final-recipient|diagnostic-code|remote-mta)\s*:|transcript of session follows|the following addresses had|"
    r"returned mail|message could not be delivered|mail delivery failed|following recipients? (could not|failed)|"
    r"invalid user address|error message below|not a member of this (mailing )?list|are not member|duplicated message-id|"
    r"incorrectly constructed",
    re.I | re.M,
)
# Failure wording precise enough to trust without an SMTP code (MTAs that omit codes use these).
_KNOWN_FAILURE = re.compile(
    r"incorrectly constructed|all hosts have been failing|retry timeout exceeded|host not found|"
    r"unrouteable|no such (user|mailbox)|user unknown|unknown user|"
    r"was not delivered to|could not be delivered to|delivery to the following recipients? failed",
    re.I,
)
_AUTO_REPLY_SUBJECT = re.compile(r"out of (the )?office|auto(matic)?[ -]?(reply|response)|\bauto:|vacation|away from|autoreply", re.I)
# Lines after which the bounce text is over and the returned original message begins.
_ORIGINAL_START = re.compile(
    r"^(-{2,}+.*(original message|copy of (the|your) message|returned message|below this line|undelivered message|"
    r"message headers follow|headers of your message).*|"
    r"\s*+-++\s*+original message\s*-+.*|original message follows.*|.*this is a copy of the message.*|"
    r"content-type: message/(rfc822|rfc822-headers).*|\s*+-++ the header of the original message is following\. -+.*)$",
    re.I | re.M,
)


def _decode_part(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken transfer encoding: fall back to the raw text
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


_CONTROL_BYTES = bytes(b for b in range(256) if (b < 32 and b not in (9, 10, 12, 13, 27)) or b == 127)


def _load(raw: bytes) -> Message:
    if not raw or not raw.strip():
        raise MalformedMessage("empty input")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    head = raw[:4096]
    if head.count(b"\x00") > len(head) // 100:
        raise MalformedMessage("binary content (NUL bytes) where a message was expected")
    raw = raw.replace(b"\x00", b"")  # a few stray NULs (seen from some MTAs) are noise, not structure
    # text in any charset (8-bit included) has almost no control bytes; binary data has many
    control = (len(head) - len(head.translate(None, _CONTROL_BYTES))) / len(head)  # counted in C
    if control > 0.05:
        raise MalformedMessage(f"not text: {control:.0%} control bytes in the first 4 KiB")
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    names = {k.lower() for k in msg}
    if not names:
        raise MalformedMessage("no header fields")
    if not names & {"from", "subject", "date", "content-type", "return-path", "received", "to", "message-id"}:
        raise MalformedMessage("none of the header fields a message carries (From, Date, Subject, Received…)")
    if msg.defects and any("Missing" in type(d).__name__ or "Invalid" in type(d).__name__ for d in msg.defects) \
            and not msg.get_payload():
        raise MalformedMessage(f"unparseable structure: {[type(d).__name__ for d in msg.defects]}")
    body = msg.get_payload()
    if body is None or (isinstance(body, str) and not body.strip() and not msg.is_multipart()):
        raise MalformedMessage("truncated: headers but no body")
    return msg


def _header(msg: Message, name: str) -> str:
    value = msg.get(name, "")
    try:
        parts = email.header.decode_header(str(value))
        return " ".join(
            (t.decode(c or "utf-8", errors="replace") if isinstance(t, bytes) else t) for t, c in parts
        ).strip()
    except Exception:  # noqa: BLE001 - a broken encoded-word: keep the raw value
        return str(value).strip()


def _fields(block: str) -> dict[str, list[str]]:
    """RFC 822-style fields of a delivery-status or feedback-report block (with continuations)."""
    out: dict[str, list[str]] = {}
    key = None
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and key:
            out[key][-1] += " " + line.strip()
        elif ":" in line:
            k, v = line.split(":", 1)
            key = k.strip().lower()
            out.setdefault(key, []).append(v.strip())
    return out


def _split_type(value: str) -> str:
    """'rfc822; user@example.com' -> 'user@example.com'; 'smtp; 550 ...' -> '550 ...'."""
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _codes(text: str) -> tuple[str, str]:
    """The enhanced status and reply code of the failure (an error code wins over an earlier 2xx)."""
    statuses = [".".join(m.groups()) for m in _STATUS_RX.finditer(text)]
    replies = [m.group(1) for m in _REPLY_RX.finditer(text)]
    status = next((x for x in statuses if x[0] in "45"), statuses[0] if statuses else "")
    reply = next((x for x in replies if x[0] in "45"), replies[0] if replies else "")
    return status, reply


# Replies that only ever come from the recipient check (RCPT stage) of the MTA that wrote them.
_DEFINITE_UNKNOWN = re.compile(
    r"recipient name is not recognized|invalid final delivery userid|not listed in domino directory|delivery error: dd|"
    r"destinataire invalide|no valid recipients|unknown user: |smtp:rcpt|<<<\s*5\d\d.{0,80}user unknown|"
    r"<[^<>\s]+@[^<>\s]+>:?\s*user unknown", re.I)
# Vendor bounce categories some MTAs attach (PowerMTA's X-PowerMTA-BounceCategory).
_VENDOR_CATEGORY = {"bad-mailbox": "userunknown", "bad-domain": "hostunknown", "inactive-mailbox": "suspend",
                    "quota-issues": "mailboxfull", "spam-related": "spamdetected", "policy-related": "policyviolation",
                    "routing-errors": "networkerror", "message-expired": "expired", "no-answer-from-host": "networkerror",
                    "relaying-issues": "norelaying", "virus-related": "virusdetected", "content-related": "contenterror",
                    "protocol-errors": "syntaxerror", "bad-connection": "networkerror", "invalid-sender": "rejected"}
# Headers that identify MTAs whose text bounces only report recipient-stage (RCPT) refusals.
_RCPT_STAGE_MTAS = ("X-NAI-Header", "X-PowerMTA-VirtualMTA")


def _finish(v: Verdict, context: str = "", msg: Message | None = None) -> Verdict:
    diag_status, diag_reply = _codes(v.diagnostic)
    if not v.reply_code:
        v.reply_code = diag_reply
    if not v.status or (v.status.endswith(".0.0") and diag_status and not diag_status.endswith(".0.0")):
        v.status = diag_status or v.status
    v.reason = classify(v.diagnostic, v.status, v.reply_code, v.action)
    command = _smtp_command(v.diagnostic) or _smtp_command(context)
    category = str(msg.get("X-PowerMTA-BounceCategory", "")).strip().lower() if msg is not None else ""
    category = category or _powermta_category(context)
    if msg is not None and command in ("", "data") and (
            any(msg.get(h) for h in _RCPT_STAGE_MTAS) or "SMTP32" in str(msg.get("X-Mailer", "")) or _names_exchange_ims(context)):
        command = "rcpt to"
    if _DEFINITE_UNKNOWN.search(v.diagnostic.strip()):
        command = "rcpt to"
    if v.reason == "userunknown" and not re.match(r"[45]\.1\.", v.status) and command not in ("rcpt to", "mail from"):
        # "no such user" said outside RCPT (after DATA, or with no command known) and without an
        # address-status code is a recipient-side filter more often than a dead mailbox
        v.reason = "filtered"
    elif v.reason in ("undefined", "onhold", "userunknown", "hostunknown") and command == "mail from":
        v.reason = "rejected"  # refused at MAIL FROM: the sender, not the recipient
    elif v.reason in ("undefined", "onhold", "systemerror", "policyviolation") and command in ("connect", "helo", "ehlo"):
        v.reason = "blocked"  # refused before any message was offered: the connecting host itself
    if category in _VENDOR_CATEGORY and v.reason in ("undefined", "onhold", "userunknown", "filtered"):
        v.reason = _VENDOR_CATEGORY[category]  # the sending MTA's own classification
    if v.recipient.endswith("@googlegroups.com") and v.reason in ("undefined", "onhold", "userunknown"):
        v.reason = "rejected"  # Google Groups refuses posts from non-members
    v.hard_bounce = v.reason in {"userunknown", "hostunknown", "hasmoved", "notaccept"} and not v.status.startswith("4.")
    v.outcome = outcome_for(v.reason, v.hard_bounce)
    return v


# ---- ARF -----------------------------------------------------------------------------------
def _parse_arf(msg: Message) -> Parsed | None:
    report = None
    original = None
    text_parts = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list):
                report = "\n".join(str(p) for p in payload)
            else:
                report = _decode_part(part)
        elif ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            original = part
        elif ctype == "text/plain":
            text_parts.append(_decode_part(part))
    if report is None:
        # some providers send feedback reports inline as text (pre-ARF Hotmail, AOL, Yahoo)
        joined = "\n".join(text_parts) or (_decode_part(msg) if not msg.is_multipart() else "")
        if re.search(r"^feedback-type:\s*\S+", joined, re.I | re.M):
            report = joined
        else:
            return None
    f = _fields(report)
    ftype = (f.get("feedback-type", ["abuse"])[0] or "abuse").lower()
    rcpts = f.get("original-rcpt-to", []) + f.get("removal-recipient", [])
    if not rcpts and original is not None:
        inner = original.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(inner, Message) and inner.get("To"):
            rcpts = [str(inner.get("To"))]
    if not rcpts:
        rcpts = [""]
    verdicts = []
    for r in rcpts:
        m = _EMAIL_RX.search(r)
        v = Verdict(recipient=m.group(1).lower() if m else "", reason="feedback", outcome="complaint",
                    feedback_type=ftype, source_ip=(f.get("source-ip", [""])[0]))
        verdicts.append(v)
    return Parsed(kind="arf", verdicts=verdicts, subject=_header(msg, "Subject"), date=_header(msg, "Date"))


# ---- RFC 3464 ------------------------------------------------------------------------------
_DSN_FIELD_BLOCK = re.compile(r"^(final-recipient|original-recipient)\s*:", re.I | re.M)


def _delivery_status_blocks(msg: Message) -> list[str] | None:
    found = _delivery_status_part(msg)
    if found is not None:
        return found
    # a report whose MIME structure is broken still carries its per-recipient fields as text
    text = "\n".join(p.get_payload() for p in msg.walk() if isinstance(p.get_payload(), str))
    if not _DSN_FIELD_BLOCK.search(text):
        return None
    text = _ORIGINAL_START.split(text)[0] if _ORIGINAL_START.search(text) else text
    blocks = [b for b in re.split(r"\n\s*\n", text) if _DSN_FIELD_BLOCK.search(b) or re.search(r"^action\s*:", b, re.I | re.M)]
    return blocks or None


def _delivery_status_part(msg: Message) -> list[str] | None:
    """Per-recipient blocks of every delivery-status part (some reports carry more than one)."""
    blocks: list[str] = []
    found = False
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            found = True
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks += [str(p) if not isinstance(p, Message) else "\n".join(f"{k}: {v}" for k, v in p.items()) for p in payload]
            else:
                blocks += [b for b in re.split(r"\n\s*\n", _decode_part(part)) if b.strip()]
    return blocks if found else None


def _parse_rfc3464(msg: Message, body: str) -> list[Verdict] | None:
    blocks = _delivery_status_blocks(msg)
    if blocks is None:
        return None
    verdicts = []
    context = body + "\n" + "\n".join(blocks)
    for block in blocks:
        f = _fields(block)
        if "final-recipient" not in f and "original-recipient" not in f and "action" not in f:
            continue
        rcpt = _recipient_field(f)
        m = _EMAIL_RX.search(rcpt)
        action = (f.get("action", [""])[0]).lower()
        status = (f.get("status", [""])[0]).split()[0] if f.get("status", [""])[0] else ""
        diag = _split_type(f.get("diagnostic-code", [""])[0]) if f.get("diagnostic-code") else ""
        if not diag:
            diag = _diagnostic_near(body, m.group(1) if m else "") or ""
        v = Verdict(recipient=m.group(1).lower() if m else rcpt.lower(), status=_clean_status(status), diagnostic=diag,
                    action=action, remote_mta=_split_type(f.get("remote-mta", [""])[0]))
        if action.startswith("delayed") and not diag:
            v.diagnostic = "delivery delayed"
        verdicts.append(_finish(v, context, msg))
    return verdicts or None


def _recipient_field(f: dict[str, list[str]]) -> str:
    """The address a DSN block reports on: Original-Recipient where it is an RFC 822 address (the
    address the sender used; Final-Recipient may be an internal alias, a mailbox store or an X.400
    name), else Final-Recipient."""
    for name in ("original-recipient", "final-recipient"):
        for value in f.get(name, []):
            kind, _, address = value.partition(";")
            if address and kind.strip().lower() in ("rfc822", "utf-8") and _EMAIL_RX.search(address):
                return address.strip()
    return _split_type((f.get("final-recipient") or f.get("original-recipient") or [""])[0])


def _clean_status(status: str) -> str:
    m = _STATUS_RX.search(status)
    return ".".join(m.groups()) if m else ""


# ---- pre-standard text bounces ---------------------------------------------------------------
def _bounce_text(msg: Message) -> str:
    """The human-readable part of a bounce, cut before the returned original message."""
    texts = []
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            if isinstance(part.get_payload(), str):  # a multipart whose boundary could not be parsed
                texts.append(part.get_payload())
            continue
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            break
        if ctype.startswith("text/"):
            t = _decode_part(part)
            if ctype == "text/html":
                t = re.sub(r"<[^>]+>", " ", t)
            texts.append(t)
    text = "\n".join(texts)
    m = _ORIGINAL_START.search(text)
    return text[: m.start()] if m else text


def _smtp_lines(lines: list[str]) -> list[str]:
    return [ln.strip() for ln in lines if re.match(r"\s*(<<<\s*)?[45]\d\d[ -]", ln) or re.search(r"\b[45]\d\d[ -]#?[45]\.\d", ln)
            or re.search(r"(said|returned|reason|error|diagnostic[- ]code|remote server)\s*:", ln, re.I)]


def _diagnostic_near(text: str, rcpt: str) -> str:
    """The server's words about `rcpt`: the lines after its mention, plus any SMTP reply lines."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    chunk_text = ""
    if rcpt:
        for i, line in enumerate(lines):
            if rcpt.lower() in line.lower():
                chunk = [line] + lines[i + 1 : i + 10]
                stop = next((j for j, ln in enumerate(chunk[1:], 1) if not ln.strip() and j > 2), len(chunk))
                chunk_text = " ".join(ln.strip() for ln in chunk[:stop] if ln.strip())
                break
    has_code = bool(_REPLY_RX.search(chunk_text) or _STATUS_RX.search(chunk_text))
    if chunk_text and has_code:
        return chunk_text
    extra = " ".join(_smtp_lines(lines)[:6])
    if chunk_text or extra:
        return f"{chunk_text} {extra}".strip()
    return " ".join(ln.strip() for ln in lines if ln.strip())[:1500]


_COMMAND_RX = re.compile(
    r"(?:in reply to|after|smtp command|while (?:talking|sending)|did not like our|>>>|for)\s*(?:the\s*)?"
    r"(end of data|data|rcpt(?: to)?|mail(?: from)?|connect|helo|ehlo|text|initial connection)(?:\s+command|\b)|"
    r"(does not like recipient|\[rcpt_to\]|\[mail_from\]|sender was rejected|my name was rejected|^\s*rcpt to:)",
    re.I | re.M,
)
_COMMAND_ALIASES = {"end of data": "data", "text": "data", "rcpt": "rcpt to", "mail": "mail from",
                    "does not like recipient": "rcpt to", "[rcpt_to]": "rcpt to", "[mail_from]": "mail from",
                    "sender was rejected": "mail from", "my name was rejected": "helo",
                    "initial connection": "connect", "rcpt to:": "rcpt to"}


@functools.lru_cache(maxsize=16)
def _names_exchange_ims(context: str) -> bool:
    """Exchange's IMS connector reports only RCPT refusals (one scan per report)."""
    return "MSEXCH:IMS" in context


@functools.lru_cache(maxsize=16)
def _powermta_category(context: str) -> str:
    """PowerMTA's bounce category named in the report (one scan per report, not per recipient)."""
    found = re.search(r"x-powermta-bouncecategory:\s*([\w-]+)", context, re.I)
    return found.group(1).lower() if found else ""


@functools.lru_cache(maxsize=64)  # the whole report is the context of each of its recipients
def _smtp_command(text: str) -> str:
    """The SMTP command the failure answered: the last one named before the first error reply."""
    if not text:
        return ""
    reply = re.search(r"(?<![\d.])[45]\d\d[ -]", text)
    cut = reply.start() if reply else len(text)
    before = list(_COMMAND_RX.finditer(text[:cut]))
    m = before[-1] if before else _COMMAND_RX.search(text)
    if not m:
        return ""
    word = (m.group(1) or m.group(2)).lower().strip()
    return _COMMAND_ALIASES.get(word, word)


_ADDR = f"{_LOCAL}@{_DOMAIN}"
# A line that names a failed recipient: the address first on the line (bare, quoted, in <>, after
# a bullet or a transcript's ">>>"),
# after an SMTP reply code (Sendmail: "550 <addr>... reason"), or after a "to:/recipient:" label.
_RCPT_LINE = re.compile(
    rf"^\s*(?:>{{1,3}}\s*|[*\u2022-]\s+)?(?:[45]\d\d[ -]+)?[\"'<(\[]*({_ADDR})[\"'>)\]]*(?:\s|:|\.\.\.|,|;|$)|"
    rf"\b(?:delivered to|recipient|recipients?|address(?:es)?|addressee|destination|failed|to)\s*:?\s*(?:rfc822;\s*)?[\"'<]*({_ADDR})[\"'>]*\s*[.,;:]?\s*$",
    re.I,
)
_RCPT_MARKER = re.compile(rf"\bRCPT(?: TO)?:\s*<({_ADDR})>", re.I)
_HEADER_LINE = re.compile(r"^\s*(from|sent|subject|date|cc|bcc|reply-to|return-path|message-id|received|x-[\w-]+)\s*:", re.I)
_TO_HEADER_LINE = re.compile(r"^\s*to\s*:\s*\S+@\S+\s*$", re.I)


def _recipient_on_line(line: str, exclude: set[str]) -> str | None:
    """The failed recipient a line introduces, if it introduces one."""
    marker = _RCPT_MARKER.search(line)
    if marker and marker.group(1).lower() not in exclude:
        return marker.group(1).lower()
    if _HEADER_LINE.match(line) or _TO_HEADER_LINE.match(line):
        return None
    m = _RCPT_LINE.search(line)
    addr = (m.group(1) or m.group(2)).lower() if m else None
    if addr and addr not in exclude and not _BOUNCE_FROM.search(addr.split("@")[0]):
        return addr
    return None


def _known_on_line(line: str, known: tuple[str, ...]) -> str | None:
    """The first of the known failed recipients a line names (header lines name none)."""
    if _HEADER_LINE.match(line) or _TO_HEADER_LINE.match(line):
        return None
    lower = line.lower()
    hits = [(lower.find(a), a) for a in known if a in lower]
    return min(hits)[1] if hits else None


def _segments(text: str, exclude: set[str], known: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Split a bounce's text into (recipient, the lines about it), in order of appearance; with
    `known` recipients, a line belongs to the one it names, else our line patterns find them."""
    lines_of: dict[str, list[str]] = {}  # insertion order is the order of appearance
    current: str | None = None
    for line in text.splitlines():
        addr = _known_on_line(line, known) if known else _recipient_on_line(line, exclude)
        if addr:
            current = addr
            lines_of.setdefault(addr, []).append(line.strip())
        elif _HEADER_LINE.match(line) or _TO_HEADER_LINE.match(line):
            current = None  # header lines quoted in the report belong to no recipient
        elif current is not None and len(lines_of[current]) < 30 and not re.match(r"^\s*-{3,}", line):
            lines_of[current].append(line.strip())
    return [(a, " ".join(x for x in lines if x)) for a, lines in lines_of.items()]


@dataclass(frozen=True)
class _Failures:
    """What flufl.bounce's detectors read from a report: permanently and temporarily failed
    addresses (lower case)."""

    permanent: tuple[str, ...] = ()
    temporary: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.permanent + tuple(a for a in self.temporary if a not in self.permanent)


def _failures(msg: Message) -> _Failures:
    """The failed recipients flufl.bounce (GNU Mailman's bounce detectors: MTA-specific formats,
    then generic patterns) finds in a report, less what the report shows that is no recipient
    (`_not_recipients`: its generic patterns also read the quoted original); none where a detector
    breaks on the report."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector's bug on odd input must not lose the report
        return _Failures()
    if not temporary and not permanent:
        return _Failures()
    quoted = _not_recipients(msg)

    def clean(found) -> tuple[str, ...]:
        out = {(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)).strip().strip("<>").lower()
               for a in found}
        return tuple(sorted(a for a in out if _EMAIL_RX.fullmatch(a) and a not in quoted))

    return _Failures(clean(permanent), clean(temporary))


_NOT_RECIPIENT_HEADER = re.compile(r"^\s*(from|sender|reply-to|return-path|message-id|in-reply-to|references|"
                                   r"delivered-to|x-original-to)\s*:(.*)$", re.I | re.M)


def _not_recipients(msg: Message) -> set[str]:
    """Addresses that are not a failed recipient wherever a report shows them: the report's own
    To/From/Return-Path, and the sender, message ids and mailbox headers of the original it
    quotes (as a message/rfc822 part or inline as text). Bounce detectors that scan the whole
    text pick these up."""
    out = {a.lower() for _, a in email.utils.getaddresses([str(msg.get(h, "")) for h in ("To", "From", "Return-Path")]) if a}
    for part in msg.walk():
        for name, value in part.items():
            if _NOT_RECIPIENT_HEADER.match(f"{name}:"):
                out.update(m.group(1).lower() for m in _EMAIL_RX.finditer(str(value)))
        payload = part.get_payload() if not part.is_multipart() else None
        if isinstance(payload, str):
            for line in _NOT_RECIPIENT_HEADER.finditer(payload):
                out.update(m.group(1).lower() for m in _EMAIL_RX.finditer(line.group(2)))
    return out


def _ordered(addresses: tuple[str, ...], text: str) -> list[str]:
    """Addresses in the order the report names them (those it does not name last)."""
    lower = text.lower()
    return sorted(addresses, key=lambda a: (lower.find(a) if a in lower else len(lower), a))


# A report that delivery is still being tried: a warning, not a failure.
_DELAY_WARNING = re.compile(
    r"warning message only|this is (only |just )?a warning|has not (yet )?been delivered yet|has not yet been delivered|"
    r"delivery (to the following recipients? )?(has been|is|was) delayed|will (continue|keep) (to )?(try|attempt|retry)|"
    r"(is )?still (trying|being retried|in the queue)|do not need to resend|delivery (is )?delayed|delayed mail",
    re.I)


def _is_delay_warning(text: str, diagnostic: str) -> bool:
    """A delay warning about a recipient: the report says delivery goes on, and no permanent (5xx)
    code is given for the recipient."""
    status, reply = _codes(diagnostic)
    return bool(_DELAY_WARNING.search(text)) and not status.startswith("5") and not reply.startswith("5")


def _parse_text_bounce(msg: Message, text: str, failures: _Failures | None = None) -> list[Verdict]:
    """Verdicts of a report without delivery-status fields. The failed recipients are, in order of
    trust: the X-Failed-Recipients header, those flufl.bounce's detectors find (`_failures`), and
    those our own line patterns find; a recipient only temporarily failed, or named in a report
    that says delivery goes on, is a delay."""
    exclude = {a.lower() for _, a in email.utils.getaddresses([str(msg.get("To", "")), str(msg.get("From", "")),
                                                                str(msg.get("Return-Path", ""))]) if a}
    failed = [a.strip().lower() for a in str(msg.get("X-Failed-Recipients", "")).split(",") if "@" in a]
    found = _Failures() if failed else failures if failures is not None else _failures(msg)
    known = tuple(failed) or found.addresses
    by_addr = dict(_segments(text, exclude, known))
    segments = [(a, by_addr.get(a, "")) for a in _ordered(known, text)] if known else list(by_addr.items())
    if not segments:
        segments = [("", "")]
    global_lines = " ".join(_smtp_lines(text.splitlines())[:6])
    verdicts = []
    for rcpt, chunk in segments:
        has_code = bool(_REPLY_RX.search(chunk) or _STATUS_RX.search(chunk))
        informative = has_code or len(chunk) > len(rcpt) + 25
        diag = chunk if informative else f"{chunk} {global_lines}".strip()
        if not diag.strip():
            diag = " ".join(ln.strip() for ln in text.splitlines() if ln.strip())[:1500]
        delayed = rcpt not in found.permanent and (rcpt in found.temporary or _is_delay_warning(text, diag))
        verdicts.append(_finish(Verdict(recipient=rcpt, diagnostic=diag, action="delayed" if delayed else ""), text, msg))
    return verdicts


# ---- entry point ---------------------------------------------------------------------------
def _looks_like_bounce(msg: Message) -> tuple[bool, str]:
    ctype = msg.get_content_type()
    report_type = (msg.get_param("report-type") or "").lower() if ctype == "multipart/report" else ""
    if report_type in ("delivery-status", "feedback-report"):
        return True, f"multipart/report; report-type={report_type}"
    sender = _header(msg, "From") + " " + str(msg.get("Return-Path", ""))
    subject = _header(msg, "Subject")
    empty_return_path = str(msg.get("Return-Path", "")).strip() in ("<>", "")  and "Return-Path" in msg
    if msg.get("X-Failed-Recipients"):
        return True, "X-Failed-Recipients header"
    if _BOUNCE_FROM.search(sender) and _BOUNCE_SUBJECT.search(subject):
        return True, "sent by a mail system about a delivery failure"
    if empty_return_path and _BOUNCE_SUBJECT.search(subject):
        return True, "null return path and a failure subject"
    if _delivery_status_blocks(msg) is not None:
        return True, "message/delivery-status part"
    body = _bounce_text(msg)[:20_000]
    if _FAILURE_BODY.search(body):
        return True, "the body describes a failed delivery"
    return False, "no bounce markers (report type, mail-system sender with failure subject, failed-recipient headers)"


def _parse_ses_notification(msg: Message) -> Parsed | None:
    """Amazon SES event notifications delivered by SNS e-mail: a JSON document in the body."""
    if not msg.is_multipart():
        body = _decode_part(msg)
    else:
        body = "\n".join(_decode_part(p) for p in msg.walk() if p.get_content_type() == "text/plain")
    body = re.sub(r"!\r?\n ", "", body)  # undo the line wrapping mail systems apply to long lines
    start = body.find('{"notificationType"')
    if start < 0:
        start = body.find('{"eventType"')
    envelope = body.find('"Type" : "Notification"') if start < 0 else -1
    if envelope >= 0:  # an SNS envelope whose "Message" is the notification, as a JSON string
        try:
            outer, _ = json.JSONDecoder().raw_decode(body[body.rfind("{", 0, envelope):])
            body, start = str(outer.get("Message", "")), 0
        except ValueError:
            return None
    if start < 0:
        return None
    try:
        doc, _ = json.JSONDecoder().raw_decode(body[start:])
    except ValueError:
        try:
            doc, _ = json.JSONDecoder().raw_decode(re.sub(r"\r?\n", "", body[start:]))
        except ValueError:
            return None
    if not isinstance(doc, dict):
        return None
    kind = doc.get("notificationType") or doc.get("eventType")
    verdicts: list[Verdict] = []
    if kind == "Bounce":
        b = doc.get("bounce") or {}
        for r in b.get("bouncedRecipients") or []:
            diag = _split_type(str(r.get("diagnosticCode") or ""))
            v = Verdict(recipient=str(r.get("emailAddress") or "").lower(), status=_clean_status(str(r.get("status") or "")),
                        diagnostic=diag or f"{b.get('bounceType', '')} {b.get('bounceSubType', '')}", action=str(r.get("action") or ""))
            verdicts.append(_finish(v))
    elif kind == "Complaint":
        c = doc.get("complaint") or {}
        for r in c.get("complainedRecipients") or []:
            verdicts.append(Verdict(recipient=str(r.get("emailAddress") or "").lower(), reason="feedback", outcome="complaint",
                                    feedback_type=str(c.get("complaintFeedbackType") or "abuse").lower()))
    elif kind == "Delivery":
        d = doc.get("delivery") or {}
        for r in d.get("recipients") or []:
            reply = str(d.get("smtpResponse") or "250 OK")
            status, code = _codes(reply)
            verdicts.append(Verdict(recipient=str(r).lower(), status=status or "2.0.0", reply_code=code or "250",
                                    diagnostic=reply, action="delivered", reason="delivered", outcome="delivered"))
    else:
        return None
    if not verdicts:
        return None
    return Parsed(kind="arf" if kind == "Complaint" else "dsn", verdicts=verdicts, subject=_header(msg, "Subject"),
                  date=_header(msg, "Date"))


def _parse_provider_feedback(msg: Message) -> Parsed | None:
    """Complaint formats that predate or bypass ARF: Microsoft JMRP reports and Apple Mail's
    one-click unsubscribe (an opt-out request sent on the reader's behalf)."""
    if str(msg.get("X-Apple-Unsubscribe", "")).strip().lower() == "true":
        rcpt = _EMAIL_RX.search(_header(msg, "To"))
        return Parsed(kind="arf", verdicts=[Verdict(recipient=rcpt.group(1).lower() if rcpt else "", reason="feedback",
                                                    outcome="complaint", feedback_type="opt-out")],
                      subject=_header(msg, "Subject"), date=_header(msg, "Date"))
    for part in msg.walk():
        if part.get_content_type() != "message/rfc822":
            continue
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message) and inner.get("X-HmXmrOriginalRecipient"):
            return Parsed(kind="arf", verdicts=[Verdict(recipient=str(inner.get("X-HmXmrOriginalRecipient")).strip().lower(),
                                                        reason="feedback", outcome="complaint", feedback_type="abuse",
                                                        source_ip=str(inner.get("X-Reporter-IP", "")).strip())],
                          subject=_header(msg, "Subject"), date=_header(msg, "Date"))
    return None


def parse_message(raw: bytes) -> Parsed:
    """Classify one raw message and extract its verdicts (see the module docstring)."""
    msg = _load(raw)
    subject = _header(msg, "Subject")
    for special in (_parse_arf, _parse_provider_feedback, _parse_ses_notification):
        found = special(msg)
        if found is not None:
            return found
    auto = str(msg.get("Auto-Submitted", "")).lower()
    is_bounce, why = _looks_like_bounce(msg)
    failures = None
    if not is_bounce:  # a format our markers miss, which one of flufl.bounce's detectors knows
        failures = _failures(msg)
        is_bounce = bool(failures.addresses)
    if not is_bounce:
        if auto.startswith("auto-replied") or _AUTO_REPLY_SUBJECT.search(subject) or msg.get("X-Autoreply") or \
                msg.get("X-Autorespond") or str(msg.get("Precedence", "")).lower() == "auto_reply":
            sender = _EMAIL_RX.search(_header(msg, "From"))
            v = Verdict(recipient=sender.group(1).lower() if sender else "", reason="vacation", outcome="auto_reply")
            return Parsed(kind="auto_reply", verdicts=[v], subject=subject, why="automatic reply (RFC 3834)")
        return Parsed(kind="not_bounce", subject=subject, why=why)
    text = _bounce_text(msg)
    if auto.startswith("auto-replied") and _delivery_status_blocks(msg) is None and not msg.get("X-Failed-Recipients") \
            and not (_STATUS_RX.search(text) or _REPLY_RX.search(text)) and not _KNOWN_FAILURE.search(text):
        failures = _failures(msg) if failures is None else failures
        if not failures.addresses:
            # an automatic reply with no delivery report, no SMTP code, no known failure wording and
            # no failed recipient a bounce detector knows is a notice written by some other software
            # (a mailbox rule, a helpdesk): not an MTA's failure report
            return Parsed(kind="auto_reply", subject=subject, why="automatic notice without any delivery-failure evidence")
    verdicts = _parse_rfc3464(msg, text) or _parse_text_bounce(msg, text, failures)
    return Parsed(kind="dsn", verdicts=verdicts, subject=subject, date=_header(msg, "Date"),
                  sender_mta=_header(msg, "From"))
