"""Challenger vs champion on the same holdout, plus the drift check: promote or stop, in words."""

from kfp import dsl
from kfp.dsl import Dataset, Input

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def gate(model_id: str, tracking_uri: str, experiment: str, run_id: str, version: str, drift_failures: str,
         holdout: Input[Dataset]) -> str:
    """Returns the verdict ("PROMOTE: …" or "STOP: …")."""
    import json

    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training import steps
    from adaptive_delivery.platform.training.tracking import Tracking

    return steps.gate_step(get(model_id), Tracking(tracking_uri, experiment), run_id, version, holdout.path,
                           json.loads(drift_failures))
