"""Open the pipeline run in MLflow, load the training set from the feature store, check it and
split it by time. A bad training set fails here, so nothing downstream trains or registers."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components import PLATFORM_IMAGE


@dsl.component(base_image=PLATFORM_IMAGE, install_kfp_package=False)
def load_training_set(model_id: str, profile: str, lake: str, features: str, feast_home: str, tracking_uri: str,
                      experiment: str, train: Output[Dataset], holdout: Output[Dataset], holdout_days: int = 0,
                      recalibration_days: int = 0, expected_drift: str = "") -> str:
    """Returns the MLflow run id every later step logs under (`holdout_days` 0: the spec's split)."""
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.spec import profile as get_profile
    from adaptive_delivery.platform.training import steps
    from adaptive_delivery.platform.training.tracking import Tracking

    spec, tracking = get(model_id), Tracking(tracking_uri, experiment)
    run_id = steps.start_run(spec, tracking, get_profile(profile), {"lake": lake, "features": features,
                                                                     **steps.window_overrides(holdout_days, recalibration_days,
                                                                                               expected_drift)})
    summary = steps.load_step(spec, tracking, run_id, lake, features, feast_home, train.path, holdout.path, holdout_days)
    train.metadata.update({"rows": summary["rows_train"], "until": summary["train_until"]})
    holdout.metadata.update({"rows": summary["rows_holdout"], "from": summary["holdout_from"]})
    return run_id
