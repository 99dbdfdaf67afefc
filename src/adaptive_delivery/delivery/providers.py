"""The public provider catalogue: facts about real mailbox providers that any sender knows or can
read off its own logs (who owns which domains, their published sender rules, how fast their SMTP
servers usually answer, and how they word their replies). Served code, parsers and features read
providers from here; the twin adds its hidden laws on top (`twin.providers`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

REPLY_KINDS = (
    "accepted",
    "throttle",
    "reputation",
    "block",
    "blocklist",
    "auth",
    "spam_content",
    "policy",
    "user_unknown",
    "mailbox_full",
    "inactive",
)


@dataclass(frozen=True, kw_only=True)
class PublicProvider:
    """What a sender knows about one mailbox provider."""

    name: str
    domains: tuple[str, ...]
    category: str  # consumer | corporate | disposable
    requires_auth: bool  # SPF or DKIM, plus DMARC for bulk senders (Gmail/Yahoo Feb 2024, Outlook May 2025)
    requires_one_click: bool  # RFC 8058 List-Unsubscribe-Post for bulk senders
    complaint_soft_limit: float  # published "stay below" complaint rate
    complaint_hard_limit: float  # published "never reach" complaint rate
    uses_public_blocklists: bool
    reply_latency_ms: float  # median SMTP transaction latency, as a sender's own history shows it
    sends_fbl: bool = True  # sends per-message ARF complaint reports


def _public(name: str, domains: tuple[str, ...], **facts: object) -> PublicProvider:
    return PublicProvider(name=name, domains=domains, **facts)  # type: ignore[arg-type]


CATALOGUE: tuple[PublicProvider, ...] = (
    _public(
        'gmail', ('gmail.com', 'googlemail.com'),
        category='consumer', requires_auth=True, requires_one_click=True, complaint_soft_limit=0.001, complaint_hard_limit=0.003, uses_public_blocklists=False, reply_latency_ms=320, sends_fbl=False,
    ),
    _public(
        'yahoo', ('yahoo.com', 'ymail.com', 'rocketmail.com'),
        category='consumer', requires_auth=True, requires_one_click=True, complaint_soft_limit=0.001, complaint_hard_limit=0.003, uses_public_blocklists=True, reply_latency_ms=450, sends_fbl=True,
    ),
    _public(
        'outlook', ('outlook.com', 'hotmail.com', 'live.com', 'msn.com'),
        category='consumer', requires_auth=True, requires_one_click=False, complaint_soft_limit=0.001, complaint_hard_limit=0.003, uses_public_blocklists=True, reply_latency_ms=600, sends_fbl=True,
    ),
    _public(
        'aol', ('aol.com', 'aim.com'),
        category='consumer', requires_auth=True, requires_one_click=True, complaint_soft_limit=0.001, complaint_hard_limit=0.003, uses_public_blocklists=True, reply_latency_ms=500, sends_fbl=True,
    ),
    _public(
        'apple', ('icloud.com', 'me.com', 'mac.com'),
        category='consumer', requires_auth=True, requires_one_click=False, complaint_soft_limit=0.001, complaint_hard_limit=0.003, uses_public_blocklists=False, reply_latency_ms=380, sends_fbl=False,
    ),
    _public(
        'comcast', ('comcast.net', 'xfinity.com'),
        category='consumer', requires_auth=False, requires_one_click=False, complaint_soft_limit=0.002, complaint_hard_limit=0.005, uses_public_blocklists=True, reply_latency_ms=700, sends_fbl=True,
    ),
    _public(
        'corporate', ('acme-corp.com', 'globex.com', 'initech.com', 'umbrella-inc.com', 'hooli.io'),
        category='corporate', requires_auth=False, requires_one_click=False, complaint_soft_limit=0.002, complaint_hard_limit=0.005, uses_public_blocklists=True, reply_latency_ms=900, sends_fbl=False,
    ),
    _public(
        'disposable', ('mailinator.com', 'guerrillamail.com', '10minutemail.com', 'yopmail.com'),
        category='disposable', requires_auth=False, requires_one_click=False, complaint_soft_limit=0.005, complaint_hard_limit=0.01, uses_public_blocklists=True, reply_latency_ms=250, sends_fbl=False,
    ),
)

PROVIDER_NAMES: tuple[str, ...] = tuple(p.name for p in CATALOGUE)
PROVIDER_INDEX: dict[str, int] = {p.name: i for i, p in enumerate(CATALOGUE)}
N_PROVIDERS = len(CATALOGUE)

DOMAIN_TO_PROVIDER: dict[str, str] = {d: p.name for p in CATALOGUE for d in p.domains}


def provider_for_domain(domain: str) -> str:
    """Map a recipient domain to its mailbox provider ('corporate' for unknown domains)."""
    return DOMAIN_TO_PROVIDER.get(domain.lower().strip(), "corporate")


def public_facts(name: str) -> PublicProvider:
    return CATALOGUE[PROVIDER_INDEX[name]]


def typical_latency_ms(provider: str) -> float:
    """The reply latency an MTA sees from this provider on a quiet day (its own history)."""
    return public_facts(provider).reply_latency_ms


# What the providers publish as their rate-limit replies (postmaster pages; KumoMTA's shaping rules
# key on the same markers): a reply carrying one says "slow down", whatever else it says.
RATE_LIMIT_MARKERS = re.compile(
    r"4\.7\.28|\[TSS0[45]\]|\[IPTS0[45]\]|\(S843\)|\(S775\)|RL0000|receiving mail at a rate|unusual rate"
    r"|rate limit|too many messages|try again later from \[", re.IGNORECASE)


def is_rate_limit_reply(line: str) -> bool:
    return RATE_LIMIT_MARKERS.search(line) is not None


@dataclass(frozen=True)
class Reply:
    code: int
    enhanced: str
    text: str


@lru_cache(maxsize=1)
def reply_catalog() -> dict[str, dict[str, tuple[Reply, ...]]]:
    """Real SMTP replies per provider and situation (package data, see smtp_replies.yaml)."""
    raw = yaml.safe_load(
        resources.files("adaptive_delivery.delivery.data").joinpath("smtp_replies.yaml").read_text()
    )
    default = raw["default"]
    catalog: dict[str, dict[str, tuple[Reply, ...]]] = {}
    for name in (*PROVIDER_NAMES, "default"):
        entries = raw.get(name, {})
        catalog[name] = {
            kind: tuple(Reply(int(c), str(e), str(t)) for c, e, t in entries.get(kind, default[kind]))
            for kind in REPLY_KINDS
        }
    return catalog
