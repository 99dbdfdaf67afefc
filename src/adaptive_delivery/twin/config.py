"""What a simulated world contains: its senders, their lists and habits.

Everything is a plain dataclass so a scenario is a few lines of Python or YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date


@dataclass(frozen=True)
class SenderConfig:
    """One sending organisation: a domain, its IPs, its list and how it mails it."""

    org_id: str
    sending_domain: str
    list_share: float  # share of the world's subscribers on this sender's list
    n_ips: int = 2
    ip_prefix: str = "192.0.2"
    new_ips: bool = False  # True: IPs are cold on day 0 and must warm up
    domain_age_days: int = 900  # age of the sending domain on day 0
    spf_or_dkim: bool = True
    dmarc: bool = True
    one_click_unsubscribe: bool = True
    # content: mean spamminess/quality of the campaigns this sender writes (0..1)
    spamminess: float = 0.25
    quality: float = 0.55
    campaigns_per_day: float = 1.0
    audience_share: float = 0.55  # share of its active list each campaign goes to
    send_hour_utc: int = 14
    send_rate_per_min: float = 1_500.0  # MTA rate the sender's campaigns go out at
    # list hygiene: share of addresses that are invalid on day 0, new sign-ups a day (share of
    # list), the invalid share among sign-ups, and after how many hard bounces it stops mailing.
    initial_invalid_share: float = 0.04
    signup_rate_per_day: float = 0.004
    signup_invalid_share: float = 0.10
    suppress_after_hard_bounces: int = 3
    trap_share: float = 0.0001  # pristine/recycled spam traps hidden in the list
    # warm-up plan for new IPs: first day's volume and daily growth (None: send the whole audience)
    warmup_start_volume: int | None = None
    warmup_daily_growth: float = 1.5
    transactional_share: float = 0.1
    # a bought or rented list imported on `import_day` (None: never): `import_size` times the list
    # the sender started with, with its own dead and spam-trap shares (MDL-004's scenario)
    import_day: int | None = None
    import_size: float = 0.0
    import_invalid_share: float = 0.15
    import_trap_share: float = 0.002


def default_senders() -> tuple[SenderConfig, ...]:
    """An average established sender, a sloppier mid-size one, and a new domain warming up."""
    return (
        SenderConfig("acme", "news.acme-mail.com", 0.6, n_ips=4, ip_prefix="192.0.2"),
        SenderConfig(
            "bolt", "mail.boltshop.example", 0.3, n_ips=2, ip_prefix="198.51.100",
            spamminess=0.4, quality=0.45, initial_invalid_share=0.045, signup_invalid_share=0.12,
            trap_share=0.00025, send_hour_utc=17, send_rate_per_min=2_500.0, audience_share=0.6,
            one_click_unsubscribe=False,
        ),
        SenderConfig(
            "cirrus", "hello.cirrus-app.example", 0.1, n_ips=1, ip_prefix="203.0.113",
            new_ips=True, domain_age_days=20, spamminess=0.2, quality=0.6,
            send_hour_utc=15, send_rate_per_min=300.0, warmup_start_volume=500,
            warmup_daily_growth=1.35, initial_invalid_share=0.02,
        ),
    )


@dataclass(frozen=True)
class WorldConfig:
    """A whole world: how many subscribers, from when, for how long, with which senders."""

    subscribers: int = 10_000
    days: int = 7
    seed: int = 7
    start: date = date(2026, 3, 2)
    senders: tuple[SenderConfig, ...] = field(default_factory=default_senders)
    # Share of subscribers whose inbox/spam placement the sender sees: panel members (consumer
    # panels such as those deliverability vendors run; seed addresses are the sender's own). Panels
    # cover a few percent of a list at most; everything else about placement reaches a sender only
    # through the providers' aggregate feeds. 1.0 gives the pre-panel twin (placement for all).
    placement_observed_share: float = 0.03
    # scenario hooks: from `change_day` on, provider `change_provider` multiplies its hidden limit
    # by `limit_scale` and its spam-filter strictness by `strictness_scale`.
    change_day: int | None = None
    change_provider: str | None = None
    limit_scale: float = 1.0
    strictness_scale: float = 1.0
    # ... and moves its inbox logit for all mail by `inbox_shift` (negative: a filter tightening on
    # bulk mail, as Gmail's 2024 bulk-sender rules did)
    inbox_shift: float = 0.0

    def with_(self, **kwargs) -> WorldConfig:
        return replace(self, **kwargs)
