"""Log the model as an MLflow pyfunc, register it and point the `challenger` alias at it."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def register(model_id: str, tracking_uri: str, experiment: str, run_id: str, model: Input[Model],
             holdout: Input[Dataset]) -> str:
    """Returns the new model version."""
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training import steps
    from adaptive_delivery.platform.training.tracking import Tracking

    return steps.register_step(get(model_id), Tracking(tracking_uri, experiment), run_id, model.path, holdout.path)
