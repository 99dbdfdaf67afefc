"""MKT-002 as an MLflow pyfunc model: auction rows in, bids out, the same code as the MLServer
runtime (`service.answer_rows`)."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from adaptive_delivery.marketing.models.mkt002_bidding.service import answer_rows, load_value_model

MODEL_ARTIFACT = "value_model"


class BidPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.model = load_value_model(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        return pd.DataFrame(answer_rows(self.model, {c: frame[c].to_numpy() for c in frame.columns}))
