"""MLServer runtime for MDL-006: Open Inference Protocol (V2) requests of a list's subscribers in,
their unsubscribe and complaint risks and the policy's action out. Runs in the serving
environment; a malformed request gets HTTP 400 / gRPC INVALID_ARGUMENT with the reason."""

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl006_churn_risk import service
from adaptive_delivery.platform.serving import BundleRuntime


class ChurnRiskRuntime(BundleRuntime):
    """MDL-006 over V2 (REST and gRPC): subscriber features in, risks and an action per subscriber out."""

    refused = (RequestError,)
    respond_with = staticmethod(service.answer)
