"""MLServer runtime for MDL-010: Open Inference Protocol (V2) requests of a list's addresses in,
their bounce risks, address checks and the policy's action out. Runs in the serving environment; a
malformed request gets HTTP 400 / gRPC INVALID_ARGUMENT with the reason."""

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl010_list_hygiene import service
from adaptive_delivery.platform.serving import BundleRuntime


class ListHygieneRuntime(BundleRuntime):
    """MDL-010 over V2 (REST and gRPC): address features in, bounce risks and an action per address out."""

    refused = (RequestError,)
    respond_with = staticmethod(service.answer)
