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
# Checked in this order; the first reason with a matching phrase wins.
_PHRASES: list[tuple[str, tuple[str, ...]]] = [
    ("feedback", (r"feedback-type:",)),
    ("authfailure", (
        r"\bspf\b.{0,60}(fail|not pass|did not|hard ?fail)", r"\bdkim\b.{0,40}(fail|not pass)", r"dmarc",
        r"not authenticated", r"sender is unauthenticated", r"authentication (check|results|required)", r"5\.7\.2[3-6]\b",
        r"5\.7\.509", r"5\.7\.515", r"does not meet the required authentication", r"mismatches client ip",
        r"multiple authentication checks failed",
    )),
    ("requireptr", (
        r"\bptr\b", r"reverse (dns|lookup|hostname)", r"rdns", r"no (valid )?reverse", r"cannot find your hostname",
        r"unresolvable (address|host|client)", r"5\.7\.25\b", r"client host rejected: cannot find",
        r"host name lookup failed", r"does not resolve to",
    )),
    ("virusdetected", (r"virus", r"malware", r"infected", r"trojan")),
    ("spamdetected", (
        r"\bspam\b", r"unsolicited", r"junk mail", r"bulk mail", r"content filter", r"message filtered",
        r"scored too high", r"spam score", r"suspicious (message|content)", r"rejected by (the )?recipient domain",
        r"blocked by (the )?spam", r"classified as", r"mail appears to be", r"phish",
    )),
    ("mailboxfull", (
        r"mailbox (is )?(full|over|exceeded)", r"over ?quota", r"quota (exceeded|exceed|full)", r"exceeded (storage|quota)",
        r"out of storage", r"insufficient (storage|disk space)", r"(disk|mail ?box|inbox) (is )?full", r"user is over",
        r"full mailbox", r"5\.2\.2\b", r"4\.2\.2\b", r"storage (allocation|space)",
    )),
    ("suspend", (
        r"(account|mailbox|user) (is )?(disabled|suspended|inactive|locked|deactivated|frozen|expired)", r"suspend",
        r"inactive (email|account|mailbox|user)", r"is disabled", r"is inactive", r"no longer active", r"temporarily disabled",
        r"5\.2\.1\b.{0,40}(disabled|inactive)",
    )),
    ("hasmoved", (r"has moved", r"no longer on server", r"recipient no longer", r"5\.1\.6\b")),
    ("hostunknown", (
        r"host (or domain name )?not found", r"(unknown|invalid|nonexist\w*|non-exist\w*) (host|domain)", r"domain (not found|does not exist)",
        r"no (such|valid) (host|domain)", r"name service error", r"host unknown", r"nxdomain", r"dns error", r"unrouteable (mail )?domain",
        r"mx (record|lookup)", r"domain name not found", r"5\.1\.2\b", r"5\.4\.4\b", r"domain is not reachable", r"no route to host",
        r"unable to route", r"no mx",
    )),
    ("userunknown", (
        r"user ?unknown", r"unknown (user|recipient|local part|mailbox|address)", r"no such (user|mailbox|recipient|address|account)",
        r"(user|mailbox|recipient|address|account|local part) (does not|doesn't|do not) exist", r"does not exist",
        r"(invalid|bad|unknown) (recipient|mailbox|address|user)", r"recipient (address )?rejected", r"not (a )?(valid|known) (user|recipient|mailbox)",
        r"mailbox (unavailable|not found|not available)", r"user not found", r"recipient not found", r"addressee unknown",
        r"doesn't have a .{0,40} account", r"not our customer", r"5\.1\.1\b", r"5\.1\.10\b", r"no mailbox", r"unknown or illegal alias",
        r"undeliverable address", r"address rejected", r"no account by that name", r"invalid address", r"unrouteable address",
        r"user not listed", r"is not a valid mailbox", r"mailbox name not allowed", r"recipient unknown", r"no valid recipients",
        r"account (does not exist|not available)", r"not listed in", r"unknown local", r"user doesn't exist",
    )),
    ("norelaying", (r"relay(ing)? (access )?denied", r"relaying (is )?(not )?(allowed|permitted)", r"not permitted to relay",
                    r"unable to relay", r"relay not permitted", r"we do not relay", r"relay access")),
    ("rejected", (
        r"sender (address )?(rejected|refused|denied|unknown|blocked|not allowed)", r"domain of sender",
        r"mail from.{0,40}(rejected|refused|not (allowed|accepted))", r"sender.{0,20}verify failed",
        r"sender domain (must exist|does not exist|not found)", r"envelope sender", r"invalid sender",
        r"bad sender", r"5\.1\.[78]\b", r"sender is not allowed", r"(unroutable|unverifiable|invalid|unknown|bad) sender",
        r"sender address", r"from address",
    )),
    ("badreputation", (r"reputation", r"\bts0[1-3]\b", r"4\.7\.650", r"sender score", r"\bts04\b")),
    ("speeding", (
        r"rate limit", r"too fast", r"receiving mail at a rate", r"\b4\.7\.28\b", r"unusual rate",
        r"throttl", r"try again later", r"temporarily deferred", r"sending rate", r"too many (messages|mails) (from|in)",
        r"has sent to too many recipients", r"exceeded .{0,30}(rate|quota of messages)",
    )),
    ("blocked", (
        r"block ?list", r"blacklist", r"black list", r"spamhaus", r"spamcop", r"barracuda", r"\bsorbs\b", r"\bdnsbl\b", r"\brbl\b",
        r"(your ip|ip address|client host|sending host|your host|host \[|connecting (ip|host)|client ip|your network|\bip\b).{0,40}"
        r"(blocked|banned|refused|rejected|denied|not allowed|listed|blacklisted)",
        r"(blocked|banned|listed).{0,30}(\bip\b|host|network)", r"access denied", r"\[bl\d+\]", r"\bs3150\b", r"\bs3140\b",
        r"service refused", r"connection refused", r"not authorized to send", r"poor reputation", r"has been blocked",
        r"\bcs01\b", r"\bhm08\b", r"5\.7\.606", r"bl0000", r"smtp server of your isp", r"dynamic ip", r"residential",
        r"dialup", r"open relay", r"your mail server has been", r"(mail|messages) from .{0,60} (weren.t sent|are blocked)",
    )),
    ("toomanyconn", (r"too many (connections|sessions|concurrent)", r"connection limit", r"too many recipients", r"too many errors")),
    ("mesgtoobig", (r"too (big|large|long)", r"message size", r"exceeds (the )?(maximum|size|fixed)", r"size limit",
                    r"message length exceeds", r"5\.3\.4\b")),
    ("exceedlimit", (r"exceed(s|ed)? .{0,20}limit", r"5\.2\.3\b")),
    ("filtered", (r"filter", r"not accept(ing)? (mail|messages) from", r"refused by the recipient", r"rejected by the recipient",
                  r"recipient (has )?(blocked|rejected|refused)", r"delivery not authorized", r"message rejected by recipient",
                  r"\bdenied\b")),
    ("policyviolation", (r"policy", r"prohibited", r"not allowed", r"not accepted for", r"local restriction")),
    ("securityerror", (r"\btls\b", r"starttls", r"security", r"certificate", r"encryption required", r"authentication required")),
    ("notcompliantrfc", (r"rfc ?5322", r"rfc ?2822", r"not (rfc|rfc-)?compliant", r"duplicate (header|message-id)", r"malformed header")),
    ("contenterror", (r"content", r"encoding", r"8-?bit", r"mime", r"header (syntax|error)", r"bad header")),
    ("expired", (r"expired", r"time(d)? ?out", r"could not be delivered for", r"gave up", r"giving up", r"retry time(out)?", r"failing for a long time", r"retry timeout", r"delivery time limit",
                 r"not (been )?delivered (for|after)", r"delayed for", r"too long in queue", r"no answer", r"4\.4\.7\b",
                 r"was not delivered within", r"have not been able to deliver")),
    ("networkerror", (r"connection (timed out|refused|reset|lost|closed)", r"network", r"loop", r"too many hops",
                      r"could not connect", r"unable to connect", r"lost connection", r"dns", r"routing")),
    ("systemfull", (r"system (is )?full", r"out of (disk|memory)", r"insufficient system", r"disk full")),
    ("systemerror", (r"system error", r"internal (server )?error", r"temporar(il)?y (failure|unavailable|error)",
                     r"server (error|failure)", r"local error", r"configuration error", r"system config", r"unavailable")),
    ("mailererror", (r"mailer error", r"program", r"procmail", r"pipe to", r"command (died|failed)", r"exit (code|status)", r"unknown mailer")),
    ("syntaxerror", (r"syntax error", r"command (not recognized|unrecognized)", r"bad sequence", r"command outside", r"unrecognized command")),
    ("onhold", (r"on hold", r"pending")),
]
_COMPILED = [(name, re.compile("|".join(f"(?:{p})" for p in phrases), re.IGNORECASE | re.DOTALL)) for name, phrases in _PHRASES]

