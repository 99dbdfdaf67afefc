"""Mailbox providers as the twin runs them: the public catalogue (`delivery.providers`) plus each
provider's hidden rules.

Everything added here is what a real sender cannot see: models learn it from replies, the
simulator's truth tables expose it for evaluation only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache

import numpy as np

from adaptive_delivery.delivery.providers import (
    CATALOGUE,
    DOMAIN_TO_PROVIDER,
    N_PROVIDERS,
    PROVIDER_INDEX,
    PROVIDER_NAMES,
    REPLY_KINDS,
    PublicProvider,
    Reply,
    provider_for_domain,
    reply_catalog,
)

__all__ = ["BEHAVIOUR_CLASSES", "CLASS_OF", "DOMAIN_TO_PROVIDER", "N_PROVIDERS", "PROVIDERS", "PROVIDER_INDEX", "PROVIDER_NAMES", "REPLY_KINDS",
           "ProviderProfile", "Reply", "provider_array", "provider_for_domain", "reply_catalog"]


@dataclass(frozen=True, kw_only=True)
class ProviderProfile(PublicProvider):
    """One mailbox provider and its hidden acceptance behaviour."""

    share: float  # share of a typical consumer list
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
    base_block: float = 0.006  # hidden: background policy blocks at good reputation
    mpp_share: float = 0.0  # share of its users reading with Apple Mail Privacy Protection
    # hidden: the family of rules it answers by (`BEHAVIOUR_CLASSES`); MDL-008's referee
    behaviour_class: str = ""
    extra: dict = field(default_factory=dict)


# Providers answer by families of rules: how far past its allowance it tolerates, the reputation
# it blocks below, its background blocking, how fast a cold IP grows, and its filter. Within a
# family the rules are the same or close and only the size of the allowance differs (Yahoo and AOL
# run on one infrastructure; Outlook's and Comcast's filters and block thresholds match). Nothing
# a sender sees names the family: MDL-008 must find it from the replies.
BEHAVIOUR_CLASSES: dict[str, tuple[str, ...]] = {
    "tolerant": ("gmail", "apple"),
    "verizon_media": ("yahoo", "aol"),
    "strict": ("outlook", "comcast"),
    "gateway": ("corporate",),
    "throwaway": ("disposable",),
}
CLASS_OF: dict[str, str] = {p: c for c, members in BEHAVIOUR_CLASSES.items() for p in members}

HIDDEN: dict[str, dict] = {
    'gmail': dict(share=0.4, base_limit_per_hour=24000, block_ratio=2.0, block_reputation=30, cold_capacity_per_day=800, warm_growth=1.8, inbox_intercept=2.45, content_strictness=3.4, engagement_weight=1.4, base_block=0.004, mpp_share=0.08),
    'yahoo': dict(share=0.12, base_limit_per_hour=12000, block_ratio=1.6, block_reputation=35, cold_capacity_per_day=400, warm_growth=1.6, inbox_intercept=2.3, content_strictness=3.0, engagement_weight=1.1, base_block=0.008, mpp_share=0.1),
    'outlook': dict(share=0.17, base_limit_per_hour=15000, block_ratio=1.5, block_reputation=40, cold_capacity_per_day=500, warm_growth=1.5, inbox_intercept=2.2, content_strictness=3.2, engagement_weight=1.0, base_block=0.012, mpp_share=0.1),
    'aol': dict(share=0.04, base_limit_per_hour=5000, block_ratio=1.6, block_reputation=35, cold_capacity_per_day=200, warm_growth=1.6, inbox_intercept=2.3, content_strictness=3.0, engagement_weight=1.0, base_block=0.008, mpp_share=0.1),
    'apple': dict(share=0.1, base_limit_per_hour=9000, block_ratio=1.8, block_reputation=30, cold_capacity_per_day=400, warm_growth=1.8, inbox_intercept=2.6, content_strictness=2.8, engagement_weight=0.8, base_block=0.003, mpp_share=0.85),
    'comcast': dict(share=0.03, base_limit_per_hour=2500, block_ratio=1.4, block_reputation=45, cold_capacity_per_day=150, warm_growth=1.5, inbox_intercept=2.2, content_strictness=3.0, engagement_weight=0.8, base_block=0.012, mpp_share=0.15),
    'corporate': dict(share=0.12, base_limit_per_hour=2000, block_ratio=1.3, block_reputation=45, cold_capacity_per_day=300, warm_growth=1.5, inbox_intercept=1.9, content_strictness=4.0, engagement_weight=0.7, base_block=0.025, mpp_share=0.05),
    'disposable': dict(share=0.02, base_limit_per_hour=1000, block_ratio=1.3, block_reputation=40, cold_capacity_per_day=100, warm_growth=1.5, inbox_intercept=2.0, content_strictness=1.5, engagement_weight=0.3, base_block=0.012, mpp_share=0.0),
}

PROVIDERS: tuple[ProviderProfile, ...] = tuple(
    ProviderProfile(**asdict(p), **HIDDEN[p.name], behaviour_class=CLASS_OF[p.name]) for p in CATALOGUE)


@cache
def provider_array(attr: str) -> np.ndarray:
    """One attribute of every provider as an array indexed by provider index (read-only and
    cached: the laws call this on every 30-second step)."""
    values = np.array([getattr(p, attr) for p in PROVIDERS], dtype=float)
    values.setflags(write=False)
    return values
