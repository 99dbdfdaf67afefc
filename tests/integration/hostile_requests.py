"""A corpus of hostile requests for a served MDL-001 model, built from one valid V2 request: every
input dropped, mistyped or pushed past float32; broken JSON, shapes, datatypes and encodings;
bodies too big, slow or compressed into bombs; the repository API, unknown models and paths; and,
against a server with a token, every way of not carrying it. Each case says what it must get: a
200, or a 4xx with a reason. Used by tests/integration/test_serving.py; pure standard library."""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import dataclass, field

INFER = "/v2/models/mdl-001/infer"


@dataclass(frozen=True)
class Hostile:
    name: str
    body: bytes
    path: str = INFER
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    ok: bool = False  # True: the server must answer 200; False: a 4xx with a reason
    grpc: bool = True  # False: a JSON-only trap (gRPC's typed tensors cannot carry it)
    token: bool = True  # sent with the right token (where the server has one)


def _json(body) -> bytes:
    return json.dumps(body).encode()


def _with(base: dict, name: str, **changes) -> dict:
    """A copy of the request whose input `name` has its fields replaced."""
    body = copy.deepcopy(base)
    for inp in body["inputs"]:
        if inp["name"] == name:
            inp.update(changes)
    return body


def per_input(base: dict, numeric: list[str]) -> list[Hostile]:
    """Each input missing, sent with the wrong datatype, and (numbers) beyond float32 or NaN-like."""
    cases = []
    n = len(base["inputs"][0]["data"])
    for inp in base["inputs"]:
        name = inp["name"]
        without = copy.deepcopy(base)
        without["inputs"] = [i for i in without["inputs"] if i["name"] != name]
        if name != "message_id":  # the id is optional: the request stays valid
            cases.append(Hostile(f"missing {name}", _json(without)))
        if name in numeric:
            cases.append(Hostile(f"{name} beyond float32", _json(_with(base, name, data=[3.5e38 * 10] * n))))
            cases.append(Hostile(f"{name} as text", _json(_with(base, name, datatype="BYTES", data=["abc"] * n))))
        else:
            cases.append(Hostile(f"{name} as numbers", _json(_with(base, name, datatype="FP64", data=[1.0] * n))))
    return cases


def structure(base: dict) -> list[Hostile]:
    """Bodies that are not a V2 request, or not JSON at all."""
    first = base["inputs"][0]
    deep = "[" * 100_000 + "]" * 100_000
    bodies = {
        "not json": b"{not json", "empty body": b"", "json null": b"null", "json number": b"42",
        "json string": b'"infer"', "json array": b"[]", "empty object": b"{}", "inputs null": b'{"inputs": null}',
        "inputs an object": b'{"inputs": {"a": 1}}', "inputs of numbers": b'{"inputs": [1, 2]}',
        "no inputs": b'{"inputs": []}', "truncated json": _json(base)[:-40], "trailing garbage": _json(base) + b"}}",
        "invalid utf-8": b'{"inputs": [{"name": "\xff\xfe", "shape": [1], "datatype": "FP64", "data": [1]}]}',
        "utf-8 bom": b"\xef\xbb\xbf" + _json(base), "deeply nested arrays": deep.encode(),
        "deeply nested objects": ('{"a":' * 50_000 + "1" + "}" * 50_000).encode(),
        "deeply nested data": _json(_with(base, first["name"], data=json.loads("[" * 500 + "1" + "]" * 500))),
        "input without name": _json({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}),
        "input without data": _json({"inputs": [{**first, "data": None}]}),
        "parameters not an object": _json({**base, "parameters": [1, 2]}),
        "id an object": _json({**base, "id": {"a": 1}}),
        "unknown output": _json({**base, "outputs": [{"name": "no-such-output"}]}),
        "a million-character name": _json({"inputs": [{**first, "name": "x" * 1_000_000}]}),
        "input named twice": _json({"inputs": [*base["inputs"], base["inputs"][0]]}),
    }
    # accepted on purpose: the runtime decodes each input by its datatype, so a request-level
    # content type is a hint it does not need
    hints = {"unknown request content type": "no-such-codec", "pandas request content type": "pd"}
    return [*(Hostile(name, body) for name, body in bodies.items()),
            *(Hostile(name, _json({**base, "parameters": {"content_type": hint}}), ok=True) for name, hint in hints.items())]


