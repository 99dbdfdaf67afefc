"""Do PSI and KS (platform/monitoring/stability.py) fire on a scripted shift and stay quiet on a
steady population? Judged on MKT-001's inputs and predictions with real customers: the network is
trained as the pipeline trains it (Hillstrom split 0); its reference is the split's training rows;
each monitored day is a sample of the split's test customers (never trained on):

- steady: customers drawn uniformly, their real visits: every alarm is a false alarm;
- lapsed customers: the day's mix leans to customers who have not bought for months (a customer's
  weight grows in proportion to the months since their last purchase): the inputs move;
- new customers: three in four are first-year customers (`newbie`; half are, in the file): the
  inputs move;
- the e-mail wore out: customers drawn uniformly but each visit kept with probability 0.6: the
  inputs do not move, the outcome does, so only prediction bias can see it.

Run: `.venv/bin/python benchmarks/campaign_drift.py` (writes benchmarks/results/campaign_drift.json).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import write_results

from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom, network, training
from adaptive_delivery.platform.monitoring import stability
from adaptive_delivery.platform.spec import get

SCENARIOS = ("steady", "lapsed_customers", "new_customers", "email_wore_out")
WORE_OUT_KEEP = 0.6  # the share of visits left when the e-mail wore out


def day_rows(frame: pd.DataFrame, test: np.ndarray, scenario: str, size: int, rng) -> tuple[np.ndarray, float]:
    """The day's customers (row indices) and the share of their visits that still happen."""
    if scenario == "lapsed_customers":
        weight = frame["recency"].to_numpy()[test].astype(float)
    elif scenario == "new_customers":
        new = frame["newbie"].to_numpy()[test] == 1
        weight = np.where(new, 0.75 / new.sum(), 0.25 / (~new).sum())
    else:
        weight = np.ones(len(test))
    rows = rng.choice(test, size=size, replace=True, p=weight / weight.sum())
    return rows, (WORE_OUT_KEEP if scenario == "email_wore_out" else 1.0)


def interval(hits: int, n: int) -> dict[str, float]:
    """The share with its exact (Clopper-Pearson) 95% interval."""
    from scipy.stats import beta

    low = 0.0 if hits == 0 else float(beta.ppf(0.025, hits, n - hits + 1))
    high = 1.0 if hits == n else float(beta.ppf(0.975, hits + 1, n - hits))
    return {"share": hits / n, "low": low, "high": high, "days": n}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steady-days", type=int, default=60)
    parser.add_argument("--shifted-days", type=int, default=20)
    parser.add_argument("--customers", type=int, default=2_000, help="customers monitored per day")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    frame = hillstrom.read()
    part = hillstrom.split(frame, 0)
    with tempfile.TemporaryDirectory() as tmp:
        import joblib

        trained = training.train_and_save(get("MKT-001").policy_trainer.timesteps["quick"], 0, Path(tmp), frame=frame)
        net = network.ArrayNet.from_state(joblib.load(trained)["network"])
    x = pd.DataFrame(hillstrom.encode(frame), columns=list(hillstrom.FEATURES))
    arm, visit = hillstrom.arms_of(frame), frame["visit"].to_numpy(dtype=float)
    predicted = net.predict(x.to_numpy())[np.arange(len(frame)), arm, 0]
    reference = x.iloc[part.train]
    rng = np.random.default_rng(args.seed)
    report: dict[str, object] = {"customers_per_day": args.customers, "reference_rows": len(reference),
                                 "features": list(hillstrom.FEATURES), "thresholds": {
                                     "psi_warn": stability.PSI_WARN, "psi_act": stability.PSI_ACT,
                                     "ks_alpha": stability.KS_ALPHA, "ks_min_gap": stability.KS_MIN_GAP,
                                     "bias_min_gap": stability.BIAS_MIN_GAP, "bias_min_z": stability.BIAS_MIN_Z},
                                 "scenarios": {}}
    for scenario in SCENARIOS:
        days = args.steady_days if scenario == "steady" else args.shifted_days
        acted = warned = biased = retrain = 0
        top_psi = []
        for _ in range(days):
            rows, keep = day_rows(frame, part.test, scenario, args.customers, rng)
            observed = visit[rows] * (rng.random(len(rows)) < keep)
            result = stability.check_stability(reference, x.iloc[rows], hillstrom.FEATURES, predicted[rows], observed)
            acted += bool(result.acted)
            warned += bool(result.warned)
            biased += result.biased
            retrain += bool(result.retrain())
            top_psi.append(max(f.psi for f in result.features.values()))
        report["scenarios"][scenario] = {
            "days": days, "retrain": interval(retrain, days), "acted": interval(acted, days),
            "warned": interval(warned, days), "biased": interval(biased, days),
            "max_psi_mean": float(np.mean(top_psi))}
        print(scenario, report["scenarios"][scenario], flush=True)
    print(write_results("campaign_drift.json", report, command))


if __name__ == "__main__":
    main()
