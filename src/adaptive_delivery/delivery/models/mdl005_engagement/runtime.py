"""MLServer runtime for MDL-005: Open Inference Protocol (V2) requests of feature values in,
P(human open) and P(click) per message out. Runs in the serving environment; a malformed request
gets HTTP 400 / gRPC INVALID_ARGUMENT with the reason."""

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl005_engagement import service
from adaptive_delivery.platform.serving import BundleRuntime


class EngagementRuntime(BundleRuntime):
    """MDL-005 over V2 (REST and gRPC): feature columns in, p_open and p_click per message out."""

    refused = (RequestError,)
    respond_with = staticmethod(service.answer)
