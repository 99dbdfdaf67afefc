"""What every MLServer runtime of the project shares: decoding V2 inputs into columns, encoding a
response frame, and the serving metrics MLServer's Prometheus endpoint exposes. Runs in the
serving environment (MLServer); each model's runtime lives in its own folder."""

import gc
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse, RequestInput

from adaptive_delivery.platform.rl.policy_export import MlpActor

SERVING_METRICS = ("prediction_latency_seconds", "prediction_batch_size", "throttle_recommended_rate", "rl_action")
_metrics: dict | None = None


def serving_metrics() -> dict:
    """This process's metrics, in prometheus_client's default registry, which MLServer's metrics
    endpoint serves (with parallel_workers 0); created once however many models load."""
    global _metrics
    if _metrics is None:
        from prometheus_client import REGISTRY

        from adaptive_delivery.platform.monitoring.metrics import make

        _metrics = {name: make(name, REGISTRY) for name in SERVING_METRICS}
    return _metrics


def settle() -> None:
    """After a model loads: collect once, then freeze what survived (the imports, the model) out of
    the cyclic collector's reach, so that a full collection during a request does not walk the
    millions of long-lived objects Feast, pandas and torch leave behind (a p99 spike)."""
    gc.collect()
    gc.freeze()


def observe(model: str, started: float, rows: int) -> None:
    m = serving_metrics()
    m["prediction_latency_seconds"].labels(model=model).observe(time.perf_counter() - started)
    m["prediction_batch_size"].labels(model=model).observe(rows)


INTEGER_TYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}