def shapes_and_types(base: dict, numeric: list[str], text: str) -> list[Hostile]:
    """Shapes that disagree with the data, datatypes that do not exist or do not fit."""
    num = numeric[0]
    n = len(base["inputs"][0]["data"])
    variants = {
        "negative shape": dict(shape=[-n]), "zero shape": dict(shape=[0]), "shape too big": dict(shape=[10**18]),
"two-dimensional shape": dict(shape=[n, 2]), "shape null": dict(shape=None),
        "unknown datatype": dict(datatype="FP128"), "lowercase datatype": dict(datatype="fp64"),
        "bool datatype": dict(datatype="BOOL"), "fractional int": dict(datatype="INT64", data=[1.7] * n),
        "negative uint": dict(datatype="UINT8", data=[-1] * n), "int beyond int64": dict(datatype="INT64", data=[2**70] * n),
        "fp16 beyond range": dict(datatype="FP16", data=[1e6] * n), "nan as text": dict(data=["NaN"] * n),
        "nan literal": dict(data=[float("nan")] * n), "infinity literal": dict(data=[float("-inf")] * n),
        "infinity as text": dict(data=["Infinity"] * n), "nulls": dict(data=[None] * n),
        "booleans": dict(data=[True] * n), "objects": dict(data=[{"a": 1}] * n), "one value short": dict(data=[1.0] * (n - 1)),
        "data a string": dict(data="1,2,3"), "data an object": dict(data={"a": 1}),
    }
    cases = [Hostile(f"{num}: {label}", _json(_with(base, num, **change)), grpc=label != "booleans")
             for label, change in variants.items()]
    # accepted on purpose: the request model reads a numeric string as the number, and an unknown
    # category (even with a NUL in it) is what the model's unknown-category handling is for
    cases += [Hostile(f"{num}: shape as a numeric string", _json(_with(base, num, shape=[str(n)])), ok=True),
              Hostile(f"{text}: text with nul", _json(_with(base, text, data=["gmail\x00.com"] * n)), ok=True)]
    texts = {"text of numbers": dict(data=[1, 2, 3][:n] + [4] * max(0, n - 3)), "text nulls": dict(data=[None] * n),
             "text a megabyte long": dict(data=["g" * 2**20] * n), "text with a lone surrogate": dict(data=["\ud800"] * n),
             "text as int datatype": dict(datatype="INT32")}
    cases += [Hostile(f"{text}: {label}", _json(_with(base, text, **change))) for label, change in texts.items()]
    return cases


def transport(base: dict, max_body: int) -> list[Hostile]:
    """Encodings, sizes, methods and content types."""
    body = _json(base)
    bomb = gzip.compress(b" " * (max_body * 8), compresslevel=9)
    return [
        Hostile("gzip bomb", bomb, headers={"content-encoding": "gzip"}),
        Hostile("gzip of garbage", b"\x1f\x8b" + b"\x00" * 64, headers={"content-encoding": "gzip"}),
        Hostile("truncated gzip", gzip.compress(body)[:-20], headers={"content-encoding": "gzip"}),
        Hostile("brotli", body, headers={"content-encoding": "br"}),
        Hostile("two encodings", gzip.compress(body), headers={"content-encoding": "gzip, gzip"}),
        Hostile("body over the limit", b" " * (max_body + 1)),
        Hostile("text/plain body", body, headers={"content-type": "text/plain"}),
        Hostile("get on infer", b"", method="GET"), Hostile("put on infer", body, method="PUT"),
        Hostile("delete on infer", b"", method="DELETE"),
        Hostile("valid gzip request", gzip.compress(body), headers={"content-encoding": "gzip"}, ok=True),
        Hostile("valid request", body, ok=True),
    ]


def paths(base: dict) -> list[Hostile]:
    """The repository API, models that are not served, and odd paths."""
    body = _json(base)
    repo = [("repository index", "/v2/repository/index", b"{}"),
            ("repository load", "/v2/repository/models/mdl-001/load", b""),
            ("repository unload", "/v2/repository/models/mdl-001/unload", b""),
            ("repository unload of another", "/v2/repository/models/mdl-001-v1/unload", b""),
            ("repository load of a path", "/v2/repository/models/..%2F..%2Fetc/load", b"")]
    cases = [Hostile(name, data, path=path) for name, path, data in repo]
    odd = {"unknown model": "/v2/models/no-such-model/infer", "unknown version": "/v2/models/mdl-001/versions/999/infer",
           "traversal": "/v2/models/../repository/models/mdl-001/unload", "encoded traversal": "/v2/models/%2e%2e%2finfer",
           "nul in name": "/v2/models/mdl%00001/infer", "very long name": "/v2/models/" + "m" * 5000 + "/infer",
           "unknown route": "/v2/nothing", "root": "/"}
    cases += [Hostile(name, body, path=path) for name, path in odd.items()]
    return cases


def unauthenticated(base: dict) -> list[Hostile]:
    """Requests without the token (used against a server that has one)."""
    body = _json(base)
    header_sets = {"no token": {}, "wrong token": {"authorization": "Bearer wrong"},
                   "token without bearer": {"authorization": "TOKEN"}, "basic auth": {"authorization": "Basic dXNlcjpwYXNz"},
                   "empty bearer": {"authorization": "Bearer "}, "token in another header": {"x-token": "TOKEN"}}
    where = {"infer": INFER, "metadata": "/v2/models/mdl-001", "model ready": "/v2/models/mdl-001/ready",
             "repository index": "/v2/repository/index", "server metadata": "/v2"}
    return [Hostile(f"{label} on {what}", body, path=path, method="GET" if what in ("metadata", "model ready", "server metadata") else "POST",
                    headers=headers, token=False)
            for label, headers in header_sets.items() for what, path in where.items()]


def corpus(base: dict, numeric: list[str], text: str, max_body: int) -> list[Hostile]:
    return [*per_input(base, numeric), *structure(base), *shapes_and_types(base, numeric, text),
            *transport(base, max_body), *paths(base), *unauthenticated(base)]


def grpc_cases(cases: list[Hostile]) -> list[dict]:
    """The corpus's inference requests that are JSON, for tests/integration/grpc_hostile.py."""
    out = []
    for case in cases:
        if case.path != INFER or case.method != "POST" or case.headers or not case.token or not case.grpc:
            continue
        try:
            request = json.loads(case.body.decode("utf-8"))
        except (ValueError, RecursionError):
            continue
        if isinstance(request, dict):
            out.append({"name": case.name, "request": request, "ok": case.ok})
    return out
