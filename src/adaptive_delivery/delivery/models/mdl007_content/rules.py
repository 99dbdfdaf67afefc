"""Interpretable content rules (spec §3.4): what in a message looks like spam, where, and how to
rewrite it. The same findings are features of the learned scorer and the issues of its answer, so
a suggestion always names something the score actually weighs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import numpy as np

from adaptive_delivery.delivery.models.mdl007_content.content import Content

# Phrases senders' guides and filter vendors list as spam triggers, each with a plainer wording.
TRIGGERS: dict[str, str] = {
    "100% free": "included", "absolutely free": "included", "free": "complimentary",
    "risk free": "with a refund policy", "risk-free": "with a refund policy", "no obligation": "optional",
    "no cost": "included", "guaranteed": "expected", "guarantee": "promise", "winner": "selected member",
    "you have been selected": "you can join", "congratulations": "thank you", "dear friend": "hello",
    "click here": "read more", "click below": "read more", "buy now": "see the offer",
    "order now": "see the offer", "call now": "call us", "apply now": "apply",
    "make money": "earn", "earn money": "earn", "extra income": "additional work", "cash bonus": "bonus",
    "double your": "grow your", "million dollars": "a large sum", "lowest price": "a good price",
    "best price": "a good price", "cheap": "affordable", "discount": "reduced price",
    "special promotion": "offer", "incredible deal": "offer", "amazing": "useful",
    "miracle": "remarkable", "weight loss": "fitness", "lose weight": "get fit", "viagra": "medication",
    "no credit check": "simple application", "credit card": "card", "mortgage rates": "rates",
    "work from home": "remote work", "be your own boss": "run your own business",
    "this is not spam": "", "remove me": "unsubscribe", "opt in": "subscribe",
}
URGENCY: dict[str, str] = {
    "act now": "when you are ready", "urgent": "important", "limited time": "this month",
    "expires today": "ends soon", "last chance": "still available", "don't delete": "",
    "do not delete": "", "immediately": "soon", "hurry": "take a look", "while supplies last": "",
    "once in a lifetime": "rare", "only today": "today", "now or never": "now", "final notice": "reminder",
    "instant": "quick", "don't miss": "see",
}
_MONEY = re.compile(r"[$£€]\s?\d[\d,.]*|\b\d[\d,.]*\s?(?:dollars|usd|eur)\b|\$\$+|\bcash\b|\bmoney\b",
                    re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]{2,}")
_CAPS_WORD = re.compile(r"\b[A-Z]{4,}\b")
_BANGS = re.compile(r"!{2,}")
_SHORTENERS = {"bit.ly", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
               "cutt.ly", "shorturl.at", "tiny.cc"}
_IP_HOST = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_STREET = re.compile(r"\b\d{1,5}\s+\w+(?:\s\w+){0,3}\s(?:street|st|avenue|ave|road|rd|blvd|boulevard|lane|"
                     r"ln|drive|dr|way|suite|square|place)\b|\bp\.?\s?o\.?\s+box\s+\d+", re.IGNORECASE)
# postcodes in capitals only: a US state and ZIP ("IL 62701"), a UK postcode ("SW1A 1AA")
_POSTCODE = re.compile(r"\b[A-Z]{2}\s\d{5}(?:-\d{4})?\b|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b")
_UNSUBSCRIBE = re.compile(r"unsubscribe|opt[- ]?out|remove yourself|manage (?:your )?preferences",
                          re.IGNORECASE)
_STOP = {"the", "and", "for", "you", "your", "with", "this", "that", "from", "are", "our", "now", "new",
         "all", "get", "off", "just", "here", "what", "how", "has", "have", "can", "not", "out", "was"}


@dataclass(frozen=True)
class Finding:
    """One risk factor: what it is, where, how serious, and the rewrite that removes it."""

    code: str
    issue: str
    location: str  # subject | preheader | body | links | headers
    severity: str  # info | warning | critical
    suggestion: str
    rewrite: Callable[[Content], Content] | None = None


def _phrase(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", re.IGNORECASE)


# The four non-ASCII letters a case-insensitive pattern matches to an ASCII one (Python's re docs)
_ASCII_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


class _Phrases:
    """Many phrases as one pattern, longest first (a phrase wins over a word inside it): finding
    and rewriting them is one scan of the text, not one per phrase; `count` keeps each phrase's own
    pattern (the scorer's features count every phrase, overlaps included)."""

    def __init__(self, plain: dict[str, str]) -> None:
        self.plain = plain
        self.each = {t: _phrase(t) for t in plain}
        ordered = sorted(plain, key=len, reverse=True)
        self.pattern = re.compile(rf"(?<![\w-])(?:{'|'.join(map(re.escape, ordered))})(?![\w-])", re.IGNORECASE)
        self._folded = {t.casefold(): t for t in plain}

    def term(self, matched: str) -> str:
        """The phrase a match is (case-insensitive, as the pattern matched it)."""
        known = self._folded.get(matched.casefold())
        return known if known is not None else next(
            t for t in self.plain if re.fullmatch(re.escape(t), matched, re.IGNORECASE))

    def found(self, text: str) -> list[str]:
        """The phrases in the text, in the list's order."""
        seen = {self.term(m.group(0)) for m in self.pattern.finditer(text)}
        return [t for t in self.plain if t in seen]

    def swap(self, text: str) -> str:
        """Every phrase in its plainer wording; again while one is left (dropping one can join its
        neighbours into another)."""
        for _ in range(len(self.plain)):
            text = _SPACES.sub(" ", self.pattern.sub(lambda m: self.plain[self.term(m.group(0))], text))
            if not self.pattern.search(text):
                break
        return text

    def count(self, text: str) -> int:
        """Occurrences of each phrase, summed. A phrase absent from the folded text cannot match,
        so only the ones present are counted (the same sum, most patterns never run)."""
        folded = text.translate(_ASCII_FOLD).lower()
        return sum(len(p.findall(text)) for term, p in self.each.items() if term in folded)


_SPACES = re.compile(r"  +")
_TRIGGERS = _Phrases(TRIGGERS)
_URGENT = _Phrases(URGENCY)


def caps_share(text: str) -> float:
    """Share of words of 2+ letters written in capitals (acronyms count: senders shout in them too)."""
    words = _WORD.findall(text)
    return sum(w.isupper() for w in words) / len(words) if words else 0.0


def exclamation_density(text: str) -> float:
    """Exclamation marks per 100 characters."""
    return 100.0 * text.count("!") / max(len(text), 1)


def suspicious(url: str) -> bool:
    """A link a filter distrusts: a bare IP, a shortener, a port, credentials, or a deep subdomain."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return True
    return (not host or bool(_IP_HOST.match(host)) or host in _SHORTENERS or port not in (None, 80, 443)
            or "@" in parts.netloc or host.count(".") >= 4)


FEATURES = ("subject_triggers", "body_triggers", "urgency", "money", "links", "suspicious_links",
            "caps_share", "subject_caps_share", "exclamation_density", "subject_exclamations",
            "log_length", "html_only", "has_unsubscribe", "has_address")


def features(content: Content) -> np.ndarray:
    """The rule features, as the learned scorer reads them (order: FEATURES); counts and shares
    over the start of the body the learned members read too."""
    text, body = content.text, content.model_body
    return np.array([
        _TRIGGERS.count(content.subject), _TRIGGERS.count(body),
        _URGENT.count(text), len(_MONEY.findall(text)), math.log1p(len(content.links)),
        sum(suspicious(u) for u in content.links), caps_share(body),
        caps_share(content.subject), exclamation_density(body), content.subject.count("!"),
        math.log1p(len(content.body)), float(content.html and not content.body.strip()),
        float(_has_unsubscribe(content)), float(has_address(content.body)),
    ], dtype=np.float64)


def feature_matrix(contents: list[Content]) -> np.ndarray:
    return np.vstack([features(c) for c in contents]) if contents else np.zeros((0, len(FEATURES)))


def has_address(text: str) -> bool:
    """A postal address: a street line or PO box, or a postcode."""
    return bool(_STREET.search(text) or _POSTCODE.search(text))


def _has_unsubscribe(content: Content) -> bool:
    return bool(content.headers.get("List-Unsubscribe")) or bool(_UNSUBSCRIBE.search(content.body))


def _swap(phrases: _Phrases, field: str) -> Callable[[Content], Content]:
    def rewrite(content: Content) -> Content:
        return replace(content, **{field: phrases.swap(getattr(content, field)).strip()})
    return rewrite


def _calm(field: str) -> Callable[[Content], Content]:
    """Capitalised instead of shouted words, one full stop instead of a row of exclamation marks."""
    def rewrite(content: Content) -> Content:
        text = _CAPS_WORD.sub(lambda m: m.group(0).capitalize(), getattr(content, field))
        text = _BANGS.sub(".", text) if field == "body" else text.replace("!", "")
        return replace(content, **{field: text.strip()})
    return rewrite


def _drop_links(content: Content) -> Content:
    bad = [u for u in content.links if suspicious(u)]
    body = content.body
    for url in bad:
        body = body.replace(url, "")
    return replace(content, body=body, links=tuple(u for u in content.links if u not in bad))


def risk_findings(content: Content) -> list[Finding]:
    """Spam-risk factors with their rewrites (spec §3.4's six feature families)."""
    out: list[Finding] = []
    for field in ("subject", "body"):
        # found where the score reads (the start of the body); a rewrite fixes the whole field
        text = content.model_body if field == "body" else content.subject
        if words := _TRIGGERS.found(text):
            shown = ", ".join(f"'{w}'" for w in words[:4])
            plain = "; ".join(f"'{w}' -> '{TRIGGERS[w]}'" if TRIGGERS[w] else f"drop '{w}'" for w in words[:4])
            out.append(Finding("trigger_phrase", f"Spam trigger phrase {shown}", field,
                               "warning" if field == "subject" else "info", f"Reword: {plain}",
                               _swap(_TRIGGERS, field)))
        if words := _URGENT.found(text):
            shown = ", ".join(f"'{w}'" for w in words[:4])
            out.append(Finding("urgency", f"Pressure wording {shown}", field, "info",
                               "State the date or the reason instead of pressing the reader",
                               _swap(_URGENT, field)))
        shouted = caps_share(text)
        bangs = text.count("!") if field == "subject" else len(_BANGS.findall(text))
        if shouted > (0.3 if field == "subject" else 0.15) or bangs >= (1 if field == "subject" else 3):
            out.append(Finding("shouting", f"{shouted:.0%} of words in capitals, {bangs} exclamation runs",
                               field, "warning", "Write in sentence case and end with a full stop",
                               _calm(field)))
    if bad := [u for u in content.links if suspicious(u)]:
        out.append(Finding("suspicious_link", f"{len(bad)} link(s) to a bare IP, shortener, port or "
                           f"deep subdomain: {bad[0][:60]}", "links", "critical",
                           "Link to pages on your own sending domain", _drop_links))
    return out


def _subject_terms(content: Content) -> set[str]:
    return {w.lower() for w in _WORD.findall(content.subject) if len(w) > 2} - _STOP


# The sending platform's merge tag for a recipient's own unsubscribe link (filled in per message).
UNSUBSCRIBE_FOOTER = "Unsubscribe: {{unsubscribe_url}}"


def _add_unsubscribe(content: Content) -> Content:
    return replace(content, body=f"{content.body.rstrip()}\n\n{UNSUBSCRIBE_FOOTER}")


def _drop_reply_prefix(content: Content) -> Content:
    return replace(content, subject=re.sub(r"^(?:(?:re|fwd?)\s*:\s*)+", "", content.subject, flags=re.IGNORECASE))


def compliance_findings(content: Content) -> list[Finding]:
    """CAN-SPAM / bulk-sender checks (spec §3.4 compliance). Where a mechanical fix exists (an
    unsubscribe merge tag, dropping a false 'Re:') it is the rewrite; the rest is advice only."""
    out: list[Finding] = []
    if not _has_unsubscribe(content):
        out.append(Finding("no_unsubscribe", "No unsubscribe link or List-Unsubscribe header", "body",
                           "critical", f"Add '{UNSUBSCRIBE_FOOTER}' to the footer and a List-Unsubscribe "
                           "header", _add_unsubscribe))
    elif not content.headers.get("List-Unsubscribe-Post"):
        out.append(Finding("no_one_click", "No RFC 8058 one-click unsubscribe header", "headers", "warning",
                           "Add 'List-Unsubscribe-Post: List-Unsubscribe=One-Click' (Gmail and Yahoo "
                           "bulk-sender rules)"))
    if not has_address(content.body):
        out.append(Finding("no_address", "No physical postal address", "body", "warning",
                           "Add the sender's postal address to the footer"))
    terms = _subject_terms(content)
    body = content.body.lower()
    missing = sorted(t for t in terms if t not in body)
    if content.subject.lower().startswith(("re:", "fw:", "fwd:")) and not content.headers.get("In-Reply-To"):
        out.append(Finding("deceptive_subject", "Subject poses as a reply or forward", "subject",
                           "critical", "Drop the 'Re:'/'Fwd:' prefix from campaign subjects", _drop_reply_prefix))
    elif terms and len(missing) > max(2, len(terms) // 2):
        out.append(Finding("deceptive_subject", f"Subject promises what the body does not mention: "
                           f"{', '.join(missing[:5])}", "subject", "warning",
                           "Make the subject describe the body"))
    return out
