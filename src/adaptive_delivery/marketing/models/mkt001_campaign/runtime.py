"""MLServer runtime for MKT-001: customer rows in, campaign predictions out. The registered network
is plain arrays answered in numpy: no torch in the serving image."""

from mlserver.errors import MLServerError

from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet
from adaptive_delivery.marketing.models.mkt001_campaign.service import answer_rows
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.serving import ColumnarRuntime, model_version, policy_file, settle

NETWORK_FILES = ("*network*.npz",)


class CampaignRuntime(ColumnarRuntime):
    refused = (RequestError,)

    async def load(self) -> bool:
        params = self.settings.parameters
        path = policy_file(params.uri, NETWORK_FILES)
        try:
            self.net = ArrayNet.load(path)
        except ValueError as exc:
            raise MLServerError(f"{path.name}: {exc}") from exc
        self.model_version = model_version(params)
        settle()
        return True

    def answer(self, columns: dict):
        return answer_rows(self.net, columns)
