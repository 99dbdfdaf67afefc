"""Holdout metrics beside the simulator oracle's, with the HTML evaluation report."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def evaluate(model_id: str, tracking_uri: str, experiment: str, run_id: str, truth_dir: str, model: Input[Model],
             holdout: Input[Dataset], metrics: Output[Metrics], report: Output[HTML]) -> float:
    """Returns the primary metric; `truth_dir` empty means no oracle (real data)."""
    import math

    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training import steps
    from adaptive_delivery.platform.training.tracking import Tracking

    spec = get(model_id)
    scores = steps.evaluate_step(spec, Tracking(tracking_uri, experiment), run_id, model.path, holdout.path,
                                 truth_dir or None, report.path)
    for name, value in scores.items():
        if not math.isnan(value):
            metrics.log_metric(name, value)
    return scores[spec.primary_metric]
