"""MLServer runtime for MDL-004: a sending IP's or domain's signals in, risks and health out."""

from adaptive_delivery.delivery.models.mdl004_domain_reputation.service import (
    answer_rows,
    load_model,
)
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.serving import FileRuntime


class ReputationRuntime(FileRuntime):
    refused = (RequestError,)
    files = ("*mdl004_reputation*.json",)
    read = staticmethod(load_model)
    rows = staticmethod(answer_rows)
