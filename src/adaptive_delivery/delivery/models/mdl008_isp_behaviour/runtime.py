"""MLServer runtime for MDL-008: profile rows in, groups and change scores out."""

from adaptive_delivery.delivery.models.mdl008_isp_behaviour.service import answer_rows, load_model
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.serving import FileRuntime


class BehaviourRuntime(FileRuntime):
    refused = (RequestError,)
    files = ("*mdl008_clusters*.json",)
    read = staticmethod(load_model)
    rows = staticmethod(answer_rows)
