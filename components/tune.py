"""Optuna search with time-series cross-validation; every trial is an MLflow run."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def tune(model_id: str, profile: str, tracking_uri: str, experiment: str, run_id: str, train: Input[Dataset],
         best_params: Output[Artifact]) -> None:
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.spec import profile as get_profile
    from adaptive_delivery.platform.training import steps
    from adaptive_delivery.platform.training.tracking import Tracking

    best = steps.tune_step(get(model_id), Tracking(tracking_uri, experiment), run_id, get_profile(profile), train.path,
                           best_params.path)
    best_params.metadata.update(best)
