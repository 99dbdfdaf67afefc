"""V2 gRPC inference with raw tensor contents, without MLServer's per-request pydantic objects.

MLServer (1.7) turns every gRPC request into an `InferenceRequest` and every answer back into a
protobuf through pydantic, a few milliseconds for a 1,000-message decision. For a raw-tensor
request to a `platform.serving.ColumnarRuntime`, `install()` routes `ModelInfer` straight from the
request's bytes to the runtime's `respond` and packs its arrays into `raw_output_contents`:

- the same checks: the serving guard's interceptor still runs first; inputs go through
  `platform.serving.columns_of`, requested outputs through `requested`;
- the same answer: the response bytes equal MLServer's own path's but for the generated id
  (`tests/integration/test_serving.py`);
- the same bookkeeping: MLServer's model lookup, readiness check and request metrics
  (`DataPlane._infer_contextmanager`), and MLServerError mapped to its gRPC status.

Any other request (typed contents, REST, a model of another runtime, the response cache on) takes
MLServer's own path. Runs in the serving environment.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from adaptive_delivery.platform.serving import ColumnarRuntime, columns_of, requested, text_of
from serving.guard import raw_contents_problem
from serving.raw_tensors import _unpack, pack_text


def request_columns(request, text_limits=None) -> dict[str, np.ndarray]:
    """A raw-tensor ModelInferRequest's inputs, one flat array each, through the checks every V2
    request gets: the V2 raw-contents rules (which the serving guard applies first as well), then
    `columns_of`'s."""
    from mlserver.errors import MLServerError

    problem = raw_contents_problem(request)
    if problem:
        raise MLServerError(problem)
    inputs = []
    for inp, raw in zip(request.inputs, request.raw_input_contents, strict=True):
        elem = SimpleNamespace(name=inp.name, datatype=inp.datatype, shape=list(inp.shape))
        elem.data = _unpack(elem, raw)
        inputs.append(elem)
    return columns_of(SimpleNamespace(inputs=inputs), text_limits)


def reply_of(model: ColumnarRuntime, out, request, request_id: str):
    """The ModelInferResponse MLServer's own path builds from `encode_frame`: text as BYTES [n, 1],
    numbers as FP64, each with its codec's content type, every value in raw_output_contents."""
    from mlserver.grpc import dataplane_pb2 as pb

    reply = pb.ModelInferResponse(model_name=model.name, model_version=model.model_version, id=request_id)
    for name in requested(request, list(out)):
        values = np.asarray(out[name])
        if values.dtype == object:
            text = text_of(values)
            output = reply.outputs.add(name=name, datatype="BYTES", shape=[len(text), 1])
            output.parameters["content_type"].string_param = "str"
            reply.raw_output_contents.append(pack_text(text))
        else:
            numbers = np.ascontiguousarray(values, dtype="<f8")
            shape = list(numbers.shape) if numbers.ndim > 1 else [*numbers.shape, 1]
            output = reply.outputs.add(name=name, datatype="FP64", shape=shape)
            output.parameters["content_type"].string_param = "np"
            reply.raw_output_contents.append(numbers.tobytes())
        output.contents.SetInParent()  # MLServer's converter leaves an empty contents message too
    return reply


async def _columnar(servicer, request) -> ColumnarRuntime | None:
    """The model a request names, where it answers columns and MLServer adds nothing on the way
    (no response cache); None sends the request down MLServer's own path (which also reports an
    unknown model)."""
    from mlserver.errors import MLServerError

    plane = servicer._data_plane
    if not request.raw_input_contents or plane._response_cache is not None:
        return None
    try:
        model = await plane._model_registry.get_model(request.model_name, request.model_version or None)
    except MLServerError:
        return None
    return model if isinstance(model, ColumnarRuntime) else None


def install() -> None:
    """Route raw-tensor ModelInfer calls to columnar runtimes past pydantic; before MLServer starts."""
    from mlserver.grpc.servicers import InferenceServicer
    from mlserver.grpc.utils import handle_mlserver_error
    from mlserver.utils import generate_uuid

    own_path = InferenceServicer.ModelInfer

    @handle_mlserver_error
    async def columnar_path(self, request, context):
        started = time.perf_counter()
        version = request.model_version or None
        async with self._data_plane._infer_contextmanager(request.model_name, version) as model:
            out = model.respond(request_columns(request, model.text_limits), started)
            return reply_of(model, out, request, request.id or generate_uuid())

    async def model_infer(self, request, context):
        if await _columnar(self, request) is None:
            return await own_path(self, request, context)
        return await columnar_path(self, request, context)

    InferenceServicer.ModelInfer = model_infer
