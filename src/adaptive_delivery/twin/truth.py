"""The names of what only the twin knows: its hidden state and laws, the truth tables it writes
beside the lake, and the traits of the lists it simulates. A served input, an observation or a rail
carrying one of these names would need a number no sender's logs or feeds contain; a test holds
every model's served inputs and every policy's observation against this list."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pyarrow.parquet as pq

from adaptive_delivery.delivery.providers import PublicProvider
from adaptive_delivery.twin.envs import Audience
from adaptive_delivery.twin.providers import ProviderProfile

# Hidden state the environments and the simulator hold (and their `info["truth"]`).
HIDDEN_STATE = frozenset({
    "reputation", "ip_reputation", "domain_reputation", "ip_rep", "hourly_limit", "limit_per_min",
    "hidden_limit_per_min", "limit_scale", "pressure", "capacity", "warm", "warm_capacity_per_day",
    "carryable_per_day", "rate_blocks", "rate_block_rate", "speed_share", "true_class", "blocklisted",
    "spam_trap", "content_spamminess", "content_quality", "complainer", "engagement_propensity",
})
# Columns that join the truth to the lake: they are keys a sender has, not hidden values.
SHARED_KEYS = frozenset({"message_id", "provider", "sending_ip", "sending_domain", "subscriber_id", "day", "org_id",
                         "date"})


def truth_names(truth_dir: str | Path | None = None) -> frozenset[str]:
    """Every hidden name: the state above, the providers' hidden laws, the list's traits, and (given
    a simulated world's truth folder) every column of its truth tables but the join keys."""
    public = {f.name for f in fields(PublicProvider)}
    names = set(HIDDEN_STATE) | ({f.name for f in fields(ProviderProfile)} - public) | {f.name for f in fields(Audience)}
    if truth_dir is not None:
        for path in Path(truth_dir).rglob("*.parquet"):
            names |= set(pq.read_schema(path).names)
    return frozenset(names - SHARED_KEYS)
