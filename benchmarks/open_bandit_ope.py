"""Thompson sampling judged off-policy on the Open Bandit Dataset (men campaign, small version):
policies learned from the Thompson-sampling log (`bts`), their click rate estimated from the
uniformly random log by IPW, SNIPW, DM and DR (platform/online/ope.py), each with a bootstrap 95%
interval.

The check of the estimators is the dataset's own: the logged Thompson-sampling policy's value,
estimated from the random log (its action distribution taken per day and slot from its own log),
against the click rate it actually got (its log's mean). The policies judged:
- Beta-Bernoulli Thompson sampling per slot, its prior the pooled click rate worth 100 impressions;
- the contextual variant (logistic Thompson sampling: item, slot, the user's affinity to the item,
  the user's features crossed with the item's category);
- uniform random (its estimate must equal the random log's own rate: a sanity line).
The reward model behind DM and DR is the contextual model's posterior mean, fitted on the bts log.
The women campaign is kept sealed.

Run: `.venv/bin/python benchmarks/open_bandit_ope.py` (writes benchmarks/results/open_bandit_ope.json).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from provenance import write_results

from adaptive_delivery.marketing import open_bandit as obd
from adaptive_delivery.platform.online import ope
from adaptive_delivery.platform.online.thompson import BetaBernoulli, LogisticThompson

PRIOR_IMPRESSIONS = 100.0  # the Beta prior's strength, in impressions at the pooled click rate
PRIOR_PRECISION = 1.0  # the logistic model's Gaussian prior on each weight but the intercept's
INTERCEPT_PRECISION = 1e-4  # the intercept's: loose, so rare items shrink to the pooled rate, not to one half
DRAWS = 2_000  # posterior draws behind each action distribution


def logged_policy(bts: obd.BanditLog, target: obd.BanditLog) -> np.ndarray:
    """The Thompson-sampling log's own action distribution, per calendar day and slot (it is
    context-free and updated over the week), for each row of `target`."""
    out = np.zeros((len(target), bts.n_items))
    for day in np.unique(target.days):
        for slot in range(len(obd.POSITIONS)):
            shown = bts.items[(bts.days == day) & (bts.positions == slot)]
            rows = (target.days == day) & (target.positions == slot)
            if rows.any():
                out[rows] = np.bincount(shown, minlength=bts.n_items) / max(len(shown), 1)
    return out


def beta_bernoulli(bts: obd.BanditLog, target: obd.BanditLog, seed: int) -> np.ndarray:
    rate = bts.clicks.mean()
    out = np.zeros((len(target), bts.n_items))
    for slot in range(len(obd.POSITIONS)):
        bandit = BetaBernoulli(bts.n_items, alpha=rate * PRIOR_IMPRESSIONS, beta=(1 - rate) * PRIOR_IMPRESSIONS,
                               seed=seed + slot)
        here = bts.positions == slot
        bandit.update(bts.items[here], bts.clicks[here])
        out[target.positions == slot] = bandit.action_probabilities(DRAWS)
    return out


def contextual(model: LogisticThompson, target: obd.BanditLog) -> np.ndarray:
    return np.vstack([model.action_probabilities(obd.arm_features(target, rows).astype(np.float32), DRAWS)
                      for rows in np.array_split(np.arange(len(target)), 20)])


def predicted(model: LogisticThompson, target: obd.BanditLog) -> np.ndarray:
    return np.vstack([model.predict(obd.arm_features(target, rows)) for rows in np.array_split(np.arange(len(target)), 20)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1_000)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    logs = obd.read_logs("men")
    random_log, bts = logs["random"], logs["bts"]
    log = ope.LoggedBandit(random_log.items, random_log.clicks, random_log.propensities)
    shown = obd.logged_features(bts)
    n_features = shown.shape[1]
    precision = np.full(n_features, PRIOR_PRECISION)
    precision[0] = INTERCEPT_PRECISION
    model = LogisticThompson(n_features, prior_precision=precision, seed=args.seed)
    model.fit(shown, bts.clicks)
    q = predicted(model, random_log)
    policies = {"logged_thompson_sampling": logged_policy(bts, random_log),
                "beta_bernoulli_ts": beta_bernoulli(bts, random_log, args.seed),
                "contextual_ts": contextual(model, random_log),
                "uniform_random": np.full((len(random_log), random_log.n_items), 1 / random_log.n_items)}
    report: dict[str, object] = {
        "campaign": "men", "rows": {p: len(g) for p, g in logs.items()},
        "clicks": {p: int(g.clicks.sum()) for p, g in logs.items()},
        "on_policy": {p: ope.on_policy(g.clicks, args.bootstrap, seed=args.seed) for p, g in logs.items()},
        "prior_impressions": PRIOR_IMPRESSIONS, "prior_precision": PRIOR_PRECISION, "draws": DRAWS,
        "estimates": {name: ope.estimate(log, pi, q, args.bootstrap, seed=args.seed) for name, pi in policies.items()},
    }
    truth = report["on_policy"]["bts"]["value"]
    report["relative_error_on_logged_ts"] = {k: (report["estimates"]["logged_thompson_sampling"][k]["value"] - truth) / truth
                                            for k in ope.ESTIMATORS}
    print(write_results("open_bandit_ope.json", report, command))
    for name, est in report["estimates"].items():
        print(name, {k: round(v["value"], 5) for k, v in est.items()})
    print("on policy", {p: round(v["value"], 5) for p, v in report["on_policy"].items()})


if __name__ == "__main__":
    main()
