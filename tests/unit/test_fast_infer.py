"""The raw-tensor gRPC path past pydantic (`serving.fast_infer`), checked in the serving environment
against MLServer's own servicer on a real DataPlane and model registry: it is the path taken (no
`InferenceRequest` is built), its answer is MLServer's byte for byte but for the generated id,
requested outputs and MLServer's request metrics behave alike, and malformed or foreign requests
get MLServer's own errors and path."""

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVING_PYTHON = REPO / ".venv-serving" / "bin" / "python"

SCRIPT = r"""
import asyncio
import grpc
import numpy as np
import pandas as pd
from mlserver import MLModel
from mlserver.grpc import converters
from mlserver.grpc.servicers import InferenceServicer
from mlserver.handlers import DataPlane
from mlserver.registry import MultiModelRegistry
from mlserver.settings import ModelSettings, Settings

from adaptive_delivery.platform.serving import ColumnarRuntime
from serving import fast_infer, raw_tensors
from serving.raw_tensors import infer_request

class Refused(ValueError):
    pass

class Doubler(ColumnarRuntime):
    refused = (Refused,)
    async def load(self):
        self.model_version = "7"
        return True
    def answer(self, columns):
        if "boom" in columns:
            raise Refused("boom is not an input")
        x = columns["x"].astype(float)
        kind = np.where(x > 1, "big", "small").astype(object)
        if "frame" in columns:
            return pd.DataFrame({"kind": kind, "double": 2 * x})
        return {"kind": kind, "double": 2 * x, "flag": x > 1}

try:
    class Bare(ColumnarRuntime):  # no answer: refused where it is defined
        pass
    raise SystemExit("a ColumnarRuntime without answer was accepted")
except TypeError as exc:
    assert "without answer" in str(exc), exc

class Stock(MLModel):  # a runtime of MLServer's kind: MLServer's own path
    async def predict(self, payload):
        from mlserver.types import InferenceResponse
        from mlserver.codecs import NumpyCodec
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("y", np.ones(2))])

class Abort(Exception):
    pass

class Context:
    def invocation_metadata(self):
        return ()
    def set_trailing_metadata(self, metadata):
        pass
    async def abort(self, code, details):
        raise Abort(code, details)

async def main():
    registry = MultiModelRegistry()
    await registry.load(ModelSettings(name="doubler", implementation=Doubler))
    await registry.load(ModelSettings(name="stock", implementation=Stock))
    plane = DataPlane(Settings(), registry)
    servicer = InferenceServicer(plane, None)
    own = InferenceServicer.ModelInfer
    raw_tensors.install()
    fast_infer.install()
    counts = {"to_types": 0}
    to_types = converters.ModelInferRequestConverter.to_types
    def counting(pb):
        counts["to_types"] += 1
        return to_types(pb)
    converters.ModelInferRequestConverter.to_types = counting
    import mlserver.grpc.servicers as servicers
    servicers.ModelInferRequestConverter.to_types = counting

    def success():
        return plane._ModelInferRequestSuccess.labels(model="doubler", version=None)._value.get()

    cases = [({"x": np.array([0.5, 2.0, 3.0])}, ()), ({"x": np.array([[1], [4]], dtype="i8").ravel()}, ("double",)),
             ({"x": np.array([2.5]), "frame": np.array([1])}, ()), ({"x": np.array([], dtype=float)}, ())]
    for columns, outputs in cases:
        request = infer_request("doubler", columns, outputs)
        request.id = "same-id"
        before, calls = success(), counts["to_types"]
        fast = await servicer.ModelInfer(request, Context())
        assert counts["to_types"] == calls, "the raw request was turned into pydantic types"
        assert success() == before + 1, "MLServer's success counter did not move"
        slow = await own(servicer, request, Context())
        assert counts["to_types"] == calls + 1
        assert fast.SerializeToString(deterministic=True) == slow.SerializeToString(deterministic=True), (fast, slow)
        request.id = ""
        fresh = await servicer.ModelInfer(request, Context())
        assert fresh.id and fresh.id != "same-id"

    bad = []
    text = infer_request("doubler", {"x": np.array([1.0]), "boom": np.array(["a"], dtype=object)})
    short = infer_request("doubler", {"x": np.array([1.0, 2.0])})
    short.inputs[0].shape[0] = 3
    unasked = infer_request("doubler", {"x": np.array([1.0])}, ("nope",))
    mismatched = infer_request("doubler", {"x": np.array([1.0])})
    mismatched.raw_input_contents.append(b"extra")
    for request in (text, short, unasked, mismatched):
        try:
            await servicer.ModelInfer(request, Context())
            raise SystemExit(f"accepted {request}")
        except Abort as exc:
            code, details = exc.args
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
            bad.append(details)
    try:
        await servicer.ModelInfer(infer_request("nowhere", {"x": np.array([1.0])}), Context())
        raise SystemExit("an unknown model answered")
    except Abort as exc:
        assert exc.args[0] == grpc.StatusCode.NOT_FOUND, exc.args
    calls = counts["to_types"]
    reply = await servicer.ModelInfer(infer_request("stock", {"x": np.array([1.0, 2.0])}), Context())
    assert counts["to_types"] == calls + 1 and reply.outputs[0].name == "y"  # MLServer's own path
    print("\n".join(bad))

asyncio.run(main())
"""


@pytest.mark.skipif(not SERVING_PYTHON.exists(), reason="the serving environment is not built (make serving-env)")
def test_the_columnar_path_answers_as_mlservers_own():
    done = subprocess.run([str(SERVING_PYTHON), "-W", "ignore", "-c", SCRIPT], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    reasons = done.stdout.strip().splitlines()
    assert len(reasons) == 4, done.stdout
    assert "boom is not an input" in reasons[0]
    assert "shape [3]" in reasons[1] and "'x'" in reasons[1]
    assert "unknown outputs requested" in reasons[2] and "nope" in reasons[2]
    assert "2 entries for 1 inputs" in reasons[3]