# RFC 3463 / RFC 5248 enhanced status codes, most specific first.
_STATUS: list[tuple[str, str]] = [
    ("5.7.26", "authfailure"), ("5.7.25", "requireptr"), ("5.7.24", "authfailure"), ("5.7.23", "authfailure"),
    ("5.7.27", "notaccept"), ("5.7.509", "authfailure"), ("5.7.515", "authfailure"), ("5.7.606", "blocked"),
    ("5.7.1", "blocked"), ("5.7.0", "securityerror"), ("5.7.9", "policyviolation"), ("5.7.13", "suspend"), ("5.7.17", "hasmoved"),
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


def reason_from_text(text: str) -> str | None:
    for name, rx in _COMPILED:
        if rx.search(text):
            return name
    return None


def classify(diagnostic: str, status: str = "", reply_code: str = "", action: str = "") -> str:
    """The reason for one failed recipient, from what the server said and the codes it gave."""
    if action.lower().startswith("delivered") or action.lower() == "relayed" or status.startswith("2."):
        return "delivered"
    by_text = reason_from_text(diagnostic) if diagnostic else None
    by_status = reason_from_status(status) if status else None
    if by_text and by_status and by_text != by_status:
        # a precise status code beats a generic phrase; a precise phrase beats a generic code
        if by_status in {"mailboxfull", "hostunknown", "hasmoved", "mesgtoobig", "expired", "authfailure", "requireptr"} and \
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
