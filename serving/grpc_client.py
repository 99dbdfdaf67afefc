"""A minimal Open Inference Protocol gRPC client (runs in the serving environment): send a V2
request given as JSON, print the response as JSON, exit 3 with the status message on an error.
`--raw` sends the inputs as raw tensor contents (`serving.raw_tensors`), as a sending system with
large batches should.

    python -m serving.grpc_client --port 8081 --model mdl-001 [--raw] request.json
"""

import argparse
import json
import sys

import grpc
from mlserver.grpc import dataplane_pb2_grpc
from mlserver.grpc.converters import ModelInferRequestConverter, ModelInferResponseConverter
from mlserver.types import InferenceRequest


def infer(port: int, model: str, request: dict, host: str = "127.0.0.1", timeout_s: float = 30.0) -> dict:
    for inp in request.get("inputs", []):  # gRPC carries BYTES tensors as bytes, JSON as strings
        if inp.get("datatype") == "BYTES":
            inp["data"] = [v.encode() if isinstance(v, str) else v for v in inp["data"]]
    pb = ModelInferRequestConverter.from_types(InferenceRequest.model_validate(request), model_name=model)
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        reply = dataplane_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(pb, timeout=timeout_s)
    return json.loads(ModelInferResponseConverter.to_types(reply).model_dump_json())


def infer_raw(port: int, model: str, request: dict, host: str = "127.0.0.1", timeout_s: float = 30.0) -> dict:
    """`infer` with raw input contents; the answer as {"outputs": [{"name", "datatype", "data"}]}."""
    import numpy as np

    from serving import raw_tensors

    numpy_of = {"BYTES": object, **raw_tensors.NUMPY_OF}
    columns = {inp["name"]: np.asarray(inp["data"], dtype=numpy_of[inp["datatype"]]) for inp in request["inputs"]}
    pb = raw_tensors.infer_request(model, columns)
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        reply = dataplane_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(pb, timeout=timeout_s)
    datatypes = {o.name: o.datatype for o in reply.outputs}
    return {"raw": bool(reply.raw_output_contents),
            "outputs": [{"name": name, "datatype": datatypes[name], "data": values.tolist()}
                        for name, values in raw_tensors.response_columns(reply).items()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--raw", action="store_true", help="send raw tensor contents")
    parser.add_argument("request", help="a V2 request as a JSON file")
    args = parser.parse_args()
    with open(args.request) as fh:
        request = json.load(fh)
    try:
        print(json.dumps((infer_raw if args.raw else infer)(args.port, args.model, request)))
    except grpc.RpcError as err:
        print(json.dumps({"code": err.code().name, "error": err.details()}))
        sys.exit(3)


if __name__ == "__main__":
    main()
