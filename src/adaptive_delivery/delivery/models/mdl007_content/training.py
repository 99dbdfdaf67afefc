"""MDL-007 through the platform's pipeline: train on the corpus's time split, evaluate on its test
block beside the TF-IDF baseline, and export the scorer that serving loads.

The corpus is labelled mail, not the twin: the pipeline's train step reads it from
`AD_CONTENT_CORPUS` (a folder laid out as the public SpamAssassin corpus) or, where that is not
set, from the shared data beside the checkout. The split is `corpus.time_splits`' seed: the model
trains on three time blocks, stacks and picks its threshold on the next block, and is judged on a
block it never saw.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from adaptive_delivery.delivery.models.mdl007_content import model as spam_model
from adaptive_delivery.delivery.models.mdl007_content import rules, transformer
from adaptive_delivery.delivery.models.mdl007_content.content import Content
from adaptive_delivery.delivery.models.mdl007_content.corpus import (
    Labelled,
    read_spamassassin,
    time_splits,
)
from adaptive_delivery.delivery.models.mdl007_content.engagement import Campaign, EngagementModel
from adaptive_delivery.platform import protocol

CORPUS_ENV = "AD_CONTENT_CORPUS"
TRAINED_FILE = "mdl007_trained.joblib"  # the scorer with the baseline and split it was judged with
SCORER_FILE = "mdl007_scorer.joblib"  # what is registered and served: the scorer alone
EVALUATION_TABLE = "content_eval.md"


def corpus_root() -> Path:
    """Where the labelled corpus is: `AD_CONTENT_CORPUS`, else the shared data beside the checkout."""
    if os.environ.get(CORPUS_ENV):
        root = Path(os.environ[CORPUS_ENV])
    else:
        repo = Path(__file__).resolve().parents[5]
        root = repo.parent / "shared" / "data" / "spamassassin"
    if not (root / "spam").is_dir():
        raise FileNotFoundError(f"no labelled corpus at {root} (a folder with spam/ and easy_ham/ as the public "
                                f"SpamAssassin corpus has): set {CORPUS_ENV}")
    return root


def encoder_for(budget: int) -> transformer.EncoderConfig:
    """The encoder a budget of masked-language-modelling steps buys: the GPU size from its own
    budget up, else the CPU size for that many steps (one fine-tuning epoch under 100 steps)."""
    if budget >= transformer.BASE.mlm_steps:
        return replace(transformer.BASE, mlm_steps=budget)
    epochs = transformer.SMALL.finetune_epochs if budget >= 100 else 1
    return replace(transformer.SMALL, mlm_steps=budget, finetune_epochs=epochs)


# Twin worlds the engagement model learns from (count, subscribers, days): few for smoke runs.
TRAINING_WORLDS = {"few": (4, 3_000, 7), "many": (24, 5_000, 14)}


def twin_campaign_content(c: Any, domain: str) -> Content:
    """What a sender's pre-send check receives for a twin campaign: its text, its links on the
    sender's own domain, and the unsubscribe headers it carries."""
    links = tuple(f"https://{domain}/l/{c.content_id}/{i}" for i in range(c.link_count))
    headers = {"From": f"News <news@{domain}>"}
    if c.has_list_unsubscribe_header:
        headers |= {"List-Unsubscribe": f"<https://{domain}/u>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return Content(subject=c.subject, body=c.body_text, preheader=c.preheader, links=links, headers=headers)


def twin_campaigns(seeds: Sequence[int], subscribers: int, days: int) -> list[Campaign]:
    """Every campaign of the worlds, counted as its sender's logs count it: messages accepted,
    human opens (machine opens are not engagement) and clicks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from adaptive_delivery.twin.config import WorldConfig
    from adaptive_delivery.twin.simulator import World

    out: list[Campaign] = []
    for seed in seeds:
        world = World(WorldConfig(subscribers=subscribers, days=days, seed=seed))
        sends, outcomes, engagement = [], [], []
        for _ in range(days):
            events = world.step_day().events
            if events:
                sends.append(events["sends"].select(["message_id", "campaign_id"]))
                outcomes.append(events["outcomes"].select(["message_id", "status"]))
                engagement.append(events["engagement"].select(["campaign_id", "event_type", "machine_open"]))
        if not sends:
            continue
        campaign_of = dict(zip(*(pa.concat_tables(sends).column(c).to_pylist() for c in ("message_id", "campaign_id")),
                               strict=True))
        done = pa.concat_tables(outcomes)
        delivered = Counter(campaign_of[m] for m in set(done.filter(pc.equal(done["status"], "accepted"))
                                                         .column("message_id").to_pylist()))
        e = pa.concat_tables(engagement)
        human = e.filter(pc.and_(pc.equal(e["event_type"], "open"), pc.invert(e["machine_open"])))
        opens = Counter(human.column("campaign_id").to_pylist())
        clicks = Counter(e.filter(pc.equal(e["event_type"], "click")).column("campaign_id").to_pylist())
        domains = {s.org_id: s.sending_domain for s in world.senders}
        for row, c in zip(world.campaign_rows, world.contents, strict=True):
            cid = row["campaign_id"]
            if delivered[cid] > 0:
                out.append(Campaign(twin_campaign_content(c, domains[row["org_id"]]), delivered[cid], opens[cid],
                                    clicks[cid], row["org_id"], c.quality))
    return out


def _progress(stage: str, step: int, of: int, loss: float) -> None:
    print(f"{stage} {step}/{of} loss {loss:.3f}", flush=True)


def train_and_save(budget: int, seed: int, out: Path, messages: list[Labelled] | None = None) -> Path:
    """Fit the scorer on seed's split (members on training, stack and threshold on validation) and
    write it with the TF-IDF baseline and the split, for the evaluation step."""
    messages = messages if messages is not None else read_spamassassin(corpus_root())
    splits = time_splits(messages)
    split = splits[seed % len(splits)]
    y = np.array([m.spam for m in messages], dtype=int)
    contents = [m.content for m in messages]
    train, validation = [contents[i] for i in split.train], [contents[i] for i in split.validation]
    started = time.perf_counter()
    baseline = spam_model.TfidfSpam().fit([c.text for c in train], y[split.train])
    encoder = transformer.fit([c.text for c in train], y[split.train], encoder_for(budget), seed=seed,
                              progress=_progress)
    stacked = spam_model.stack(spam_model.member_scores(validation, baseline, encoder), y[split.validation],
                               seed=seed)
    count, subscribers, days = TRAINING_WORLDS["few" if budget < 100 else "many"]
    learned_from = twin_campaigns([protocol.TRAINING_SEED_FLOOR + seed * 1_000 + k for k in range(count)], subscribers, days)
    scorer = spam_model.ContentScorer(baseline if "tfidf" in stacked.members else None,
                                      encoder if "transformer" in stacked.members else None, stacked,
                                      EngagementModel().fit(learned_from))
    print(f"engagement learned from {len(learned_from)} twin campaigns in {count} worlds", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    path = out / TRAINED_FILE
    joblib.dump({"scorer": scorer, "baseline": baseline, "seed": split.seed,
                 "test": [messages[i] for i in split.test], "encoder": asdict(encoder.config),
                 "timings": {**encoder.timings, "total_s": time.perf_counter() - started},
                 "sizes": {"train": len(split.train), "validation": len(split.validation),
                           "test": len(split.test)},
                 "engagement_judged_on": (count, subscribers, days)}, path, compress=3)
    print(f"members kept on validation: {'+'.join(stacked.members)}; threshold {stacked.threshold:.4f}", flush=True)
    return path


def export_scorer(trained: Path, folder: Path) -> Path:
    """The served artifact: the scorer alone (no baseline, no test messages)."""
    return joblib.load(trained)["scorer"].save(folder / SCORER_FILE)


def suggestions(scorer: spam_model.ContentScorer, contents: list[Content], p: np.ndarray) -> dict[str, float]:
    """On content the scorer flags: how many the rules have a rewrite for, and of those the share whose
    rewrite (every suggestion applied) the same scorer scores lower, and the mean drop in spam-risk
    points (0-100)."""
    flagged = [c for c, q in zip(contents, p, strict=True) if q >= scorer.threshold]
    pairs = []
    for c in flagged:
        rewritten = c
        for finding in rules.risk_findings(c):
            if finding.rewrite is not None:
                rewritten = finding.rewrite(rewritten)
        if rewritten != c:
            pairs.append((c, rewritten))
    if not pairs:
        return {"flagged": len(flagged), "with_rewrite": 0, "lowered_share": 0.0, "mean_drop_points": 0.0,
                "below_threshold_after": 0.0}
    before = scorer.proba([a for a, _ in pairs])
    after = scorer.proba([b for _, b in pairs])
    drop = 100 * (before - after)
    return {"flagged": len(flagged), "with_rewrite": len(pairs), "lowered_share": float(np.mean(drop > 0)),
            "mean_drop_points": float(drop.mean()), "below_threshold_after": float(np.mean(after < scorer.threshold))}


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed spam share - mean P(spam)| over equal-width probability bins, weighted by size."""
    edges = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        inside = edges == b
        if inside.any():
            err += inside.mean() * abs(y[inside].mean() - p[inside].mean())
    return float(err)


def within_sender_spearman(campaigns: Sequence[Campaign], scores: np.ndarray, rate: str) -> float:
    """Rank correlation of scores with a campaign rate inside each sender, averaged by campaigns:
    whether it ranks one sender's drafts right (the sender's audience is not the content's doing)."""
    from scipy.stats import spearmanr

    total, weight = 0.0, 0
    for org in sorted({c.org_id for c in campaigns}):
        idx = [i for i, c in enumerate(campaigns) if c.org_id == org]
        if len(idx) < 5:
            continue
        rho = spearmanr(scores[idx], [getattr(campaigns[i], rate) for i in idx]).statistic
        if rho == rho:  # a constant column has no rank correlation
            total, weight = total + rho * len(idx), weight + len(idx)
    return total / weight if weight else float("nan")


def engagement_metrics(model: EngagementModel, campaigns: Sequence[Campaign]) -> dict[str, float]:
    """The engagement model beside the oracle (the twin's hidden quality) on unseen worlds."""
    opens, clicks = model.predict([c.content for c in campaigns])
    quality = np.array([c.hidden_quality for c in campaigns])
    observed = np.array([c.open_rate for c in campaigns])
    return {"open_rate_rank_within_sender": within_sender_spearman(campaigns, opens, "open_rate"),
            "click_rate_rank_within_sender": within_sender_spearman(campaigns, clicks, "click_rate"),
            "oracle_open_rate_rank_within_sender": within_sender_spearman(campaigns, quality, "open_rate"),
            "oracle_click_rate_rank_within_sender": within_sender_spearman(campaigns, quality, "click_rate"),
            "open_rate_mean_abs_error": float(np.mean(np.abs(opens - observed))),
            "engagement_campaigns": float(len(campaigns))}


def evaluate_into(trained: Path, out: Path) -> dict[str, float]:
    """Registry metrics on the test block (never read in training), the baseline's beside them, and
    a table of both; `fpr` is the share of ham the scorer would hold back."""
    saved = joblib.load(trained)
    scorer, baseline, test = saved["scorer"], saved["baseline"], saved["test"]
    y = np.array([m.spam for m in test], dtype=int)
    contents = [m.content for m in test]
    p = scorer.proba(contents)
    ours = spam_model.confusion(y, p >= scorer.threshold)
    base = spam_model.confusion(y, baseline.decision([c.text for c in contents]) > 0)
    hints = suggestions(scorer, contents, p)
    worlds, subscribers, days = saved.get("engagement_judged_on", (0, 0, 0))
    engaged = (engagement_metrics(scorer.engagement, twin_campaigns(protocol.VALIDATION_SEEDS[:worlds], subscribers, days))
               if scorer.engagement is not None and worlds else {})
    metrics = {**ours, "ece": expected_calibration_error(y, p), "baseline_f1": base["f1"], "baseline_fpr": base["fpr"],
               "f1_vs_baseline": ours["f1"] - base["f1"], "threshold": scorer.threshold,
               "test_messages": float(len(test)), "suggestion_lowered_share": hints["lowered_share"],
               "suggestion_mean_drop_points": hints["mean_drop_points"],
               "members": float(len(scorer.stacked.members)), **engaged,
               **{f"train_{k}": float(v) for k, v in saved["timings"].items()}}
    out.mkdir(parents=True, exist_ok=True)
    rows = [("ours (" + "+".join(scorer.stacked.members) + ")", ours), ("TF-IDF + linear SVM, threshold 0", base)]
    lines = [f"# MDL-007 on the test block of split {saved['seed']} ({len(test)} messages, {int(y.sum())} spam)", "",
             "| model | F1 | precision | recall | false-positive rate |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {m['f1']:.4f} | {m['precision']:.4f} | {m['recall']:.4f} | {m['fpr']:.4f} |" for name, m in rows]
    lines += ["", f"Suggestions: {hints['with_rewrite']} of {hints['flagged']} flagged messages have a rewrite; "
              f"{hints['lowered_share']:.1%} of those score lower, by {hints['mean_drop_points']:.1f} points on average.",
              "", f"Encoder: {json.dumps(saved['encoder'])}", f"Training: {json.dumps(saved['timings'])}"]
    if engaged:
        lines += ["", f"Engagement potential on {int(engaged['engagement_campaigns'])} campaigns of {worlds} validation "
                  "worlds, rank correlation with the observed rate inside each sender (oracle: the hidden quality):",
                  f"open rate {engaged['open_rate_rank_within_sender']:.3f} (oracle "
                  f"{engaged['oracle_open_rate_rank_within_sender']:.3f}), click rate "
                  f"{engaged['click_rate_rank_within_sender']:.3f} (oracle {engaged['oracle_click_rate_rank_within_sender']:.3f})."]
    (out / EVALUATION_TABLE).write_text("\n".join(lines) + "\n")
    return metrics
