"""MLServer runtime for MKT-002: auction rows in, bids out. The registered conversion model is
XGBoost's JSON, walked as numpy trees (`platform.compiled_trees`): a bid request of a few rows
costs a few vectorised steps."""

from adaptive_delivery.marketing.models.mkt002_bidding.service import answer_rows, load_value_model
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.serving import FileRuntime


class BidRuntime(FileRuntime):
    refused = (RequestError,)
    files = ("*value_model*.json",)
    read = staticmethod(load_value_model)
    rows = staticmethod(answer_rows)
