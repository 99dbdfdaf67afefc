"""Mailbox providers: who they are, which domains they own, and their hidden rules.

Everything marked *hidden* is what a real sender cannot see: models learn it from
replies, the simulator's truth tables expose it for evaluation only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

import numpy as np
import yaml

REPLY_KINDS = (
    "accepted",
    "throttle",
    "reputation",
    "block",
    "blocklist",
    "auth",
    "spam_content",
    "user_unknown",
    "mailbox_full",
    "inactive",
)


@dataclass(frozen=True)
class ProviderProfile:
    """One mailbox provider and its hidden acceptance behaviour."""

    name: str
    domains: tuple[str, ...]
    share: float  # share of a typical consumer list
    category: str  # consumer | corporate | disposable
    # hidden: messages per hour one established IP with good reputation may deliver
    base_limit_per_hour: float
    # hidden: how far above the limit (as a ratio) the provider starts blocking instead of deferring
    block_ratio: float
    # hidden: reputation below which blocks become likely
    block_reputation: float
    # hidden: first-day capacity of a cold IP (messages/day) and daily growth when metrics are good
    cold_capacity_per_day: float
    warm_growth: float
    # hidden: spam-filter intercept (logit of inbox for an average sender) and strictness
    inbox_intercept: float
    content_strictness: float
    engagement_weight: float
    # published rules
    requires_auth: bool  # SPF or DKIM, plus DMARC for bulk senders (Gmail/Yahoo Feb 2024, Outlook May 2025)
    requires_one_click: bool  # RFC 8058 List-Unsubscribe-Post for bulk senders
    complaint_soft_limit: float  # published "stay below" complaint rate
    complaint_hard_limit: float  # published "never reach" complaint rate
    uses_public_blocklists: bool
    reply_latency_ms: float  # median SMTP transaction latency
    base_block: float = 0.006  # hidden: background policy blocks at good reputation
    sends_fbl: bool = True  # sends per-message ARF complaint reports
    mpp_share: float = 0.0  # share of its users reading with Apple Mail Privacy Protection
    extra: dict = field(default_factory=dict)


PROVIDERS: tuple[ProviderProfile, ...] = (
    ProviderProfile(
        "gmail", ("gmail.com", "googlemail.com"), 0.40, "consumer",
        base_limit_per_hour=24_000, block_ratio=2.0, block_reputation=30,
        cold_capacity_per_day=800, warm_growth=1.8,
        inbox_intercept=2.45, content_strictness=3.4, engagement_weight=1.4,
        requires_auth=True, requires_one_click=True,
        complaint_soft_limit=0.001, complaint_hard_limit=0.003,
        uses_public_blocklists=False, base_block=0.004, reply_latency_ms=320, sends_fbl=False, mpp_share=0.08,
    ),
    ProviderProfile(
        "yahoo", ("yahoo.com", "ymail.com", "rocketmail.com"), 0.12, "consumer",
        base_limit_per_hour=12_000, block_ratio=1.6, block_reputation=35,
        cold_capacity_per_day=400, warm_growth=1.6,
        inbox_intercept=2.3, content_strictness=3.0, engagement_weight=1.1,
        requires_auth=True, requires_one_click=True,
        complaint_soft_limit=0.001, complaint_hard_limit=0.003,
        uses_public_blocklists=True, base_block=0.008, reply_latency_ms=450, mpp_share=0.10,
    ),
    ProviderProfile(
        "outlook", ("outlook.com", "hotmail.com", "live.com", "msn.com"), 0.17, "consumer",
        base_limit_per_hour=15_000, block_ratio=1.5, block_reputation=40,
        cold_capacity_per_day=500, warm_growth=1.5,
        inbox_intercept=2.2, content_strictness=3.2, engagement_weight=1.0,
        requires_auth=True, requires_one_click=False,
        complaint_soft_limit=0.001, complaint_hard_limit=0.003,
        uses_public_blocklists=True, base_block=0.012, reply_latency_ms=600, mpp_share=0.10,
    ),
    ProviderProfile(
        "aol", ("aol.com", "aim.com"), 0.04, "consumer",
        base_limit_per_hour=5_000, block_ratio=1.6, block_reputation=35,
        cold_capacity_per_day=200, warm_growth=1.6,
        inbox_intercept=2.3, content_strictness=3.0, engagement_weight=1.0,
        requires_auth=True, requires_one_click=True,
        complaint_soft_limit=0.001, complaint_hard_limit=0.003,
        uses_public_blocklists=True, base_block=0.008, reply_latency_ms=500, mpp_share=0.10,
    ),
    ProviderProfile(
        "apple", ("icloud.com", "me.com", "mac.com"), 0.10, "consumer",
        base_limit_per_hour=9_000, block_ratio=1.8, block_reputation=30,
        cold_capacity_per_day=400, warm_growth=1.8,
        inbox_intercept=2.6, content_strictness=2.8, engagement_weight=0.8,
        requires_auth=True, requires_one_click=False,
        complaint_soft_limit=0.001, complaint_hard_limit=0.003,
        uses_public_blocklists=False, base_block=0.003, reply_latency_ms=380, sends_fbl=False, mpp_share=0.85,
    ),
    ProviderProfile(
        "comcast", ("comcast.net", "xfinity.com"), 0.03, "consumer",
        base_limit_per_hour=2_500, block_ratio=1.4, block_reputation=45,
        cold_capacity_per_day=150, warm_growth=1.5,
        inbox_intercept=2.2, content_strictness=3.0, engagement_weight=0.8,
        requires_auth=False, requires_one_click=False,
        complaint_soft_limit=0.002, complaint_hard_limit=0.005,
        uses_public_blocklists=True, base_block=0.012, reply_latency_ms=700, mpp_share=0.15,
    ),
    ProviderProfile(
        "corporate", ("acme-corp.com", "globex.com", "initech.com", "umbrella-inc.com", "hooli.io"),
        0.12, "corporate",
        base_limit_per_hour=2_000, block_ratio=1.3, block_reputation=45,
        cold_capacity_per_day=300, warm_growth=1.5,
        inbox_intercept=1.9, content_strictness=4.0, engagement_weight=0.7,
        requires_auth=False, requires_one_click=False,
        complaint_soft_limit=0.002, complaint_hard_limit=0.005,
        uses_public_blocklists=True, base_block=0.025, reply_latency_ms=900, sends_fbl=False, mpp_share=0.05,
    ),
    ProviderProfile(
        "disposable", ("mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com"),
        0.02, "disposable",
        base_limit_per_hour=1_000, block_ratio=1.3, block_reputation=40,
        cold_capacity_per_day=100, warm_growth=1.5,
        inbox_intercept=2.0, content_strictness=1.5, engagement_weight=0.3,
        requires_auth=False, requires_one_click=False,
        complaint_soft_limit=0.005, complaint_hard_limit=0.01,
        uses_public_blocklists=True, base_block=0.012, reply_latency_ms=250, sends_fbl=False, mpp_share=0.0,
    ),
)

PROVIDER_NAMES: tuple[str, ...] = tuple(p.name for p in PROVIDERS)
PROVIDER_INDEX: dict[str, int] = {p.name: i for i, p in enumerate(PROVIDERS)}
N_PROVIDERS = len(PROVIDERS)

DOMAIN_TO_PROVIDER: dict[str, str] = {d: p.name for p in PROVIDERS for d in p.domains}


def provider_for_domain(domain: str) -> str:
    """Map a recipient domain to its mailbox provider ('corporate' for unknown domains)."""
    return DOMAIN_TO_PROVIDER.get(domain.lower().strip(), "corporate")


@cache
def provider_array(attr: str) -> np.ndarray:
    """One attribute of every provider as an array indexed by provider index (read-only and
    cached: the laws call this on every 30-second step)."""
    values = np.array([getattr(p, attr) for p in PROVIDERS], dtype=float)
    values.setflags(write=False)
    return values


@dataclass(frozen=True)
class Reply:
    code: int
    enhanced: str
    text: str


@lru_cache(maxsize=1)
def reply_catalog() -> dict[str, dict[str, tuple[Reply, ...]]]:
    """Real SMTP replies per provider and situation (package data, see smtp_replies.yaml)."""
    raw = yaml.safe_load(
        resources.files("adaptive_delivery.data").joinpath("smtp_replies.yaml").read_text()
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
