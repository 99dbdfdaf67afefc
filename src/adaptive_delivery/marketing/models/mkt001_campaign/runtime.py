"""MLServer runtime for MKT-001: customer rows in, campaign predictions out. The registered network
is plain arrays answered in numpy: no torch in the serving image."""

from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet
from adaptive_delivery.marketing.models.mkt001_campaign.service import answer_rows
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.serving import FileRuntime


class CampaignRuntime(FileRuntime):
    refused = (RequestError,)
    files = ("*network*.npz",)
    read = staticmethod(ArrayNet.load)
    rows = staticmethod(answer_rows)
