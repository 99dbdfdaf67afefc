"""MLServer runtime for MDL-002: Open Inference Protocol (V2) requests of one campaign's
subscribers and window in, each subscriber's P(open) by hour and send hour out. Runs in the serving
environment; a malformed request gets HTTP 400 / gRPC INVALID_ARGUMENT with the reason."""

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl002_send_time import service
from adaptive_delivery.platform.serving import BundleRuntime


class SendTimeRuntime(BundleRuntime):
    """MDL-002 over V2 (REST and gRPC): a campaign's subscribers in, their hours out."""

    refused = (RequestError,)
    respond_with = staticmethod(service.answer)
