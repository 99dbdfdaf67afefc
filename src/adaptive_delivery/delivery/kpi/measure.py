"""Spec §11's metrics, per message sent, on the twin's truth: where each message really went (not
what the sender's panel saw), which complaints and human opens it drew, and the unsubscribes the
sender's logs hold. A `Tally` adds a day's messages up, in total and per provider."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

COUNTS = ("sent", "inbox", "spam", "block", "hard_bounce", "soft_bounce", "complaints", "human_opens",
          "unsubscribes", "expected_inbox", "expected_bounces", "expected_blocks", "expected_opens")
RATES = ("inbox_placement", "bounce_rate", "block_rate", "complaint_rate", "open_rate", "unsubscribe_rate")
# The law's expectation of the same rates over what was sent (the twin's probabilities for each
# message as it went): no luck of single draws, so small worlds can still tell senders apart.
EXPECTED_RATES = ("expected_inbox_placement", "expected_bounce_rate", "expected_block_rate", "expected_open_rate")


@dataclass(frozen=True)
class Target:
    """One line of spec §11: the industry baseline it names, the target, and which way is better."""

    baseline: float | None
    target: float
    higher_is_better: bool

    def met(self, value: float) -> bool:
        return value >= self.target if self.higher_is_better else value < self.target

    def missed_by(self, value: float) -> float:
        """How far `value` is from the target on the wrong side (0 when met)."""
        gap = self.target - value if self.higher_is_better else value - self.target
        return max(gap, 0.0)


# Spec §11. The lifts are the adaptive sender's over business as usual on the same world.
TARGETS = {
    "inbox_placement": Target(0.85, 0.95, True),
    "bounce_rate": Target(0.03, 0.01, False),
    "block_rate": Target(0.01, 0.001, False),
    "complaint_rate": Target(0.0005, 0.0002, False),
    "open_rate_lift": Target(None, 0.15, True),
    "prediction_accuracy": Target(None, 0.90, True),
    "throughput_lift": Target(None, 0.20, True),
}


def rates(counts: dict[str, float]) -> dict[str, float]:
    """§11's rates from a tally's counts: every one per message sent."""
    sent = counts["sent"]
    if sent <= 0:
        return dict.fromkeys((*RATES, *EXPECTED_RATES), float("nan"))
    return {"expected_inbox_placement": counts["expected_inbox"] / sent,
            "expected_bounce_rate": counts["expected_bounces"] / sent,
            "expected_block_rate": counts["expected_blocks"] / sent, "expected_open_rate": counts["expected_opens"] / sent,
            "inbox_placement": counts["inbox"] / sent,
            "bounce_rate": (counts["hard_bounce"] + counts["soft_bounce"]) / sent,
            "block_rate": counts["block"] / sent, "complaint_rate": counts["complaints"] / sent,
            "open_rate": counts["human_opens"] / sent, "unsubscribe_rate": counts["unsubscribes"] / sent}


@dataclass
class Tally:
    """Counts over the days a sender ran, in total and per provider."""

    total: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0.0))
    by_provider: dict[str, dict[str, float]] = field(default_factory=dict)

    def add_day(self, truth: pa.Table, engagement: pa.Table | None) -> None:
        """One day's messages (the twin's truth table) and the unsubscribes among its engagement."""
        t = truth.select(["message_id", "provider", "true_class", "complained", "human_open", "p_inbox", "p_soft_bounce",
                          "p_hard_bounce", "p_block", "p_open"]).to_pandas()
        frame = pd.DataFrame({
            "provider": t["provider"].astype(str), "sent": 1.0,
            **{k: (t["true_class"] == k).astype(float) for k in ("inbox", "spam", "block", "hard_bounce", "soft_bounce")},
            "complaints": t["complained"].astype(float), "human_opens": t["human_open"].astype(float),
            "unsubscribes": 0.0, "expected_inbox": t["p_inbox"].astype(float),
            "expected_bounces": (t["p_soft_bounce"] + t["p_hard_bounce"]).astype(float),
            "expected_blocks": t["p_block"].astype(float), "expected_opens": t["p_open"].astype(float)})
        if engagement is not None and engagement.num_rows:
            e = engagement.select(["message_id", "event_type"]).to_pandas()
            unsubscribed = set(e.loc[e["event_type"] == "unsubscribe", "message_id"])
            frame["unsubscribes"] = t["message_id"].isin(unsubscribed).astype(float).to_numpy()
        for provider, part in frame.groupby("provider"):
            mine = self.by_provider.setdefault(str(provider), dict.fromkeys(COUNTS, 0.0))
            for k in COUNTS:
                mine[k] += float(part[k].sum())
        for k in COUNTS:
            self.total[k] += float(frame[k].sum())

    def summary(self) -> dict[str, object]:
        return {**self.total, **rates(self.total),
                "by_provider": {p: {**c, **rates(c)} for p, c in sorted(self.by_provider.items())}}


@dataclass
class Accuracy:
    """A model's most likely class for each message it let out, scored against the true class when
    the day's truth comes (spec §11's prediction accuracy)."""

    classes: tuple[str, ...] = ()
    predicted: dict[str, int] = field(default_factory=dict)
    correct: int = 0
    judged: int = 0

    def record(self, message_ids, most_likely) -> None:
        self.predicted.update(zip(message_ids, np.asarray(most_likely).tolist(), strict=True))

    def judge(self, truth: pa.Table) -> None:
        """Score the recorded messages among `truth`'s; what was not sent is forgotten."""
        if not self.predicted:
            return
        mids = truth.column("message_id").to_numpy(zero_copy_only=False)
        true = truth.column("true_class").to_numpy(zero_copy_only=False)
        guess = np.array([self.predicted.get(m, -1) for m in mids], dtype=int)
        seen = guess >= 0
        self.judged += int(seen.sum())
        self.correct += int((np.asarray(self.classes, dtype=object)[guess[seen]] == true[seen]).sum())
        self.predicted.clear()

    def summary(self) -> dict[str, float]:
        return {"prediction_accuracy": self.correct / self.judged if self.judged else float("nan"),
                "predictions_judged": self.judged}


def lift(new: float, old: float) -> float:
    """new / old - 1 (nan where old is 0)."""
    return float(new / old - 1.0) if old else float("nan")


def finite(values: list[float]) -> np.ndarray:
    return np.asarray([v for v in values if np.isfinite(v)], dtype=float)
