"""MDL-007 as the twin's pre-send check: each campaign's content is scored before it goes out,
rewritten with the suggestions or held as `ContentAssessor.gate` decides, and what goes out carries
the P(spam) the check gave it (the content record's `spam_risk`, a feature of MDL-001)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
from adaptive_delivery.delivery.models.mdl007_content.training import twin_campaign_content
from adaptive_delivery.twin import content as twin_content
from adaptive_delivery.twin.config import WorldConfig

TwinGate = Callable[[twin_content.Content], twin_content.Content | None]


def content_gate(assessor: ContentAssessor, config: WorldConfig, hold_at: float | None = None,
                 seen: list[tuple[float, float]] | None = None) -> TwinGate:
    """The gate for `World.step_day(content_gate=...)` in a world of `config`'s senders. `seen`, when
    given, collects (hidden spamminess, MDL-007's P(spam)) of each campaign as written."""
    domains = {s.org_id: s.sending_domain for s in config.senders}

    def gate(c: twin_content.Content) -> twin_content.Content | None:
        written = twin_campaign_content(c, domains[c.content_id.split("-ct")[0]])
        if seen is not None:
            seen.append((c.spamminess, assessor.assess(written)["spam_probability"]))
        sent, answer = assessor.gate(written, hold_at)
        if sent is None:
            return None
        risk = float(answer["spam_probability"])
        if (sent.subject, sent.preheader, sent.body) == (c.subject, c.preheader, c.body_text):
            return replace(c, spam_risk=risk)
        return replace(twin_content.rewrite(c, sent.subject, sent.preheader, sent.body), spam_risk=risk)

    return gate
