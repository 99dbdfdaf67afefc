"""MDL-007's answer (spec §3.4): scores, issues with where they are and how to fix them, and whether
the content may go out. Every suggested rewrite is scored again by the same model, so the answer
says what the rewrite would score, not what it is hoped to.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adaptive_delivery.delivery.models.mdl007_content import rules
from adaptive_delivery.delivery.models.mdl007_content.content import Content

# What each compliance finding costs the compliance score (a critical one also blocks sending).
PENALTY = {"critical": 40, "warning": 15, "info": 0}
CACHE_SIZE = 10_000  # answers kept by content hash (a campaign is scored once, sent to millions)


@dataclass
class ContentAssessor:
    """Scores content with a fitted scorer (`model.ContentScorer`) and caches by content hash."""

    scorer: Any
    cache_size: int = CACHE_SIZE
    hits: int = 0
    _cache: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)

    def spam_risk(self, contents: Sequence[Content]) -> list[float]:
        """P(spam) per content, uncached (the suggestions' re-scoring uses this); a content given
        twice (a lone suggestion's rewrite is also the all-suggestions one) is scored once."""
        def same(c: Content) -> tuple:  # headers are not part of a Content's equality; the rules read them
            return c, tuple(sorted(c.headers.items()))

        distinct = {same(c): c for c in contents}
        scored = dict(zip(distinct, (float(p) for p in self.scorer.proba(list(distinct.values()))), strict=True))
        return [scored[same(c)] for c in contents]

    def assess(self, content: Content) -> dict[str, Any]:
        """The spec §3.4 answer for one content, from the cache when the same content was scored."""
        key = content.key
        if key in self._cache:
            self.hits += 1
            self._cache.move_to_end(key)
            return self._cache[key]
        answer = self._assess(content)
        self._cache[key] = answer
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return answer

    def gate(self, content: Content, hold_at: float | None = None) -> tuple[Content | None, dict[str, Any]]:
        """A sender's pre-send check: content approved as written goes out as written; otherwise
        every suggestion is applied, and the rewrite goes out unless something critical is left or
        its P(spam) is still at least `hold_at` (default: the scorer's threshold), when the campaign
        is held (None). Returns what goes out and the answer that decided it."""
        answer = self.assess(content)
        if answer["approved_for_send"]:
            return content, answer
        rewritten = apply_suggestions(content)
        again = self.assess(rewritten) if rewritten != content else answer
        critical = any(i["severity"] == "critical" for i in again["issues"])
        limit = self.scorer.threshold if hold_at is None else hold_at
        held = critical or again["spam_probability"] >= limit
        return (None if held else rewritten), again

    def _assess(self, content: Content) -> dict[str, Any]:
        risk_findings = rules.risk_findings(content)
        compliance_findings = rules.compliance_findings(content)
        rewrites = [f.rewrite(content) for f in risk_findings if f.rewrite is not None]
        everything = apply_suggestions(content, risk_findings)
        scored = self.spam_risk([content, *rewrites, everything])
        p_spam, after, p_all = scored[0], iter(scored[1:-1]), scored[-1]
        issues = []
        for f in risk_findings:
            issue = _issue(f)
            if f.rewrite is not None:
                issue["spam_risk_after"] = _risk(next(after))
            issues.append(issue)
        issues += [_issue(f) for f in compliance_findings]
        compliance = max(0, 100 - sum(PENALTY[f.severity] for f in compliance_findings))
        spam_risk = _risk(p_spam)
        blocked = p_spam >= self.scorer.threshold or any(f.severity == "critical" for f in compliance_findings)
        categories = {"spam_risk": spam_risk, "compliance": compliance}
        engagement = None
        if getattr(self.scorer, "engagement", None) is not None:
            opens, clicks = self.scorer.engagement.predict([content])
            categories["engagement_potential"] = round(float(self.scorer.engagement.potential(opens)[0]))
            engagement = {"predicted_open_rate": round(float(opens[0]), 4),
                          "predicted_click_rate": round(float(clicks[0]), 4)}
        goods = [100 - spam_risk, compliance, *([categories["engagement_potential"]] if engagement else [])]
        return {
            "overall_score": round(sum(goods) / len(goods)),
            "category_scores": categories,
            "engagement": engagement,
            "spam_probability": round(p_spam, 4),
            "issues": issues,
            "approved_for_send": not blocked,
            "rewritten": {"subject": everything.subject, "spam_risk": _risk(p_all)} if rewrites else None,
            "content_hash": content.key,
        }


def apply_suggestions(content: Content, findings: Sequence[rules.Finding] | None = None) -> Content:
    """The content with every finding's rewrite applied in turn: spam-risk and compliance findings
    by default, only `findings` where given (the answer's rewrite score applies the risk ones)."""
    if findings is None:
        findings = [*rules.risk_findings(content), *rules.compliance_findings(content)]
    for f in findings:
        if f.rewrite is not None:
            content = f.rewrite(content)
    return content


def _risk(p: float) -> int:
    return round(100 * p)


def _issue(f: rules.Finding) -> dict[str, Any]:
    return {"severity": f.severity, "issue": f.issue, "location": f.location, "suggestion": f.suggestion,
            "code": f.code}
