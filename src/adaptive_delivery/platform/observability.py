"""Where a real sender or advertiser reads each input it sends a served model: the catalogue every
model spec's `served_inputs` draws from, for both products. A spec that names a source not listed
here is refused when it registers (`platform.spec.register`), and a test fails when an input
carries the name of a quantity only the twin knows (`twin.truth`)."""

from __future__ import annotations

from collections.abc import Mapping

SOURCES: dict[str, str] = {
    "request": "the caller's own request: keys, and what it is about to send",
    "mta": "the MTA's own counters, queue and SMTP replies (sent, accepted, deferred, refused, latency, bounces)",
    "fbl": "the providers' feedback-loop complaint reports (ARF)",
    "esp": "the sender's own tracking of what it sent: opens and clicks, seed and panel placement",
    "feed": "a provider's reputation feed (delivery.feeds: Google Postmaster Tools, Microsoft SNDS)",
    "plan": "the sender's own sending plan and its history (limits, stages, days, streaks)",
    "calendar": "the clock",
    "feature_store": "a feature built from a product's events lake, served by Feast",
    "ad_platform": "the ad platform's reports of the advertiser's own auctions (clicks, conversions, costs, spend)",
}


def unknown_sources(inputs: Mapping[str, str]) -> list[str]:
    """The inputs whose source the catalogue does not list, as `name: source`."""
    return [f"{name}: {source!r}" for name, source in inputs.items() if source not in SOURCES]
