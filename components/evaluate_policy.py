"""Run every policy of a control model's harness on held-out worlds, the oracle's score beside ours."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Model, Output

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def evaluate_policy(model_id: str, profile: str, policy: Input[Model], evaluation: Output[Artifact],
                    metrics: Output[Metrics]) -> None:
    from pathlib import Path

    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.policies import evaluate_policy_step

    for name, value in evaluate_policy_step(get(model_id), Path(policy.path), Path(evaluation.path), profile).items():
        metrics.log_metric(name, value)
