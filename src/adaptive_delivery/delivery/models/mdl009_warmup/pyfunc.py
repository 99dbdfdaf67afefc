"""MDL-009 as an MLflow pyfunc model: plan requests (one row per IP) in, spec §3.5 plan records out,
the same code as the MLServer runtime (`service.plan_day`). The approvals ledger, when the caller
has one, comes in the model config (`approvals`)."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from adaptive_delivery.delivery.decisions.approvals import ApprovalLedger
from adaptive_delivery.delivery.models.mdl009_warmup.service import check_actor, plan_day
from adaptive_delivery.platform.rl.policy_export import MlpActor
from adaptive_delivery.platform.rl.pyfunc import ACTOR_ARTIFACT


class WarmupPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        config = context.model_config or {}
        self.actor = check_actor(MlpActor.load(context.artifacts[ACTOR_ARTIFACT]))
        self.version = str(config.get("version", "unknown"))
        self.ledger = ApprovalLedger(config["approvals"]) if config.get("approvals") else None

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        return plan_day(self.actor, {c: frame[c].to_numpy() for c in frame.columns}, self.version, self.ledger)
