"""A learned control policy's exported actor as an MLflow pyfunc model: numpy and MLflow only, so
the serving image loads it without gymnasium or Stable-Baselines3."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd

from adaptive_delivery.platform.rl.policy_export import MlpActor

ACTOR_ARTIFACT = "actor"
RULE_ARTIFACT = "rule"  # a rule champion's settings (JSON), where the model serves one


class ActorPyfunc(mlflow.pyfunc.PythonModel):
    """Feature rows (the model's FEATURE_NAMES) in, the policy's action and confidence out."""

    def load_context(self, context) -> None:
        self.actor = MlpActor.load(context.artifacts[ACTOR_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        action, confidence = self.actor.act(pd.DataFrame(model_input).to_numpy(dtype=np.float64))
        return pd.DataFrame({"action": action, "confidence": confidence})
