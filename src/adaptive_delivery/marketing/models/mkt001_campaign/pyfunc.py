"""MKT-001 as an MLflow pyfunc model: customer rows in, campaign predictions out, the same code as
the MLServer runtime (`service.answer_rows`)."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet
from adaptive_delivery.marketing.models.mkt001_campaign.service import answer_rows

NETWORK_ARTIFACT = "network"


class CampaignPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.net = ArrayNet.load(Path(context.artifacts[NETWORK_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        return pd.DataFrame(answer_rows(self.net, {c: frame[c].to_numpy() for c in frame.columns}))
