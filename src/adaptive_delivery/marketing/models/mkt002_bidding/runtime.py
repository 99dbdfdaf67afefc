"""MLServer runtime for MKT-002: auction rows in, bids out. The registered conversion model is
XGBoost's JSON, walked as numpy trees (`platform.compiled_trees`): a bid request of a few rows
costs a few vectorised steps."""

from mlserver.errors import MLServerError

from adaptive_delivery.marketing.models.mkt002_bidding.service import answer_rows, load_value_model
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.serving import ColumnarRuntime, model_version, policy_file, settle

MODEL_FILES = ("*value_model*.json",)


class BidRuntime(ColumnarRuntime):
    refused = (RequestError,)

    async def load(self) -> bool:
        params = self.settings.parameters
        path = policy_file(params.uri, MODEL_FILES)
        try:
            self.model = load_value_model(path)
        except ValueError as exc:
            raise MLServerError(f"{path.name}: {exc}") from exc
        self.model_version = model_version(params)
        settle()
        return True

    def answer(self, columns: dict):
        return answer_rows(self.model, columns)
