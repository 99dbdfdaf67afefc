"""Evidently data drift between the training and holdout features (a gate input)."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Output

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def check_drift(model_id: str, tracking_uri: str, experiment: str, run_id: str, train: Input[Dataset],
                holdout: Input[Dataset], report: Output[HTML], expected_drift: str = "") -> str:
    """Returns the drift failures as a JSON list (empty: no dataset drift, or drift a monitoring
    alarm said to expect)."""
    import json

    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training import steps
    from adaptive_delivery.platform.training.tracking import Tracking

    failures = steps.drift_step(get(model_id), Tracking(tracking_uri, experiment), run_id, train.path, holdout.path,
                                report.path, expected_drift)
    return json.dumps(failures)
