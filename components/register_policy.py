"""Log a control policy and its evaluation to MLflow, register `challenger`, gate against `champion`."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def register_policy(model_id: str, profile: str, tracking_uri: str, experiment: str, policy: Input[Model],
                    evaluation: Input[Artifact]) -> str:
    """Returns the gate's verdict in words."""
    from pathlib import Path

    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.policies import register_policy_step
    from adaptive_delivery.platform.training.tracking import Tracking

    return register_policy_step(get(model_id), Tracking(tracking_uri, experiment), Path(policy.path),
                                Path(evaluation.path), {"profile": profile}).summary()
