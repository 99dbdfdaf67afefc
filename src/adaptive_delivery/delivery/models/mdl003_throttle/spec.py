"""MDL-003 Throttle Rate Optimizer: the declaration the platform drives. Light on purpose: the
registry loads it everywhere (DAG parsing, the serving image), so training (gymnasium, SB3) and
evaluation (the twin) are imported only when called."""

from __future__ import annotations

import math
from pathlib import Path

from adaptive_delivery.delivery.schemas import MTA_WINDOW_SOURCES
from adaptive_delivery.platform.spec import Gate, ModelSpec, PolicyTrainer, Schedule

FULL_TIMESTEPS = 1_600_000  # chosen on validation worlds (training.TIMESTEPS is the same budget)


def _train(timesteps: int, seed: int, out: Path) -> Path:
    from adaptive_delivery.delivery.models.mdl003_throttle.training import train_and_save

    return train_and_save(timesteps, seed, out)


def _evaluate_for_pipeline(policy: Path, out: Path, profile: str) -> dict[str, float]:
    from adaptive_delivery.delivery.models.mdl003_throttle import report as tr

    full = profile == "full"
    tab, _ = tr.evaluate_into(policy, out, days=7.0 if full else 0.02, seeds=tr.HELD_OUT_SEEDS if full else (1001,),
                              workers=2 if full else 1, trace=full)
    return tr.registry_metrics(tab)


def _pyfunc():
    from adaptive_delivery.delivery.models.mdl003_throttle.pyfunc import ThrottlePyfunc

    return ThrottlePyfunc()


def _example():
    from adaptive_delivery.delivery.models.mdl003_throttle.training import example_request

    return example_request()


SPEC = ModelSpec(
    model_id="MDL-003",
    name="Throttle Rate Optimizer",
    feature_service="mta_provider_window",  # the MTA's live per-provider window, sent with each request
    label="spec §3.2 reward of each 30-second window in the world simulator",
    classes=(),
    primary_metric="oracle_share",
    metrics=("oracle_share", "delivered_per_hour", "rate_block_rate", "block_rate", "deferral_rate",
             "throughput_gain_vs_kumomta", "throughput_gain_vs_best_rule"),
    gates=(
        Gate("oracle_share", max_drop=0.02, floor=0.90),
        # speed-caused blocks: below 0.1% absolutely, and at most 50% above the champion's
        Gate("rate_block_rate", max_drop=0.5, floor=0.001, higher_is_better=False),
        # +20% over the best rule an operator would run (tuned on validation worlds); the floor alone
        # judges it, since the rule, not the last champion, is what the policy must beat
        Gate("throughput_gain_vs_best_rule", max_drop=math.inf, floor=0.20),
    ),
    schedule=Schedule.CONTINUOUS,
    evaluation_days=1.0,  # each evaluation world's length
    evaluation_worlds=5,
    serving_signature={
        "recommended_rate_per_min": "messages/minute for the next 30 seconds, after the rails",
        "action": "hold | increase_N_percent | decrease_N_percent",
        "confidence": "the policy's probability of acting within 0.1 of its chosen action",
        "rails_applied": "which safety rails bound the recommendation",
        "ceiling_per_min": "the rails' ceiling: the knowledge base's learned allowance with headroom, or the published limit",
        "ceiling_source": "where the ceiling came from (knowledge base version and date, or the published limit)",
    },
    trainer="simulator",
    runtime="adaptive_delivery.delivery.models.mdl003_throttle.runtime.ThrottleRuntime",
    served_inputs={"provider": "request", **MTA_WINDOW_SOURCES},
    policy_trainer=PolicyTrainer(train=_train, evaluate=_evaluate_for_pipeline, example=_example,
                                 pyfunc=_pyfunc, timesteps={"quick": 2_048, "full": FULL_TIMESTEPS}),
)
