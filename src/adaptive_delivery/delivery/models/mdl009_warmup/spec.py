"""MDL-009 Warmup Optimizer: the declaration the platform drives. Light on purpose (see MDL-003's
spec): training and evaluation are imported only when called."""

from __future__ import annotations

import math
from pathlib import Path

from adaptive_delivery.delivery.schemas import WARMUP_DAY_SOURCES, WARMUP_KEYS, WARMUP_STATE_SOURCES
from adaptive_delivery.platform.spec import Gate, ModelSpec, PolicyTrainer, Schedule


def _train(timesteps: int, seed: int, out: Path) -> Path:
    from adaptive_delivery.delivery.models.mdl009_warmup.training import train_and_save

    return train_and_save(timesteps, seed, out)


def _example():
    from adaptive_delivery.delivery.models.mdl009_warmup.service import example_request

    return example_request()


def _evaluate_for_pipeline(policy: Path, out: Path, profile: str) -> dict[str, float]:
    from adaptive_delivery.delivery.models.mdl009_warmup import report as wr
    from adaptive_delivery.delivery.models.mdl009_warmup.policies import HORIZON_DAYS

    days, seeds = (HORIZON_DAYS, wr.HELD_OUT_SEEDS) if profile == "full" else (12, (1001, 1002))
    _, df, _ = wr.evaluate_into(policy, out, days=days, seeds=seeds)
    return wr.registry_metrics(df, days)


def _best_rule(evaluation: Path) -> tuple[dict[str, object], dict[str, float]]:
    from adaptive_delivery.delivery.models.mdl009_warmup.report import best_rule_champion

    return best_rule_champion(evaluation)


def _pyfunc():
    from adaptive_delivery.delivery.models.mdl009_warmup.pyfunc import WarmupPyfunc

    return WarmupPyfunc()


SPEC = ModelSpec(
    model_id="MDL-009",
    name="Warmup Optimizer",
    feature_service="warmup_daily_outcomes",  # yesterday's outcomes of the IP, sent with each request
    label="spec §3.5 reward of each warm-up day in the world simulator",
    classes=(),
    primary_metric="days_to_full",
    metrics=("days_to_full", "reached_share", "block_event_days", "reputation_damage", "pause_days",
             "days_vs_best_rule"),
    gates=(
        # days to carry the sender's volume (an IP that never gets there counts horizon + 1)
        Gate("days_to_full", max_drop=0.10, higher_is_better=False),
        # block events per new IP, on average over the held-out IPs
        Gate("block_event_days", max_drop=1.0, floor=0.5, higher_is_better=False),
        # sooner than the best rule held to the same rails, IP by IP (a tie keeps the rule); a
        # relative change of a difference near 0 means nothing, so only the floor judges it
        Gate("days_vs_best_rule", max_drop=math.inf, floor=-0.05, higher_is_better=False),
    ),
    schedule=Schedule.DAILY,
    evaluation_days=40.0,  # each evaluation world's length
    evaluation_worlds=10,
    serving_signature={
        "recommended_action": "one of spec §3.5's seven actions",
        "new_daily_limit": "tomorrow's volume after the rails (0 while paused)",
        "confidence": "the policy's probability of the chosen action",
        "rails_applied": "which safety rails bound the plan, and what waits for a human's approval",
    },
    trainer="simulator",
    runtime="adaptive_delivery.delivery.models.mdl009_warmup.runtime.WarmupRuntime",
    served_inputs={**dict.fromkeys(WARMUP_KEYS, "request"), **WARMUP_STATE_SOURCES, **WARMUP_DAY_SOURCES},
    policy_trainer=PolicyTrainer(train=_train, evaluate=_evaluate_for_pipeline,
                                 example=_example, pyfunc=_pyfunc, best_rule=_best_rule,
                                 timesteps={"quick": 1_024, "full": 600_000}),
)
