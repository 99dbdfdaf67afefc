"""Fit the final model on the training window with the tuned parameters (and, when asked, the
per-segment offsets on its newest days)."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def train_model(model_id: str, profile: str, tracking_uri: str, experiment: str, run_id: str, train: Input[Dataset],
                best_params: Input[Artifact], model: Output[Model], recalibration_days: int = 0) -> None:
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.spec import profile as get_profile
    from adaptive_delivery.platform.training import steps
    from adaptive_delivery.platform.training.tracking import Tracking

    bundle = steps.train_step(get(model_id), Tracking(tracking_uri, experiment), run_id, get_profile(profile), train.path,
                              best_params.path, model.path, recalibration_days=recalibration_days)
    model.metadata.update({"model_id": bundle.model_id, "trained_rows": bundle.trained_rows,
                           "trained_until": bundle.trained_until})
