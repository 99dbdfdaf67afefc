"""Off-policy evaluation: what a policy's reward would have been, estimated from a log another
policy wrote, where the log records each action's propensity (the probability the logging policy
gave it). The standard estimators (Dudík, Langford & Li, 2011; as the Open Bandit Pipeline defines
them), each with a bootstrap interval over the log's rows:

- IPW: the logged rewards reweighted by π(a|x) / propensity (unbiased, high variance);
- SNIPW: IPW normalised by the mean weight (a little bias, much less variance);
- DM: the reward model's prediction averaged under π (no variance from weights, biased as the
  model is);
- DR: DM plus the IPW-weighted residuals of the reward model (unbiased if either part is right).

`evaluation` holds π(a|x) for every logged row and every action (rows, actions); `predicted` the
reward model's q(x, a) on the same grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ESTIMATORS = ("ipw", "snipw", "dm", "dr")


@dataclass(frozen=True)
class LoggedBandit:
    actions: np.ndarray  # (rows,) the action played
    rewards: np.ndarray  # (rows,)
    propensities: np.ndarray  # (rows,) P(action | context) under the logging policy

    def __post_init__(self) -> None:
        n = len(self.actions)
        if len(self.rewards) != n or len(self.propensities) != n:
            raise ValueError("one reward and one propensity per logged action")
        if n == 0:
            raise ValueError("the log is empty")
        if not ((self.propensities > 0) & (self.propensities <= 1)).all():
            raise ValueError("propensities must be in (0, 1]: an action its policy could not play cannot be logged")


def _terms(log: LoggedBandit, evaluation: np.ndarray, predicted: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-row terms whose means (SNIPW: ratio of means) are the estimates."""
    rows = np.arange(len(log.actions))
    if evaluation.shape[0] != len(rows):
        raise ValueError("the evaluation policy needs a distribution for every logged row")
    weight = evaluation[rows, log.actions] / log.propensities
    out = {"ipw": weight * log.rewards, "weight": weight}
    if predicted is not None:
        dm = (evaluation * predicted).sum(axis=1)
        out["dm"] = dm
        out["dr"] = dm + weight * (log.rewards - predicted[rows, log.actions])
    return out


def _estimate(terms: dict[str, np.ndarray], idx: np.ndarray | slice) -> dict[str, float]:
    out = {"ipw": float(terms["ipw"][idx].mean())}
    w = terms["weight"][idx].mean()
    out["snipw"] = float(terms["ipw"][idx].mean() / w) if w > 0 else float("nan")
    for k in ("dm", "dr"):
        if k in terms:
            out[k] = float(terms[k][idx].mean())
    return out


def estimate(log: LoggedBandit, evaluation: np.ndarray, predicted: np.ndarray | None = None,
             bootstrap: int = 1_000, confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, float]]:
    """Each estimator's value with its percentile-bootstrap interval over the log's rows, and the
    mean importance weight (near 1 when the evaluation policy stays where the log has data)."""
    terms = _terms(log, np.asarray(evaluation, dtype=float), None if predicted is None else np.asarray(predicted, float))
    point = _estimate(terms, slice(None))
    rng = np.random.default_rng(seed)
    n = len(log.actions)
    draws: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(bootstrap):
        sample = _estimate(terms, rng.integers(0, n, n))
        for k, v in sample.items():
            draws[k].append(v)
    tail = (1 - confidence) / 2 * 100
    out = {k: {"value": v, "low": float(np.nanpercentile(draws[k], tail)),
               "high": float(np.nanpercentile(draws[k], 100 - tail))} for k, v in point.items()}
    out["mean_weight"] = {"value": float(terms["weight"].mean()), "low": float("nan"), "high": float("nan")}
    return out


def on_policy(rewards: np.ndarray, bootstrap: int = 1_000, confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """A policy's own logged mean reward with the same bootstrap interval (the truth OPE is checked on)."""
    r = np.asarray(rewards, dtype=float)
    rng = np.random.default_rng(seed)
    means = [r[rng.integers(0, len(r), len(r))].mean() for _ in range(bootstrap)]
    tail = (1 - confidence) / 2 * 100
    return {"value": float(r.mean()), "low": float(np.percentile(means, tail)),
            "high": float(np.percentile(means, 100 - tail))}

