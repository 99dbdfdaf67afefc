"""Train a control policy (MDL-003, MDL-009) in the world simulator for the profile's step budget."""

from kfp import dsl
from kfp.dsl import Model, Output

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def train_policy(model_id: str, profile: str, seed: int, policy: Output[Model]) -> None:
    from pathlib import Path

    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.policies import train_policy_step

    train_policy_step(get(model_id), profile, seed, Path(policy.path))
    policy.metadata.update({"model_id": model_id, "profile": profile, "seed": seed})
