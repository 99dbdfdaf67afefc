"""MDL-007's engagement potential on worlds it never saw: does it rank a sender's campaigns by the
opens and clicks they get, from their text alone?

Learned from the campaigns of training worlds as the pipeline learns it (`training.twin_campaigns`,
`engagement.EngagementModel`); the ridge penalty is chosen on validation worlds; the headline is on
sealed worlds, once per model version. Per world: the rank correlation of predicted with observed
rates among each sender's campaigns (averaged by campaigns), beside the oracle's (the twin's hidden
quality of the content) and the sender's own average (a constant inside a sender: no ranking, so
only its error is compared), and the mean absolute error of the predicted open rate.

Run: `.venv/bin/python benchmarks/content_engagement.py` (writes benchmarks/results/content_engagement.json).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import joblib
import numpy as np
from provenance import write_results

from adaptive_delivery.delivery.models.mdl007_content.engagement import Campaign, EngagementModel
from adaptive_delivery.delivery.models.mdl007_content.training import (
    TRAINING_WORLDS,
    engagement_metrics,
    twin_campaigns,
)
from adaptive_delivery.platform import protocol

ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0)
METRICS = ("open_rate_rank_within_sender", "oracle_open_rate_rank_within_sender", "click_rate_rank_within_sender",
           "oracle_click_rate_rank_within_sender", "open_rate_mean_abs_error", "sender_mean_open_rate_abs_error")


def sender_means(campaigns: list[Campaign]) -> dict[str, float]:
    """Each sender's open rate over its training campaigns (what a sender expects of the next one)."""
    opens: dict[str, float] = defaultdict(float)
    sent: dict[str, float] = defaultdict(float)
    for c in campaigns:
        opens[c.org_id] += c.human_opens
        sent[c.org_id] += c.delivered
    return {org: opens[org] / sent[org] for org in sent}


def judge(model: EngagementModel, means: dict[str, float], worlds: list[list[Campaign]]) -> dict[str, object]:
    rows = []
    for campaigns in worlds:
        m = engagement_metrics(model, campaigns)
        m["sender_mean_open_rate_abs_error"] = float(np.mean([abs(means.get(c.org_id, np.nan) - c.open_rate)
                                                              for c in campaigns]))
        rows.append(m)
    return {"summary": {k: protocol.interval([r[k] for r in rows]).to_dict() for k in METRICS}, "per_world": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=5)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    count, subscribers, days = TRAINING_WORLDS["many"]
    learned_from = twin_campaigns([protocol.TRAINING_SEED_FLOOR + k for k in range(count)], subscribers, days)
    validation = [twin_campaigns([s], subscribers, days) for s in protocol.VALIDATION_SEEDS[:args.worlds]]
    means = sender_means(learned_from)
    candidates = {a: judge(EngagementModel(alpha=a).fit(learned_from), means, validation)["summary"] for a in ALPHAS}
    alpha = max(ALPHAS, key=lambda a: candidates[a]["open_rate_rank_within_sender"]["mean"])
    print(f"alpha {alpha} chosen on validation worlds", flush=True)
    model = EngagementModel(alpha=alpha).fit(learned_from)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "engagement.joblib"
        joblib.dump(model, path)
        version = protocol.artefact_version([path])
    seeds = list(protocol.SEALED_SEEDS[:args.worlds])
    protocol.SealedLedger(protocol.ledger_path()).claim("MDL-007", f"engagement-{version}", seeds,
                                                        command=shlex.join(command))
    sealed = judge(model, means, [twin_campaigns([s], subscribers, days) for s in seeds])
    report = {"training_worlds": count, "subscribers": subscribers, "days": days, "campaigns_learned": len(learned_from),
              "alpha": alpha, "validation": {str(a): c for a, c in candidates.items()}, "seeds": seeds,
              "version": version, **sealed}
    print(write_results("content_engagement.json", report, command))
    for k in METRICS:
        i = sealed["summary"][k]
        print(f"{k}: {i['mean']:.3f} [{i['low']:.3f}, {i['high']:.3f}]")


if __name__ == "__main__":
    main()
