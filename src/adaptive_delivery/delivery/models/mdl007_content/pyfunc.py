"""MDL-007 as an MLflow pyfunc model: campaign content rows in, spec §3.4 answers out, the same code
as the MLServer runtime (`service.answer_rows`)."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from adaptive_delivery.delivery.models.mdl007_content.model import load_scorer
from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
from adaptive_delivery.delivery.models.mdl007_content.service import answer_rows

SCORER_ARTIFACT = "scorer"


class ContentPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.assessor = ContentAssessor(load_scorer(Path(context.artifacts[SCORER_ARTIFACT])))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        return pd.DataFrame(answer_rows(self.assessor, {c: frame[c].to_numpy() for c in frame.columns}))
