"""MDL-004 as an MLflow pyfunc model: signal rows in, risks, health scores and factors out, the
same code as the MLServer runtime (`service.answer_rows`)."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from adaptive_delivery.delivery.models.mdl004_domain_reputation.service import (
    answer_rows,
    load_model,
)

MODEL_ARTIFACT = "reputation"


class ReputationPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.model = load_model(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        return pd.DataFrame(answer_rows(self.model, {c: frame[c].to_numpy() for c in frame.columns}))
