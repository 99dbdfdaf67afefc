"""MDL-009 as an MLflow pyfunc model: plan requests (one row per IP) in, spec §3.5 plan records out,
the same code as the MLServer runtime (`service.plan_day`). The champion is the learned policy's
actor or a railed rule's JSON (`RULE_ARTIFACT`). The approvals ledger, when the caller has one,
comes in the model config (`approvals`)."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from adaptive_delivery.delivery.decisions.approvals import ApprovalLedger
from adaptive_delivery.delivery.models.mdl009_warmup.service import load_planner, plan_day
from adaptive_delivery.platform.rl.pyfunc import ACTOR_ARTIFACT, RULE_ARTIFACT


class WarmupPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        config = context.model_config or {}
        artifacts = context.artifacts
        self.planner = load_planner(Path(artifacts.get(ACTOR_ARTIFACT) or artifacts[RULE_ARTIFACT]))
        self.version = str(config.get("version", "unknown"))
        self.ledger = ApprovalLedger(config["approvals"]) if config.get("approvals") else None

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        return plan_day(self.planner, {c: frame[c].to_numpy() for c in frame.columns}, self.version, self.ledger)
