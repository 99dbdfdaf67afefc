"""Hostile gRPC calls against a served MDL-001 model; runs in the serving environment (it needs
MLServer's generated stubs) as a subprocess of tests/integration/test_serving.py:

    python tests/integration/grpc_hostile.py PORT TOKEN CASES.json

CASES.json holds the REST corpus's requests that are valid V2 JSON (`hostile_requests`); each is
sent as a typed ModelInfer, and then come the calls only gRPC has: undecodable and oversized
protobufs, a gzip-compressed bomb, raw tensor contents that disagree with their shape (numbers
and text), the model
repository service, and every way of not carrying the token. Prints one JSON object per case:
{name, code, ok, details}."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import grpc
from mlserver.grpc import dataplane_pb2, model_repository_pb2
from mlserver.grpc.converters import ModelInferRequestConverter
from mlserver.types import InferenceRequest

from serving.guard import RAW_SIZES

INFER = "/inference.GRPCInferenceService/ModelInfer"
CLIENT_ERRORS = {"INVALID_ARGUMENT", "NOT_FOUND", "UNAUTHENTICATED", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                 "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNIMPLEMENTED"}


def typed(request: dict, model: str = "mdl-001") -> bytes | None:
    """The protobuf of a V2 JSON request, or None where it is not even a valid V2 request."""
    try:
        request = json.loads(json.dumps(request))  # a copy (the caller's stays JSON)
        for inp in request.get("inputs", []):  # gRPC carries BYTES tensors as bytes
            if inp.get("datatype") == "BYTES" and isinstance(inp.get("data"), list):
                inp["data"] = [v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v for v in inp["data"]]
        pb = ModelInferRequestConverter.from_types(InferenceRequest.model_validate(request), model_name=model)
        return pb.SerializeToString()
    except Exception:  # noqa: BLE001 (the client itself cannot build it: not a gRPC case)
        return None


def raw_cases(valid: dict) -> list[tuple[str, str, bytes, bool]]:
    """(name, method, serialized request, must succeed) for what only gRPC can carry."""
    good = typed(valid)
    pb = dataplane_pb2.ModelInferRequest()
    pb.ParseFromString(good)
    raw = dataplane_pb2.ModelInferRequest()
    raw.CopyFrom(pb)
    raw.raw_input_contents.append(b"\x00" * 7)  # raw contents for tensors that already hold data
    short = dataplane_pb2.ModelInferRequest()
    short.CopyFrom(pb)
    for tensor in short.inputs:
        tensor.ClearField("contents")
    short.raw_input_contents.extend([b"\x00" * 5] * len(short.inputs))  # 5 bytes for 3 FP64 values
    cases = []
    for name, cut, extra in (("raw text one value short", 1, b""), ("raw text cut inside a value", 0, b"\x09\x00\x00\x00ab"),
                             ("raw text cut inside a length", 0, b"\x09\x00")):
        text = dataplane_pb2.ModelInferRequest()
        text.CopyFrom(pb)
        for tensor in text.inputs:
            tensor.ClearField("contents")
            count = 1
            for dim in tensor.shape:
                count *= dim
            text.raw_input_contents.append(b"\x01\x00\x00\x00a" * (count - cut) + extra if tensor.datatype == "BYTES"
                                           else b"\x00" * (count * RAW_SIZES[tensor.datatype]))
        cases.append((name, INFER, text.SerializeToString(), False))
    unknown = dataplane_pb2.ModelInferRequest()
    unknown.CopyFrom(pb)
    unknown.model_name = "no-such-model"
    repo = "/inference.model_repository.ModelRepositoryService/"
    return [
        ("valid typed request", INFER, good, True),
        ("garbage protobuf", INFER, b"\xff\xfe\xfd" * 50, False),
        ("empty protobuf", INFER, b"", False),
        ("raw contents beside typed contents", INFER, raw.SerializeToString(), False),
        ("raw contents of the wrong length", INFER, short.SerializeToString(), False),
        *cases,
        ("unknown model", INFER, unknown.SerializeToString(), False),
        ("message over the limit", INFER, b"\x0a" + b"\xff\xff\xff\x14" + b"x" * (40 * 2**20), False),
        ("repository index", repo + "RepositoryIndex", model_repository_pb2.RepositoryIndexRequest().SerializeToString(), False),
        ("repository load", repo + "RepositoryModelLoad",
         model_repository_pb2.RepositoryModelLoadRequest(model_name="mdl-001").SerializeToString(), False),
        ("repository unload", repo + "RepositoryModelUnload",
         model_repository_pb2.RepositoryModelUnloadRequest(model_name="mdl-001").SerializeToString(), False),
        ("server live", "/inference.GRPCInferenceService/ServerLive",
         dataplane_pb2.ServerLiveRequest().SerializeToString(), True),
    ]


def call(channel, method: str, body: bytes, metadata, compression=None) -> tuple[str, str]:
    stub = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        stub(body, metadata=metadata, timeout=30, compression=compression)
        return "OK", ""
    except grpc.RpcError as err:
        return err.code().name, (err.details() or "")[:200]


def main(port: int, token: str, cases_file: str) -> None:
    cases = json.loads(Path(cases_file).read_text())
    valid = next(c["request"] for c in cases if c["ok"])
    auth = [("authorization", f"Bearer {token}")]
    options = [("grpc.max_send_message_length", 128 * 2**20)]
    runs: list[tuple[str, str, bytes, bool, list, object]] = []
    for case in cases:
        body = typed(case["request"])
        if body is not None:
            runs.append((case["name"], INFER, body, case["ok"], auth, None))
    for name, method, body, ok in raw_cases(valid):
        runs.append((name, method, body, ok, auth, None))
    bomb = dataplane_pb2.ModelInferRequest(model_name="mdl-001", id="z" * (64 * 2**20)).SerializeToString()
    runs.append(("gzip-compressed bomb", INFER, bomb, False, auth, grpc.Compression.Gzip))
    for label, metadata in {"no token": [], "wrong token": [("authorization", "Bearer wrong")],
                            "token without bearer": [("authorization", token)]}.items():
        for what, method, body in [("infer", INFER, typed(valid)),
                                   ("model ready", "/inference.GRPCInferenceService/ModelReady",
                                    dataplane_pb2.ModelReadyRequest(name="mdl-001").SerializeToString()),
                                   ("model metadata", "/inference.GRPCInferenceService/ModelMetadata",
                                    dataplane_pb2.ModelMetadataRequest(name="mdl-001").SerializeToString())]:
            runs.append((f"{label} on {what}", method, body, False, metadata, None))
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        for name, method, body, ok, metadata, compression in runs:
            code, details = call(channel, method, body, metadata, compression)
            print(json.dumps({"name": name, "code": code, "ok": ok, "details": details,
                              "passed": code == "OK" if ok else code in CLIENT_ERRORS}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
