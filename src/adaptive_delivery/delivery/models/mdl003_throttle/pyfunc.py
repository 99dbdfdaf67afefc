"""MDL-003 as an MLflow pyfunc model: what `mlflow.pyfunc.load_model` serves (the registry's
signature, batch scoring); the MLServer runtime answers the same requests with the same code."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from adaptive_delivery.delivery.models.mdl003_throttle.service import check_actor, recommend
from adaptive_delivery.platform.rl.policy_export import MlpActor
from adaptive_delivery.platform.rl.pyfunc import ACTOR_ARTIFACT


class ThrottlePyfunc(mlflow.pyfunc.PythonModel):
    """Rate requests (one row per provider window) in, MDL-003 recommendations out."""

    def load_context(self, context) -> None:
        self.actor = check_actor(MlpActor.load(context.artifacts[ACTOR_ARTIFACT]))
        self.version = str((context.model_config or {}).get("version", "unknown"))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        return recommend(self.actor, {c: frame[c].to_numpy() for c in frame.columns}, self.version)
