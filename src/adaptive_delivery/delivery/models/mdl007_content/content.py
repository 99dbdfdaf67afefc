"""What a sender writes, read out of a message: subject, preheader and body text, and the links.

MDL-007 judges content only. Headers (relays, client names, list footers added by a mailing-list
server) carry artefacts of the corpus they came from, not of what the sender wrote, so they never
reach the model: a model that learned them would fail on the next sender's mail.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from html.parser import HTMLParser

# Long enough for the whole of nearly every marketing message; longer bodies are cut (the model and
# the rules see the same text, and the score of a cut message is the score of its first part).
MAX_BODY_CHARS = 20_000
# What the learned members and the rule counts read of the body: its start. A campaign says what it
# is about up front, and reading all of a long newsletter cost the slowest emails ten times the
# median's time. The compliance checks (unsubscribe link, postal address) read the whole body.
MODEL_BODY_CHARS = 4_000
_URL = re.compile(r"https?://[^\s\"'<>()\[\]]+", re.IGNORECASE)
_SPACE = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# What a mailing-list server adds to what it relays: a "[list]" subject tag and a footer under a
# separator line. The sender never wrote them, and a corpus of list mail would teach a model that
# they mean ham (or, for one list, spam).
_LIST_TAG = re.compile(r"^(?:(?:re|fwd?|aw)\s*:\s*)*\[[^\]\n]{1,40}\]\s*", re.IGNORECASE)
_SEPARATOR = re.compile(r"^(?:_{10,}|-{10,}|--\s*)$")
_LIST_FOOTER = re.compile(r"listinfo|mailing list|\(un\)subscription|yahoo! ?groups|sf\.net email is sponsored"
                          r"|list maintainer|mailman/", re.IGNORECASE)
FOOTER_LINES = 30  # a list footer sits in the last lines of a relayed message


@dataclass(frozen=True)
class Content:
    """The sender's text of one message, as the scorer and the rules read it."""

    subject: str
    body: str
    preheader: str = ""
    links: tuple[str, ...] = ()
    html: bool = False
    headers: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        """One string for the text models: the subject first, so it is never cut off, then the
        preheader and the start of the body (`MODEL_BODY_CHARS`)."""
        parts = [self.subject, self.preheader, self.model_body]
        return "\n".join(p for p in parts if p)

    @property
    def model_body(self) -> str:
        return self.body[:MODEL_BODY_CHARS]

    @property
    def key(self) -> str:
        """Content hash: what the scorer caches by, and what keeps a message out of two splits."""
        return content_hash(self.subject, self.preheader, self.body)


def content_hash(subject: str, preheader: str, body: str) -> str:
    """sha256 of the normalised text: case and spacing differences are the same content."""
    norm = "\x1f".join(_SPACE.sub(" ", s).strip().lower() for s in (subject, preheader, body))
    return hashlib.sha256(norm.encode("utf-8", "replace")).hexdigest()


class _Visible(HTMLParser):
    """Visible text and link targets of an HTML part (no script, style or head)."""

    _HIDDEN = {"script", "style", "head", "title"}
    _BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "td"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        if tag in self._BREAKS:
            self.parts.append("\n")
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if href.lower().startswith(("http://", "https://")):
                self.links.append(href.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, list[str]]:
    """Visible text and link targets of HTML; broken markup yields what could be read."""
    parser = _Visible()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on some malformed declarations
        pass
    return tidy("".join(parser.parts)), parser.links


def tidy(text: str) -> str:
    """Collapse runs of spaces and blank lines (how text is laid out is not what it says)."""
    lines = (_SPACE.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def links_in(text: str) -> list[str]:
    """Bare http(s) URLs written in plain text."""
    return _URL.findall(text)


def strip_list_artefacts(subject: str, body: str) -> tuple[str, str]:
    """The subject without a leading list tag (its reply prefix kept) and the body without a
    list server's footer: the first separator line among the last lines that a list footer follows."""
    prefix = re.match(r"^(?:(?:re|fwd?|aw)\s*:\s*)*", subject, re.IGNORECASE)
    kept = prefix.group(0) if prefix else ""
    if _LIST_TAG.match(subject):
        subject = (kept + _LIST_TAG.sub("", subject, count=1)).strip()
    lines = body.split("\n")
    start = max(0, len(lines) - FOOTER_LINES)
    for i in range(start, len(lines)):
        if _SEPARATOR.match(lines[i].strip()) and _LIST_FOOTER.search("\n".join(lines[i + 1:])):
            return subject, "\n".join(lines[:i]).rstrip()
    return subject, body


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("latin-1", errors="replace")


def _body_parts(msg: Message) -> tuple[list[str], list[str]]:
    """Plain and HTML text parts, attachments and forwarded messages' headers left out."""
    plain: list[str] = []
    html: list[str] = []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if (part.get("Content-Disposition") or "").lower().startswith("attachment"):
            continue
        (html if part.get_content_subtype() == "html" else plain).append(_decoded(part))
    return plain, html


def _header(msg: Message, name: str) -> str:
    """A header's text with RFC 2047 encoded words decoded (what the reader sees)."""
    value = msg.get(name)
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (ValueError, IndexError, LookupError, UnicodeError, AttributeError):  # malformed encoded words
        text = str(value)
    return tidy(text)


def from_message(msg: Message | EmailMessage) -> Content:
    """A parsed RFC 5322 message's content; plain text is preferred where both forms are sent."""
    plain, html = _body_parts(msg)
    links: list[str] = []
    if any(p.strip() for p in plain):
        body = tidy("\n\n".join(plain))
    else:
        texts = [html_to_text(h) for h in html]
        body = tidy("\n\n".join(t for t, _ in texts))
        links = [link for _, found in texts for link in found]
    subject, body = strip_list_artefacts(_header(msg, "Subject"), body)
    links += links_in(body)
    headers = {name: _header(msg, name) for name in ("List-Unsubscribe", "List-Unsubscribe-Post", "From",
                                                  "In-Reply-To")}
    return Content(subject=subject, body=body[:MAX_BODY_CHARS],
                   links=tuple(dict.fromkeys(links)), html=bool(html),
                   headers={k: v for k, v in headers.items() if v})


def from_bytes(raw: bytes) -> Content:
    """A raw message's content (the corpus and the API's `raw` field read this way)."""
    return from_message(email.message_from_bytes(raw, policy=email.policy.compat32))
