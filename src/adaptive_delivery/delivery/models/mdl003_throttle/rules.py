"""The best rule an operator would run, tuned on validation worlds: the baselines MDL-003 must beat.

Three rules, each with the settings an experienced operator turns:
- a fixed per-provider rate, as a fraction of the provider's known limit (`TunedStatic`);
- KumoMTA with per-provider rates (a fraction of the known limit) and its shaping automation kept
  off the background noise (a floor on every rule's matches per hour);
- AIMD that backs off only on the replies the providers publish as rate limits.

`tune` runs every candidate of `GRID` on validation worlds and keeps, per rule, the one that
delivers most per hour while its speed-caused blocks stay under the target (0.1%); the choice is
written to `delivery/data/mdl003_tuned_rules.json` and read by `tuned_rules()`. The headline compares
the learned policy with the best of the three on sealed worlds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from adaptive_delivery.delivery.models.mdl003_throttle.policies import (
    AIMD,
    KumoMTA,
    ThrottlePolicy,
    TunedStatic,
)
from adaptive_delivery.platform.protocol import VALIDATION_SEEDS, require_unsealed

# Written by benchmarks/mdl003_rule_tuning.py; package data, so the cluster image carries it.
TUNED_FILE = Path(__file__).resolve().parents[2] / "data" / "mdl003_tuned_rules.json"
SPEED_BLOCK_TARGET = 0.001
RULES: dict[str, Callable[..., ThrottlePolicy]] = {
    "static": TunedStatic,
    "kumomta": lambda **kw: KumoMTA(name="kumomta tuned", **kw),
    "aimd": lambda **kw: AIMD(name="aimd on rate limits", signal="rate_limit", **kw),
}
GRID: dict[str, list[dict]] = {
    # the known limit is the published ceiling, about twice a good sender's usual allowance
    "static": [{"fraction": f} for f in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)],
    "kumomta": [{"rate_fraction": f, "trigger_floor": t} for f in (0.25, 0.3, 0.35, 0.45) for t in (1, 5, 20)],
    "aimd": [{"increase_share": i, "decrease": d, "deferral_threshold": th}
             for i in (0.01, 0.03) for d in (0.5, 0.75) for th in (0.002, 0.01, 0.03)],
}
# Until `tune` has run: the operator's usual choices.
DEFAULTS: dict[str, dict] = {"static": {"fraction": 0.3}, "kumomta": {"rate_fraction": 0.3, "trigger_floor": 5},
                             "aimd": {"increase_share": 0.01, "decrease": 0.5, "deferral_threshold": 0.01}}


def make_rule(kind: str, params: dict) -> ThrottlePolicy:
    return RULES[kind](**params)


def tuned_parameters(path: Path = TUNED_FILE) -> dict[str, dict]:
    """Each rule's tuned settings (the defaults for a rule `tune` has not chosen)."""
    chosen = json.loads(path.read_text())["chosen"] if path.exists() else {}
    return {kind: chosen.get(kind, DEFAULTS[kind]) for kind in RULES}


def tuned_rules(path: Path = TUNED_FILE) -> list[ThrottlePolicy]:
    return [make_rule(kind, params) for kind, params in tuned_parameters(path).items()]


def choose(scores: pd.DataFrame) -> dict[str, dict]:
    """Per rule, the candidate with the most delivered per hour among those under the speed-block
    target (the safest one when none is)."""
    out = {}
    for kind, group in scores.groupby("rule", sort=False):
        ok = group[group["rate_block_rate"] < SPEED_BLOCK_TARGET]
        best = ok.loc[ok["delivered_per_hour"].idxmax()] if len(ok) else group.loc[group["rate_block_rate"].idxmin()]
        out[str(kind)] = json.loads(best["params"])
    return out


def tune(
    evaluate: Callable[[ThrottlePolicy, Sequence[int], float], dict[str, float]],
    *,
    seeds: Sequence[int] = VALIDATION_SEEDS[2:7],
    days: float = 1.0,
    grid: dict[str, list[dict]] = GRID,
    on_candidate: Callable[[str, dict, dict], None] | None = None,
) -> tuple[dict[str, dict], pd.DataFrame]:
    """Score every candidate with `evaluate(policy, seeds, days)` (overall delivered per hour and
    speed-caused block rate, all providers' mail together) and choose per rule."""
    seeds = require_unsealed(seeds)
    rows = []
    for kind, candidates in grid.items():
        for params in candidates:
            metrics = evaluate(make_rule(kind, params), seeds, days)
            rows.append({"rule": kind, "params": json.dumps(params, sort_keys=True), **metrics})
            if on_candidate:
                on_candidate(kind, params, metrics)
    scores = pd.DataFrame(rows)
    return choose(scores), scores
