"""MLServer runtime for MDL-001: Open Inference Protocol (V2) requests in, spec §6.1 decisions out.

Runs in the serving environment. The request carries either one input per feature column (BYTES
for categorical columns, numbers otherwise) plus an optional `message_id`, or the messages' entity
keys (`decisions.entities`: subscriber, sending domain, sending IP, provider, content, send rate),
whose features the runtime reads from the Feast online store named in its settings (unknown
entities get missing values and the `defaults` output says which); the response carries one
output per field of the decision. Malformed requests get HTTP 400 / gRPC INVALID_ARGUMENT with the
reason. Every decision is appended to the prediction log with its message id and model version.
"""

import json
import time
from pathlib import Path

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse, RequestInput

from adaptive_delivery.decisions import entities
from adaptive_delivery.decisions.service import RequestError, decision_frame, feature_rows
from adaptive_delivery.training.bundle import TrainedModel

SERVING_METRICS = ("prediction_latency_seconds", "prediction_batch_size", "throttle_recommended_rate", "rl_action")
_metrics: dict | None = None


def serving_metrics() -> dict:
    """This process's metrics, in prometheus_client's default registry, which MLServer's metrics
    endpoint serves (with parallel_workers 0); created once however many models load."""
    global _metrics
    if _metrics is None:
        from prometheus_client import REGISTRY

        from adaptive_delivery.monitoring.metrics import make

        _metrics = {name: make(name, REGISTRY) for name in SERVING_METRICS}
    return _metrics


def _observe(model: str, started: float, rows: int) -> None:
    m = serving_metrics()
    m["prediction_latency_seconds"].labels(model=model).observe(time.perf_counter() - started)
    m["prediction_batch_size"].labels(model=model).observe(rows)


def _decode(inp: RequestInput) -> np.ndarray:
    try:
        if inp.datatype == "BYTES":
            return np.asarray(StringCodec.decode_input(inp), dtype=object)
        return np.asarray(NumpyCodec.decode_input(inp))
    except Exception as exc:  # shape and data disagree, unknown datatype, …
        raise MLServerError(f"input {inp.name!r} cannot be decoded as {inp.datatype} {inp.shape}: {exc}") from exc


def _columns(payload: InferenceRequest) -> dict[str, np.ndarray]:
    """One flat array per named input (a [n, 1] input counts as n values)."""
    columns = {}
    for inp in payload.inputs:
        values = _decode(inp)
        columns[inp.name] = values[:, 0] if values.ndim > 1 and values.shape[1] == 1 else values
    return columns


def _encode(out) -> list:
    """One V2 output per column of a response frame: text as BYTES, numbers as FP64."""
    outputs = []
    for col in out.columns:
        values = out[col].to_numpy()
        if values.dtype == object:
            outputs.append(StringCodec.encode_output(col, [str(v) for v in values]))
        else:
            outputs.append(NumpyCodec.encode_output(col, values.astype(np.float64)))
    return outputs


class DeliverabilityRuntime(MLModel):
    async def load(self) -> bool:
        params = self.settings.parameters
        self.bundle = TrainedModel.load(TrainedModel.locate(params.uri))
        extra = params.extra or {}
        self.model_version = str(params.version or extra.get("version", "unknown"))
        log = extra.get("prediction_log")
        self.log_path = Path(log) if log else None
        store = extra.get("feature_store")  # {home, data, profile, project, service}: entity-key requests
        self.online = None if not store else entities.open_online(
            store["home"], store["data"], store.get("profile", "local"), store.get("project", "adaptive_delivery"),
            store["service"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        started = time.perf_counter()
        columns = _columns(payload)
        defaults = None
        try:
            if entities.is_entity_request(columns):
                if self.online is None:
                    raise RequestError(f"{self.name} was started without a feature store: send every feature "
                                       "value, or start it with one (settings extra.feature_store)")
                messages = entities.entity_messages(columns)
                rows, defaults = self.online.rows(messages)
                ids = messages[entities.MESSAGE_ID].tolist()
            else:
                rows, ids = feature_rows(columns, self.bundle.features, self.bundle.categorical)
        except RequestError as exc:
            raise MLServerError(str(exc)) from exc
        out = decision_frame(self.bundle, rows, ids, self.model_version, defaults=defaults)
        self._log(out)
        _observe(self.name, started, len(out))
        return InferenceResponse(model_name=self.name, model_version=self.model_version, id=payload.id,
                                 outputs=_encode(out))

    def _log(self, out) -> None:
        if self.log_path is None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.time()
        with self.log_path.open("a") as fh:
            for rec in out.to_dict(orient="records"):
                fh.write(json.dumps({"ts": stamp, "model": self.name, **rec}) + "\n")



class ThrottleRuntime(MLModel):
    """MDL-003 over V2: one row per provider window (`provider` as BYTES, the MTA's window state as
    numbers) in; recommended rate, action, confidence and the rails applied out."""

    async def load(self) -> bool:
        from adaptive_delivery.models.policy_export import MlpActor

        params = self.settings.parameters
        found = sorted(Path(params.uri).rglob("*actor*.npz"))
        if not found:
            raise MLServerError(f"no exported actor (*actor*.npz) under {params.uri}")
        from adaptive_delivery.decisions.throttle_service import check_actor

        try:
            self.actor = check_actor(MlpActor.load(found[0]))
        except ValueError as exc:
            raise MLServerError(f"{found[0].name}: {exc}") from exc
        self.model_version = str(params.version or (params.extra or {}).get("version", "unknown"))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        from adaptive_delivery.decisions.throttle_service import recommend

        started = time.perf_counter()
        columns = _columns(payload)
        try:
            out = recommend(self.actor, columns, self.model_version)
        except RequestError as exc:
            raise MLServerError(str(exc)) from exc
        _observe(self.name, started, len(out))
        m = serving_metrics()
        for rec in out[["provider", "recommended_rate_per_min", "multiplier"]].itertuples(index=False):
            m["throttle_recommended_rate"].labels(isp=rec.provider).set(rec.recommended_rate_per_min)
            m["rl_action"].labels(isp=rec.provider, model=self.name).set(rec.multiplier)
        return InferenceResponse(model_name=self.name, model_version=self.model_version, id=payload.id,
                                 outputs=_encode(out))
