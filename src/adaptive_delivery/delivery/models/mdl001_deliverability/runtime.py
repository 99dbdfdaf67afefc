"""MLServer runtime for MDL-001: Open Inference Protocol (V2) requests in, spec §6.1 decisions out.

Runs in the serving environment. The request carries either one input per feature column (BYTES
for categorical columns, numbers otherwise) plus an optional `message_id`, or the messages' entity
keys (`delivery.decisions.entities`: subscriber, sending domain, sending IP, provider, content, send
rate), whose features the runtime reads from the Feast online store named in its settings (unknown
entities get missing values and the `defaults` output says which); the response carries one
output per field of the decision. Malformed requests get HTTP 400 / gRPC INVALID_ARGUMENT with the
reason. Every decision is appended to the prediction log with its message id and model version, once
its response has been sent.
"""

import time
from pathlib import Path

from adaptive_delivery.delivery.decisions import entities
from adaptive_delivery.delivery.decisions.service import (
    RequestError,
    decision_columns,
    feature_rows,
)
from adaptive_delivery.platform import decision_log
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.serving import ColumnarRuntime, model_version, settle


class DeliverabilityRuntime(ColumnarRuntime):
    """MDL-001 over V2: feature columns or entity keys in, one spec §6.1 decision per message out."""

    refused = (RequestError,)

    async def load(self) -> bool:
        params = self.settings.parameters
        # the compiled form (numpy, XGBoost inplace), checked against the registered model first
        self.bundle = TrainedModel.load(TrainedModel.locate(params.uri)).for_serving()
        extra = params.extra or {}
        self.model_version = model_version(params)
        log = extra.get("prediction_log")
        self.log_path = Path(log) if log else None
        # {home, data, profile, project, service[, packed]}: entity-key requests; packed false keeps
        # Feast's own read even where packed vectors exist (what the benchmark compares against)
        store = extra.get("feature_store")
        self.online = None if not store else entities.open_online(
            store["home"], store["data"], store.get("profile", "local"), store.get("project", "adaptive_delivery"),
            store["service"], packed=bool(store.get("packed", True)))
        settle()  # long-lived objects out of the collector's way
        return True

    def answer(self, columns: dict) -> dict:
        defaults = None
        if entities.is_entity_request(columns):
            if self.online is None:
                raise RequestError(f"{self.name} was started without a feature store: send every feature "
                                   "value, or start it with one (settings extra.feature_store)")
            messages = entities.message_columns(columns)
            rows, defaults = self.online.rows(messages)
            ids = messages[entities.MESSAGE_ID]
        else:
            rows, ids = feature_rows(columns, self.bundle.features, self.bundle.categorical)
        out = decision_columns(self.bundle, rows, ids, self.model_version, defaults=defaults)
        self._log(out)
        return out

    def _log(self, out) -> None:
        """Held by the serving guard until the response is sent (`platform.decision_log`)."""
        if self.log_path is None:
            return
        stamp, names = time.time(), list(out)
        values = [out[n].tolist() if hasattr(out[n], "tolist") else list(out[n]) for n in names]
        decision_log.record(self.log_path, ({"ts": stamp, "model": self.name, **dict(zip(names, row, strict=True))}
                                            for row in zip(*values, strict=True)))
