"""The marketing twin as referee: the bid optimiser against the rules an operator runs, and
Thompson sampling against an A/B split and epsilon-greedy, on worlds never used for a choice.

Bidding (14 days per campaign, four campaigns per world, second- and first-price auctions):
- the rules: a fixed per-click bid, bidding a click's value (no pacing), and linear bidding, each
  with its setting (and, in first-price auctions, the value bid's shading) chosen on validation
  worlds; the optimiser's pacing gain (and first-price shading) likewise;
- the oracle: the most value each day's budget could buy in hindsight (`twin.marketing.oracle_value`);
- per world: the share of the oracle's value bought, conversions per $1,000 of budget, and regret
  (the oracle's value minus what was bought, dollars per campaign-day). Values are what the won
  impressions were worth in truth, so luck in conversions does not blur the comparison.

Variant selection (28 days, the campaign's first two creatives, a quarter of its searches):
Beta-Bernoulli Thompson sampling, the contextual variant (one posterior per segment), a fixed
50/50 split, and epsilon-greedy (10%), updated hourly; regret in clicks against showing every
impression the creative with the higher true click propensity for it.

Run: `.venv/bin/python benchmarks/marketing_twin.py` (writes benchmarks/results/marketing_twin.json).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.marketing import bidding as bd
from adaptive_delivery.platform import protocol
from adaptive_delivery.platform.online.thompson import BetaBernoulli
from adaptive_delivery.twin import marketing as tw

DAYS = 14
VARIANT_DAYS = 28
VARIANT_SHARE = 0.25  # of a campaign's searches that show the tested creatives
EPSILON = 0.1
GRIDS = {"fixed": (0.6, 0.8, 1.0, 1.25, 1.5, 2.0),  # x a click's published value (3.75% x value)
         "linear": (0.6, 0.8, 1.0, 1.25, 1.5, 2.0),
         "optimiser": (0.25, 0.5, 1.0),  # pacing gain
         "value": (1.0,)}
SHADES = (0.5, 0.7, 0.85, 1.0)  # first price: the bid paid is the bid, so bids are shaded
BIDDERS = ("fixed", "value", "linear", "optimiser")


class Shaded:
    def __init__(self, bidder, shade: float) -> None:
        self.bidder, self.shade = bidder, shade

    def bids(self, context: dict) -> np.ndarray:
        return self.shade * self.bidder.bids(context)

    def observe(self, context: dict, result: dict) -> None:
        self.bidder.observe(context, result)


def make(kind: str, setting: float, campaign: tw.Campaign, seed: int):
    unit = bd.PRIOR_CVR * campaign.value
    return {"fixed": lambda: bd.FixedBid(setting * unit), "value": bd.ValueBid,
            "linear": lambda: bd.LinearBid(setting * unit),
            "optimiser": lambda: bd.BidOptimiser(seed=seed, pacing_gain=setting)}[kind]()


def run_world(seed: int, kind: str, setting: float, rule: str, shade: float) -> dict[str, float]:
    world = tw.MarketingWorld.build(seed)
    value = oracle = conversions = spend = budget = 0.0
    for k, c in enumerate(world.campaigns):
        bidder = Shaded(make(kind, setting, c, seed), shade)
        for day in range(DAYS):
            r = tw.run_day(world, k, day, bidder, rule)
            value += r.expected_value
            conversions += r.expected_conversions
            spend += r.spend
            oracle += tw.oracle_value(world, k, day, np.zeros(1, int))
        budget += c.budget * DAYS
    days = DAYS * len(world.campaigns)
    return {"oracle_share": value / oracle, "conversions_per_1000": 1000 * conversions / budget,
            "regret_per_campaign_day": (oracle - value) / days, "budget_used": spend / budget}


def _cells(seeds, kind, setting, rule, shade) -> list[dict[str, float]]:
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(run_world, seeds, [kind] * len(seeds), [setting] * len(seeds), [rule] * len(seeds),
                             [shade] * len(seeds)))


def tune(kind: str, rule: str, seeds: list[int], gain: float | None) -> tuple[float, float, dict]:
    """(setting, shade) with the highest mean oracle share on the validation worlds, and the grid."""
    tried = {}
    settings = (gain,) if gain is not None else GRIDS[kind]
    shades = SHADES if rule == "first" and kind in ("value", "optimiser") else (1.0,)
    for setting in settings:
        for shade in shades:
            cells = _cells(seeds, kind, setting, rule, shade)
            tried[f"{setting}x{shade}"] = float(np.mean([c["oracle_share"] for c in cells]))
    best = max(tried, key=tried.get)
    setting, shade = (float(v) for v in best.split("x"))
    return setting, shade, tried


def variant_regret(seed: int, policy: str) -> float:
    """Clicks lost over a campaign's life against the better creative for each impression."""
    world = tw.MarketingWorld.build(seed)
    rng = np.random.default_rng([seed, 7])
    total = 0.0
    for k in range(len(world.campaigns)):
        overall = BetaBernoulli(2, seed=seed + k)
        per_segment = [BetaBernoulli(2, seed=seed + 10 * k + s) for s in range(len(tw.SEGMENTS))]
        shown_n, clicks_n = np.zeros(2), np.zeros(2)
        for day in range(VARIANT_DAYS):
            for hour in range(24):
                opp = world.opportunities(k, day, hour)
                keep = rng.random(len(opp)) < VARIANT_SHARE
                ctr, segment = opp.ctr[keep, :2], opp.segment[keep]
                n = len(segment)
                if policy == "thompson":
                    arm = overall.sample(n).argmax(axis=1)
                elif policy == "contextual_thompson":
                    arm = np.array([per_segment[s].sample(1)[0].argmax() for s in segment], dtype=int)
                elif policy == "ab_50_50":
                    arm = rng.integers(0, 2, n)
                else:  # epsilon-greedy on the observed click rates
                    rate = (clicks_n + 1) / (shown_n + 2)
                    arm = np.where(rng.random(n) < EPSILON, rng.integers(0, 2, n), int(rate.argmax()))
                p = ctr[np.arange(n), arm]
                click = (rng.random(n) < p).astype(float)
                total += float((ctr.max(axis=1) - p).sum())
                overall.update(arm, click)
                for s in range(len(tw.SEGMENTS)):
                    here = segment == s
                    per_segment[s].update(arm[here], click[here])
                np.add.at(shown_n, arm, 1.0)
                np.add.at(clicks_n, arm, click)
    return total / len(world.campaigns)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=5)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    validation = list(protocol.VALIDATION_SEEDS[:args.worlds])
    sealed = list(protocol.SEALED_SEEDS[:args.worlds])
    here = Path(__file__).resolve().parents[1] / "src" / "adaptive_delivery"
    version = protocol.artefact_version([here / "marketing" / "bidding.py", here / "twin" / "marketing.py"])
    report: dict[str, object] = {"days": DAYS, "validation_seeds": validation, "sealed_seeds": sealed,
                                 "version": version, "published": tw.PUBLISHED,
                                 "calibration": tw.calibration(tw.MarketingWorld.build(validation[0]), 3),
                                 "bidding": {}}
    protocol.SealedLedger(protocol.ledger_path()).claim("bid-optimiser", f"twin-{version}", sealed,
                                                        command=shlex.join(command))
    for rule in tw.PRICE_RULES:
        chosen, tuned = {}, {}
        for kind in BIDDERS:
            # first price: the optimiser keeps the pacing gain second price chose and tunes its shading
            gain = (report["bidding"]["second"]["chosen"]["optimiser"]["setting"]
                    if kind == "optimiser" and rule == "first" else None)
            setting, shade, tried = tune(kind, rule, validation, gain)
            chosen[kind], tuned[kind] = (setting, shade), tried
            print(rule, kind, "chosen", setting, shade, flush=True)
        cells = {kind: _cells(sealed, kind, chosen[kind][0], rule, chosen[kind][1]) for kind in BIDDERS}
        summary = {kind: {m: protocol.interval([c[m] for c in cells[kind]]).to_dict() for m in cells[kind][0]}
                   for kind in BIDDERS}
        best_rule = max(BIDDERS[:-1], key=lambda k: summary[k]["oracle_share"]["mean"])
        paired = {m: protocol.interval([a[m] - b[m] for a, b in zip(cells["optimiser"], cells[best_rule],
                                                                     strict=True)]).to_dict()
                  for m in ("oracle_share", "conversions_per_1000", "regret_per_campaign_day")}
        report["bidding"][rule] = {"chosen": {k: {"setting": v[0], "shade": v[1]} for k, v in chosen.items()},
                                   "validation": tuned, "summary": summary, "best_rule": best_rule,
                                   "optimiser_minus_best_rule": paired,
                                   "per_world": {k: cells[k] for k in BIDDERS}}
        print(rule, {k: round(v["oracle_share"]["mean"], 3) for k, v in summary.items()}, flush=True)
    policies = ("thompson", "contextual_thompson", "ab_50_50", "epsilon_greedy")
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        regrets = {p: list(pool.map(variant_regret, sealed, [p] * len(sealed))) for p in policies}
    report["variants"] = {"days": VARIANT_DAYS, "share": VARIANT_SHARE, "epsilon": EPSILON,
                          "regret_clicks": {p: protocol.interval(v).to_dict() for p, v in regrets.items()},
                          "per_world": regrets}
    print({p: round(float(np.mean(v)), 1) for p, v in regrets.items()}, flush=True)
    print(write_results("marketing_twin.json", report, command))


if __name__ == "__main__":
    main()
