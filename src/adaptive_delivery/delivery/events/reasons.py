"""Why a message failed: a documented reason vocabulary and the rules that assign it.

The vocabulary follows the one the open-source bounce-analysis community settled on (the
reason names of the sisimai project), so verdicts are comparable with other tools. Each reason
maps to our outcome class (the labels MDL-001 and the simulator use) and to hard/soft.

Assignment, in order of trust:
1. the diagnostic text (what the receiving server said), matched against phrase rules below;
2. the enhanced status code (RFC 3463), most specific prefix first;
3. the basic SMTP reply code class.
The phrase rules are written for this project from RFC 3463/5248 meanings and the replies
large providers publish; each is a short, general phrase, not a copy of a particular message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    name: str
    outcome: str  # hard_bounce | soft_bounce | block | complaint | delivered | auto_reply
    description: str


REASONS: dict[str, Reason] = {r.name: r for r in (
    Reason("userunknown", "hard_bounce", "the mailbox does not exist"),
    Reason("hostunknown", "hard_bounce", "the recipient domain does not exist or has no mail host"),
    Reason("hasmoved", "hard_bounce", "the recipient has moved and left no forwarding"),
    Reason("notaccept", "hard_bounce", "the domain accepts no mail at all (null MX)"),
    Reason("mailboxfull", "soft_bounce", "the mailbox is over quota"),
    Reason("suspend", "soft_bounce", "the mailbox is disabled or suspended"),
    Reason("filtered", "soft_bounce", "refused by the recipient's own filter or settings"),
    Reason("expired", "soft_bounce", "delivery gave up after repeated temporary failures"),
    Reason("systemerror", "soft_bounce", "an error inside the receiving system"),
    Reason("systemfull", "soft_bounce", "the receiving system is out of space"),
    Reason("networkerror", "soft_bounce", "connection, DNS or routing trouble"),
    Reason("mailererror", "soft_bounce", "the local delivery program failed"),
    Reason("mesgtoobig", "soft_bounce", "the message is larger than allowed"),
    Reason("exceedlimit", "soft_bounce", "the message exceeds a per-recipient limit"),
    Reason("toomanyconn", "soft_bounce", "too many connections or recipients at once"),
    Reason("speeding", "soft_bounce", "rate limited: sending too fast (a throttle)"),
    Reason("onhold", "soft_bounce", "the verdict is pending; no final reason yet"),
    Reason("syntaxerror", "soft_bounce", "an SMTP protocol or command syntax error"),
    Reason("contenterror", "soft_bounce", "the message content or encoding was rejected"),
    Reason("notcompliantrfc", "soft_bounce", "the message does not comply with RFC 5322"),
    Reason("undefined", "soft_bounce", "a failure with no usable reason"),
    Reason("norelaying", "block", "the server refused to relay for the sender"),
    Reason("blocked", "block", "the sending IP or host is blocked (blocklist, reputation, rDNS)"),
    Reason("badreputation", "block", "refused because of the sender's low reputation"),
    Reason("requireptr", "block", "refused because the sending IP has no valid PTR record"),
    Reason("authfailure", "block", "SPF, DKIM or DMARC requirements not met"),
    Reason("spamdetected", "block", "the message was judged to be spam"),
    Reason("virusdetected", "block", "the message carried a virus"),
    Reason("policyviolation", "block", "refused by the receiving site's policy"),
    Reason("securityerror", "block", "a security or TLS requirement was not met"),
    Reason("rejected", "block", "the sender (envelope from) was refused"),
    Reason("feedback", "complaint", "a feedback-loop complaint (ARF)"),
    Reason("delivered", "delivered", "a delivery status report for a delivered message"),
    Reason("vacation", "auto_reply", "an automatic reply (RFC 3834), not a failure"),
)}

HARD_REASONS = {"userunknown", "hostunknown", "hasmoved", "notaccept"}
OUTCOME_CLASSES = ("hard_bounce", "soft_bounce", "block", "complaint", "delivered", "auto_reply")


def outcome_for(reason: str, hard: bool | None = None) -> str:
    """Our outcome class for a reason; a hard flag from the source wins for bounce reasons."""
    base = REASONS[reason].outcome if reason in REASONS else "soft_bounce"
    if hard and base in ("soft_bounce", "block"):
        return "hard_bounce"
    return base


# ---- phrase rules ------------------------------------------------------------------------
# Checked in this order; the first reason with a matching phrase wins. Specific phrasings come
# first, generic ones ("rejected", "not allowed", "policy") last. A reason may appear twice:
# once early for its unmistakable phrasings and once late for its vague ones.
_PHRASES: list[tuple[str, tuple[str, ...]]] = [
    ("feedback", (r"feedback-type:",)),
    ("notcompliantrfc", (r"not rfc ?5322 compliant", r"rfc ?5322", r"rfc ?2822", r"multiple addresses in from",
                         r"multiple (subject|from|date|to) .{0,10}headers", r"not (rfc|rfc-)?compliant", r"malformed header")),
    ("policyviolation", (r"for policy reasons", r"denied by policy", r"protocol violation", r"header error",
                         r"content presents a potential", r"violat\w* (our |the )?(policy|policies)")),
    ("requireptr", (
        r"\bptr\b", r"reverse (dns|lookup|hostname)", r"\brdns\b", r"no (valid )?reverse", r"cannot find your hostname",
        r"unresolvable (address|host|client)", r"client host rejected: cannot find", r"host name lookup failed",
        r"ip name lookup failed", r"does not resolve to", r"unverifi?y?able sending ip", r"mismatches client ip",
    )),
    ("authfailure", (
        r"\bspf\b", r"\bdkim\b.{0,40}(fail|not pass)", r"dmarc", r"not authenticated", r"sender is unauthenticated",
        r"unauthenticated e?-?mail", r"authentication (check|results)", r"does not have authentication information",
        r"5\.7\.2[346]\b", r"5\.7\.509", r"5\.7\.515", r"does not meet the required authentication",
        r"multiple authentication checks failed",
    )),
    ("securityerror", (r"authentication required", r"unauthenticated senders?", r"authrequired", r"must use (tls|starttls)",
                       r"encryption required", r"tls (required|is required)")),
    ("virusdetected", (r"virus", r"malware", r"infected", r"trojan")),
    ("onhold", (r"on hold",)),
    ("mailererror", (r"procmail", r"mailer error", r"mailer\b.{0,12}(error|failed)", r"pipe to", r"command died",
                     r"unknown mailer", r"exit (code|status)", r"child status")),
    ("notaccept", (r"no mx (record|found)", r"couldn'?t find a mail exchanger", r"no smtp service", r"does not accept mail",
                   r"null mx", r"system not accepting", r"accepts no mail")),
    ("toomanyconn", (r"too many (connections|sessions|concurrent)", r"connection limit", r"frequency limited",
                     r"connection rate limit", r"too many recipients(?! this hour)", r"too many errors")),
    ("badreputation", (r"reputation", r"\bts0[1-3]\b", r"\btss04\b", r"4\.7\.650", r"sender score")),
    ("speeding", (
        r"rate limit", r"too fast", r"receiving mail at a rate", r"\b4\.7\.28\b", r"unusual rate", r"throttl",
        r"sending rate", r"too many (messages|mails) (from|in)", r"sent to too many recipients", r"recipients this hour",
        r"exceeded .{0,30}(rate|quota of messages)",
    )),
    ("blocked", (r"client host blocked", r"ip .{0,25}(blocked|bloquee)", r"blocked ip", r"blocked (for|by) ",
                 r"invalid ip for sending", r"my name was rejected", r"may not be mail exchanger")),
    ("hostunknown", (r"host or domain name not found",)),
    ("blocked", (r"refused to talk to me", r"deferred: connection refused")),
    ("userunknown", (r"<<<\s*5\d\d.{0,80}user unknown",)),
    ("networkerror", (r"name service error", r"unexpected name server reply", r"establish an smtp connection",
                      r"dns query failed", r"no route to host")),
    ("userunknown", (r"recipient address rejected: access denied",)),
    ("contenterror", (r"headers too large", r"header too large")),
    ("expired", (r"could not deliver for the last", r"retried for", r"did not accept our requests to connect",
                 r"still undelivered", r"delivery failed \d+ attempts", r"will continue trying", r"could not be delivered for",
                 r"host not reachable", r"(connection|operation) timed out", r"could not find a gateway", r"envelope expired")),
    ("__strong_end__", ()),
    ("spamdetected", (
        r"\bspam\b", r"unsolicited", r"junk mail", r"bulk mail", r"content filter", r"scored too high", r"spam score",
        r"suspicious (message|content)", r"blocked by (the )?spam", r"classified as", r"mail appears to be", r"phish",
        r"\bube\b", r"message content rejected", r"blacklisted (url|link)", r"mail rejet",
    )),
    ("expired", (r"gave up", r"retry time(out)?", r"failing for a long time", r"delivery time limit", r"message expired",
                 r"too long in queue", r"4\.4\.7\b", r"was not delivered within", r"have not been able to deliver")),
    ("mesgtoobig", (r"too (big|large)", r"message size", r"exceeds (the )?(maximum|fixed) (message )?size", r"size limit",
                    r"5\.3\.4\b", r"line limit exceeded")),
    ("exceedlimit", (r"exceeds? .{0,20}limit", r"message length exceeds", r"5\.2\.3\b")),
    ("mailboxfull", (
        r"mailbox (is )?(full|over|exceeded)", r"over ?quota", r"quota (exceeded|exceed|full)", r"exceeded (storage|quota)",
        r"out of storage", r"insufficient storage", r"(disk|mail ?box|inbox|mail ?folder) (is )?full", r"user is over",
        r"full mailbox", r"5\.2\.2\b", r"4\.2\.2\b", r"storage (allocation|space)", r"exceeds allowed size",
    )),
    ("systemfull", (r"system (is )?full", r"out of (disk|memory)", r"insufficient (system|disk space)", r"disk full")),
    ("suspend", (
        r"(account|mailbox|user|recipient)\b.{0,30}(is |has been )?(disabled|suspended|deactivated|frozen|locked|discontinued)",
        r"suspend", r"(account|mailbox) (is )?inactive", r"no longer active", r"temporar(il)?y locked", r"disabled recipient",
        r"(account|compte).{0,30}(is )?(blocked|bloque)", r"5\.7\.13\b",
    )),
    ("hasmoved", (r"has moved", r"no longer on server", r"recipient no longer", r"5\.1\.6\b")),
    ("norelaying", (r"relay(ing)? (access )?denied", r"relaying (is )?(not )?(allowed|permitted)", r"not permitted to relay",
                    r"unable to relay", r"relay not permitted", r"we do not relay", r"relay access", r"not configured to relay",
                    r"no relaying", r"address is not verified")),
    ("rejected", (
        r"sender (address )?(rejected|refused|denied|unknown|blocked|not allowed)", r"sender was rejected", r"domain of sender",
        r"sender.{0,20}verify failed", r"sender domain (must exist|does not exist|not found)", r"envelope sender", r"invalid sender",
        r"bad sender", r"5\.1\.[78]\b", r"sender is not allowed", r"(unroutable|unverifiable|invalid|unknown|bad) sender",
        r"purported responsible address", r"not a member of", r"are not member", r"from: domain is invalid", r"to/from an address that has been blacklisted",
    )),
    ("hostunknown", (
        r"host (or domain name )?not found", r"host \S+ not found", r"(unknown|invalid|nonexist\w*|non-exist\w*) (host|domain)",
        r"domain (not found|does not exist|may not exist)", r"no (such|valid) (host|domain)", r"host unknown", r"nxdomain",
        r"unrouteable (mail )?(domain|address)", r"domain name not found", r"5\.1\.2\b", r"5\.4\.4\b",
        r"domain is not reachable", r"unable to route", r"(?<![@\w.-])[a-z0-9-]+\.[a-z0-9.-]+ does not exist",
        r"dns error", r"mx (record|lookup)",
    )),
    ("userunknown", (
        r"user ?unknown", r"unknown (user|recipient|local part|mailbox|address)", r"no such (user|mailbox|recipient|address|account)",
        r"(user|mailbox|recipient|address|account|local part) (does not|doesn't|do not) exist", r"does not exist", r"user not exist",
        r"(invalid|bad|unknown) (recipient|mailbox|address|user)", r"not (a )?(valid|known|registered) (user|recipient|mailbox)",
        r"is not a registered", r"mailbox (unavailable|not found|not available)", r"user not found", r"recipient not found",
        r"addressee unknown", r"doesn't have a .{0,40} account", r"not our customer", r"5\.1\.1\b", r"5\.1\.10\b",
        r"no mailbox", r"unknown or illegal alias", r"undeliverable address", r"no account by that name", r"invalid address",
        r"user .{0,40}not listed", r"is not a valid mailbox", r"mailbox name not allowed", r"recipient unknown",
        r"no valid recipients", r"account (does not exist|not available)", r"unknown local", r"user doesn't exist",
        r"invalid final delivery userid", r"inactive email", r"destinataire invalide", r"recipient name is not recognized",
        r"not listed in domino directory", r"unknown user:",
    )),
    ("blocked", (
        r"block ?list", r"blacklist", r"black list", r"spamhaus", r"spamcop", r"barracuda", r"\bsorbs\b", r"\bdnsbl\b", r"\brbl\b",
        r"(your ip|ip address|client host|sending host|your host|host \[|connecting (ip|host)|client ip|your network|\bip\b).{0,40}"
        r"(blocked|banned|refused|rejected|denied|not allowed|listed|blacklisted)",
        r"(blocked|banned|listed).{0,30}(\bip\b|host|network)", r"access denied", r"\[bl\d+\]", r"\bs3150\b", r"\bs3140\b",
        r"service refused", r"connection refused", r"not authorized to send", r"poor reputation", r"has been blocked",
        r"\bcs01\b", r"\bhm08\b", r"5\.7\.606", r"bl0000", r"smtp server of your isp", r"dynamic ip", r"residential",
        r"dialup", r"open relay", r"your mail server has been", r"(mail|messages) from .{0,60} (weren.t sent|are blocked)",
        r"not accepting connections", r"\(bl\)",
    )),
    ("filtered", (r"filter", r"not accept(ing)? (mail|messages) from", r"refused by the recipient", r"rejected by the recipient",
                  r"recipient (has )?(blocked|rejected|refused)", r"delivery not authorized", r"message rejected by recipient")),
    ("policyviolation", (r"policy", r"prohibited", r"not allowed", r"not accepted for", r"local restriction")),
    ("securityerror", (r"\btls\b", r"starttls", r"security", r"certificate")),
    ("contenterror", (r"content", r"encoding", r"8-?bit", r"\bmime\b", r"header (syntax|too)", r"headers too large",
                      r"bad header", r"duplicate header", r"media type")),
    ("networkerror", (r"connection (timed out|refused|reset|lost|closed)", r"network", r"loop", r"too many hops",
                      r"could not connect", r"unable to connect", r"lost connection", r"name service error", r"no route to host",
                      r"name server", r"dns", r"routing", r"establish an smtp connection")),
    ("systemerror", (r"system error", r"internal (server )?error", r"temporar(il)?y (failure|unavailable|error)",
                     r"server (error|failure)", r"local error", r"configuration error", r"system config", r"unavailable",
                     r"queue file write error", r"could not load", r"duplicated message-id", r"transaction failed", r"unable to contact ldap", r"ldap")),
    ("syntaxerror", (r"syntax error", r"incorrectly constructed", r"malformed (recipient )?address", r"command (not recognized|unrecognized|parameter not implemented)", r"bad sequence",
                     r"command outside", r"unrecognized command", r"not implemented")),
    ("onhold", (r"pending",)),
    ("userunknown", (r"recipient address rejected",)),
]
# One compiled pattern per entry; the entries before the sentinel are the strong ones.
_COMPILED = [
    (name, re.compile("|".join(f"(?:{p})" for p in phrases), re.IGNORECASE | re.DOTALL) if phrases else None)
    for name, phrases in _PHRASES
]
_STRONG_END = [n for n, _ in _PHRASES].index("__strong_end__")
# Multi-line replies repeat their code on every line ("550-5.7.1 ..."); drop the repeats before matching.
_CONTINUATION = re.compile(r"(?<=\S)\s+[245]\d\d[- ][245]\.\d{1,3}\.\d{1,3}\s+")

# RFC 3463 / RFC 5248 enhanced status codes, most specific first.
_STATUS: list[tuple[str, str]] = [
    ("5.7.26", "authfailure"), ("5.7.25", "requireptr"), ("5.7.24", "authfailure"), ("5.7.23", "authfailure"),
    ("5.7.27", "notaccept"), ("5.7.509", "authfailure"), ("5.7.515", "authfailure"), ("5.7.606", "blocked"),
    ("5.7.13", "suspend"), ("5.7.17", "hasmoved"), ("5.7.1", "blocked"), ("5.7.0", "securityerror"), ("5.7.9", "policyviolation"),
    ("5.7.", "securityerror"), ("4.7.650", "badreputation"), ("4.7.28", "speeding"), ("4.7.", "blocked"),
    ("5.1.10", "userunknown"), ("5.1.1", "userunknown"), ("5.1.2", "hostunknown"), ("5.1.3", "userunknown"),
    ("5.1.4", "userunknown"), ("5.1.5", "userunknown"), ("5.1.6", "hasmoved"), ("5.1.7", "rejected"), ("5.1.8", "rejected"),
    ("5.1.", "userunknown"), ("4.1.", "onhold"),
    ("5.2.1", "suspend"), ("5.2.2", "mailboxfull"), ("5.2.3", "exceedlimit"), ("5.2.4", "systemerror"), ("5.2.", "filtered"),
    ("4.2.2", "mailboxfull"), ("4.2.1", "suspend"), ("4.2.", "mailboxfull"),
    ("5.3.1", "systemfull"), ("5.3.2", "notaccept"), ("5.3.4", "mesgtoobig"), ("5.3.", "systemerror"), ("4.3.1", "systemfull"),
    ("4.3.", "systemerror"),
    ("4.4.7", "expired"), ("5.4.7", "expired"), ("5.4.4", "hostunknown"), ("4.4.4", "hostunknown"), ("5.4.3", "hostunknown"),
    ("5.4.6", "networkerror"), ("5.4.", "networkerror"), ("4.4.1", "expired"), ("4.4.", "networkerror"),
    ("5.5.3", "toomanyconn"), ("5.5.", "syntaxerror"), ("4.5.3", "toomanyconn"), ("4.5.", "syntaxerror"),
    ("5.6.", "contenterror"), ("4.6.", "contenterror"),
]


def reason_from_status(status: str) -> str | None:
    for prefix, reason in _STATUS:
        if status == prefix or (prefix.endswith(".") and status.startswith(prefix)):
            return reason
    return None


def reason_from_text(text: str, strong_only: bool = False) -> str | None:
    text = _CONTINUATION.sub(" ", text)
    for name, rx in _COMPILED[:_STRONG_END] if strong_only else _COMPILED:
        if rx is not None and rx.search(text):
            return name
    return None


def classify(diagnostic: str, status: str = "", reply_code: str = "", action: str = "") -> str:
    """The reason for one failed recipient, from what the server said and the codes it gave."""
    if action.lower().startswith("delivered") or action.lower() == "relayed" or status.startswith("2."):
        return "delivered"
    strong = reason_from_text(diagnostic, strong_only=True) if diagnostic else None
    if strong:
        return strong
    by_text = reason_from_text(diagnostic) if diagnostic else None
    by_status = reason_from_status(status) if status else None
    if by_text and by_status and by_text != by_status:
        # a precise status code beats a generic phrase; a precise phrase beats a generic code
        if by_status in {"mailboxfull", "hostunknown", "hasmoved", "mesgtoobig", "exceedlimit", "expired", "authfailure",
                         "requireptr", "contenterror"} and \
                by_text not in {"authfailure", "requireptr", "virusdetected", "spamdetected"}:
            return by_status
        return by_text
    if by_text:
        return by_text
    if by_status:
        return by_status
    if status.startswith("4.") or reply_code.startswith("4"):
        return "expired" if "expired" in diagnostic.lower() else "onhold"
    if status.startswith("5.") or reply_code.startswith("5"):
        return "undefined"
    return "undefined"