def _flat(data) -> list:
    """A V2 input's data as a flat list (it may come nested by its shape)."""
    data = getattr(data, "root", data)
    if not isinstance(data, list | tuple):
        return [data]
    if not {list, tuple} & set(map(type, data)):  # flat already: no copy
        return data if isinstance(data, list) else list(data)
    out, stack = [], [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


NUMBER_TYPES = INTEGER_TYPES | {"FP16", "FP32", "FP64"}
MAX_TEXT_CHARS = 1024  # no entity key or category is longer; a megabyte "provider" is an attack


def _misfit(datatype: str, values: list, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """Why the values cannot be what the datatype says (JSON and numpy would coerce them quietly).
    The types present are gathered in C (`set(map(type, …))`); values are looked at one by one
    only to name an offending one."""
    types = set(map(type, values))
    if datatype == "BYTES":
        if not types <= {str, bytes}:
            bad = next(v for v in values if not isinstance(v, str | bytes))
            return f"holds {type(bad).__name__} {str(bad)[:20]!r}: BYTES inputs are text"
        if values and max(map(len, values)) > max_chars:
            long = next(v for v in values if len(v) > max_chars)
            return f"holds a text of {len(long)} characters (at most {max_chars})"
        return None
    if datatype in NUMBER_TYPES:
        if not types <= {int, float}:
            bad = next(v for v in values if isinstance(v, bool) or not isinstance(v, int | float))
            if bad is None:  # JSON's only way to say NaN
                return f"holds null: {datatype} inputs are finite numbers (NaN or infinite values are refused)"
            return f"holds {type(bad).__name__} {str(bad)[:20]!r}: {datatype} inputs are numbers"
        if datatype in INTEGER_TYPES and float in types:  # 1.7 sent as INT64 would silently become 1
            fractional = next((v for v in values if isinstance(v, float) and not v.is_integer()), None)
            if fractional is not None:
                return f"holds {fractional!r}: send whole numbers, or the input as FP64"
        return None
    if datatype == "BOOL":
        if not types <= {bool}:
            bad = next(v for v in values if not isinstance(v, bool))
            return f"holds {type(bad).__name__} {str(bad)[:20]!r}: BOOL inputs are true/false"
        return None
    return f"has datatype {datatype!r}; expected BYTES, BOOL, FP16/32/64, INT8-64 or UINT8-64"


def decode_input(inp: RequestInput, max_chars: int = MAX_TEXT_CHARS) -> np.ndarray:
    """One input as an array, refused where its data, datatype and shape disagree or a text is
    longer than `max_chars`."""
    data = getattr(inp.data, "root", inp.data)
    if isinstance(data, np.ndarray) and inp.datatype in NUMBER_TYPES | {"BOOL"}:
        return _raw_numbers(inp, data)
    values = _flat(inp.data)
    misfit = _misfit(inp.datatype, values, max_chars)
    if misfit:
        raise MLServerError(f"input {inp.name!r} {misfit}")
    _check_shape(inp, len(values))
    try:
        if inp.datatype == "BYTES":  # text, whether JSON sent str or gRPC bytes
            text = values if bytes not in set(map(type, values)) else [
                v.decode() if isinstance(v, bytes) else v for v in values]
            out = np.empty(len(text), dtype=object)
            out[:] = text
            return out
        return np.asarray(NumpyCodec.decode_input(inp))
    except Exception as exc:  # shape and data disagree, unknown datatype, …
        raise MLServerError(f"input {inp.name!r} cannot be decoded as {inp.datatype} {inp.shape}: {exc}") from exc


def _raw_numbers(inp: RequestInput, data: np.ndarray) -> np.ndarray:
    """Numbers that came as raw gRPC contents (`serving.raw_tensors`): typed by their datatype
    already; only the shape is checked (NaN is refused where a number is read, as for any input)."""
    _check_shape(inp, data.size)
    return data.reshape(inp.shape)


def _check_shape(inp: RequestInput, count: int) -> None:
    if any(d < 0 for d in inp.shape) or int(np.prod(inp.shape, dtype=object)) != count:
        raise MLServerError(f"input {inp.name!r} has shape {inp.shape} but {count} values")


def columns_of(payload: InferenceRequest, text_limits: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """One flat array per named input (a [n, 1] input counts as n values). `payload` is anything
    with V2 `inputs` (name, datatype, shape, data): the raw gRPC path (`serving.fast_infer`) hands
    its unpacked inputs to the same checks. `text_limits` allows named inputs longer texts than
    `MAX_TEXT_CHARS` (a runtime's `text_limits`: MDL-007 reads a message body)."""
    twice = sorted(n for n, k in Counter(inp.name for inp in payload.inputs).items() if k > 1)
    if twice:  # the second would silently replace the first
        raise MLServerError(f"inputs named more than once: {twice}")
    columns = {}
    for inp in payload.inputs:
        values = decode_input(inp, (text_limits or {}).get(inp.name, MAX_TEXT_CHARS))
        columns[inp.name] = values[:, 0] if values.ndim > 1 and values.shape[1] == 1 else values
    return columns


def requested(payload: InferenceRequest, names: list[str]) -> list[str]:
    """The outputs a request asks for (V2 `outputs`; all when it names none), refusing unknown ones."""
    if not payload.outputs:
        return names
    asked = [o.name for o in payload.outputs]
    unknown = sorted(set(asked) - set(names))
    if unknown:
        raise MLServerError(f"unknown outputs requested: {unknown[:10]}; this model returns {names}")
    return [n for n in names if n in asked]


def text_of(values: np.ndarray) -> list[str]:
    """An object column of a response as the strings its BYTES output carries."""
    text = values.tolist()
    return text if set(map(type, text)) <= {str} else [str(v) for v in text]


def encode_frame(out, payload: InferenceRequest | None = None) -> list:
    """One V2 output per column of a response frame, or of one array per field (those the request
    asks for): text as BYTES, numbers as FP64."""
    outputs = []
    for col in requested(payload, list(out)) if payload is not None else list(out):
        values = np.asarray(out[col])
        if values.dtype == object:
            outputs.append(StringCodec.encode_output(col, text_of(values)))
        else:
            outputs.append(NumpyCodec.encode_output(col, values.astype(np.float64)))
    return outputs


def _rows(out) -> int:
    """How many rows a response frame (or a mapping of one array per field) holds."""
    if hasattr(out, "columns"):
        return len(out)
    return len(next(iter(out.values()), ()))


class ColumnarRuntime(MLModel):
    """A runtime whose work is arrays in, arrays out (`answer`). `predict` wraps it in MLServer's
    V2 types; a raw-tensor gRPC request reaches `respond` straight from its bytes
    (`serving.fast_infer`), with no pydantic object per input or output, and gets the same
    response bytes."""

    refused: tuple[type[Exception], ...] = ()  # what `answer` raises for a malformed request: a 400
    model_version: str = "unknown"
    text_limits: Mapping[str, int] = MappingProxyType({})  # inputs allowed texts past MAX_TEXT_CHARS
    # each runtime's own: the response (a frame, or one array per field, one row per request row)
    answer: Callable[[dict[str, np.ndarray]], Mapping]

    def __init_subclass__(cls, **kwargs) -> None:
        """A runtime without `answer` is refused where it is defined, not at its first request."""
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "answer", None)):
            raise TypeError(f"{cls.__name__} is a ColumnarRuntime without answer(columns)")

    def respond(self, columns: dict[str, np.ndarray], started: float) -> Mapping:
        """`answer`, its refusals as 400s, and the serving metrics."""
        try:
            out = self.answer(columns)
        except self.refused as exc:
            raise MLServerError(str(exc)) from exc
        observe(self.name, started, _rows(out))
        return out

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        started = time.perf_counter()
        out = self.respond(columns_of(payload, self.text_limits), started)
        return InferenceResponse(model_name=self.name, model_version=self.model_version, id=payload.id,
                                 outputs=encode_frame(out, payload))


class FileRuntime(ColumnarRuntime):
    """A runtime whose registered model is one file in its folder: the first match of `files` (glob
    patterns, in order), read by `read` into the model that `rows` answers with. `read` raises
    ValueError for a file this version cannot serve, and the model refuses to load with the
    file's name and why. A subclass sets the three (the callables as staticmethods)."""

    files: tuple[str, ...] = ()
    read: Callable[[Path], Any]  # the file -> the model
    rows: Callable[[Any, dict[str, np.ndarray]], Mapping]  # (model, request columns) -> the answer

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.files or not callable(getattr(cls, "read", None)) or not callable(getattr(cls, "rows", None)):
            raise TypeError(f"{cls.__name__} is a FileRuntime without files, read(path) and rows(model, columns)")

    async def load(self) -> bool:
        params = self.settings.parameters
        path = policy_file(params.uri, self.files)
        try:
            self.model = self.read(path)
        except ValueError as exc:
            raise MLServerError(f"{path.name}: {exc}") from exc
        self.model_version = model_version(params)
        settle()
        return True

    def answer(self, columns: dict[str, np.ndarray]) -> Mapping:
        return self.rows(self.model, columns)


class BundleRuntime(ColumnarRuntime):
    """A runtime whose registered model is a trained bundle (`platform.bundle.TrainedModel`, the
    supervised pipeline's model): loaded from the model's folder, each request answered by the
    model's service function `respond_with(bundle, columns)` (a staticmethod the subclass sets),
    whose RequestError is the 400 (`refused`)."""

    respond_with: Callable[[Any, dict[str, np.ndarray]], Mapping]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "respond_with", None)):
            raise TypeError(f"{cls.__name__} is a BundleRuntime without respond_with(bundle, columns)")

    async def load(self) -> bool:
        from adaptive_delivery.platform.bundle import TrainedModel

        params = self.settings.parameters
        self.bundle = TrainedModel.load(TrainedModel.locate(params.uri))
        self.model_version = model_version(params)
        settle()
        return True

    def answer(self, columns: dict[str, np.ndarray]) -> Mapping:
        return self.respond_with(self.bundle, columns)


def model_version(params) -> str:
    """The registry version a model-settings file names (parameters.version or extra.version)."""
    return str(params.version or (params.extra or {}).get("version", "unknown"))


def policy_file(uri: str, patterns: tuple[str, ...] = ("*actor*.npz",)) -> Path:
    """The first file under a model's folder matching a pattern, in the patterns' order: the
    exported actor of a learned policy, or (where the model can serve one) a rule champion."""
    for pattern in patterns:
        if found := sorted(Path(uri).rglob(pattern)):
            return found[0]
    raise MLServerError(f"no policy file ({' or '.join(patterns)}) under {uri}")


def load_actor(uri: str, check: Callable[[MlpActor], MlpActor]) -> MlpActor:
    """The exported actor (*actor*.npz) under a model's folder, refused by `check` (the model's own
    test of features and actions) before it serves anything."""
    path = policy_file(uri)
    try:
        return check(MlpActor.load(path))
    except ValueError as exc:
        raise MLServerError(f"{path.name}: {exc}") from exc
