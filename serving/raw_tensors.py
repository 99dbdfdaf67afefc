"""Open Inference Protocol (V2) raw tensor contents, both sides: a gRPC request whose inputs travel
as `raw_input_contents` (numbers as little-endian arrays, text as 4-byte little-endian lengths
before each value) and its answer's `raw_output_contents`, so a batch of 1,000 messages costs no
per-value protobuf or JSON work.

`install()` gives MLServer (1.7) the same wire format at numpy speed: its own `mlserver.raw` packs
and unpacks with `struct` one value at a time (2-3 ms for a 1,000-message decision). The bytes on
the wire are identical; `tests/unit/test_raw_tensors.py` checks both against MLServer's own.
Runs in the serving environment (MLServer's protobufs).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import numpy as np

NUMPY_OF = {"BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "INT8": "<i1",
            "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
DATATYPE_OF = {np.dtype(v).kind + str(np.dtype(v).itemsize): k for k, v in NUMPY_OF.items()}


def pack_text(values: Sequence[str | bytes]) -> bytes:
    """BYTES contents: each value's UTF-8 bytes after its length (a repeated value is encoded once)."""
    done: dict[str | bytes, bytes] = {}
    parts = []
    for v in values:
        part = done.get(v)
        if part is None:
            raw = v.encode() if isinstance(v, str) else bytes(v)
            part = done[v] = len(raw).to_bytes(4, "little") + raw
        parts.append(part)
    return b"".join(parts)


_LENGTH = struct.Struct("<I")


def unpack_text(raw: bytes) -> list[bytes]:
    """The values of BYTES contents; ValueError where a length runs past the end."""
    return _split(raw, raw)


def unpack_ascii(raw: bytes) -> list[str]:
    """`unpack_text` for contents that are all ASCII (every length under 128 and every value
    ASCII), as str: one decode of the whole buffer, cut at C speed where it can be (`_cut`), else
    value by value."""
    text = raw.decode("ascii")
    values = _cut(raw, text)
    return _split(raw, text) if values is None else values


_SEPARATOR = "\x00\x00\x00"  # the three high bytes of a length under 128


def _cut(raw: bytes, text: str) -> list[str] | None:
    """ASCII contents split on the length's zero bytes (`str.split`, no Python step per value),
    then proved to be the value-by-value parse: every value sits right after a 4-byte
    little-endian length equal to its own, and the values tile the buffer (by induction from
    offset 0, the walk `_split` takes). None where it is not (an empty value, or one holding
    three NULs): the caller walks the contents then."""
    parts = text.split(_SEPARATOR)
    if len(parts) < 2 or len(parts[0]) != 1:
        return None
    # parts: [length 0, value 0 + length 1, …, value n-2 + length n-1, value n-1]
    values = [part[:-1] for part in parts[1:-1]]
    values.append(parts[-1])
    sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    ends = np.cumsum(sizes + 4)
    if ends[-1] != len(raw):
        return None
    heads = ends - sizes - 4  # where each value's length starts
    buffer = np.frombuffer(raw, dtype=np.uint8)
    if not (np.array_equal(buffer[heads], sizes) and not buffer[heads + 1].any()
            and not buffer[heads + 2].any() and not buffer[heads + 3].any()):
        return None
    return values


def _split(raw: bytes, source: bytes | str) -> list:
    """The values of BYTES contents, sliced from `source` (`raw` itself, or its decoded text)."""
    out, at, end = [], 0, len(raw)
    length, append = _LENGTH.unpack_from, out.append
    while at < end:
        if at + 4 > end:
            raise ValueError("BYTES contents end inside a value")
        (size,) = length(raw, at)
        at += 4
        if at + size > end:
            raise ValueError("BYTES contents end inside a value")
        append(source[at:at + size])
        at += size
    return out


def pack_array(values: np.ndarray | Sequence, datatype: str) -> bytes:
    """Numeric contents as the little-endian array V2 prescribes."""
    return np.ascontiguousarray(np.asarray(values, dtype=NUMPY_OF[datatype])).tobytes()


def datatype_of(values: np.ndarray) -> str:
    """The V2 datatype of an array (text of any numpy kind is BYTES)."""
    if values.dtype.kind in "OUS":
        return "BYTES"
    return "BOOL" if values.dtype.kind == "b" else DATATYPE_OF[values.dtype.kind + str(values.dtype.itemsize)]


def infer_request(model: str, columns: Mapping[str, np.ndarray | Sequence], outputs: Sequence[str] = ()):
    """A gRPC ModelInferRequest with one raw input per column (shape [n])."""
    from mlserver.grpc import dataplane_pb2 as pb

    request = pb.ModelInferRequest(model_name=model)
    for name, values in columns.items():
        values = np.asarray(values)
        datatype = datatype_of(values)
        request.inputs.add(name=name, datatype=datatype, shape=[len(values)])
        request.raw_input_contents.append(pack_text(values.tolist()) if datatype == "BYTES"
                                          else pack_array(values, datatype))
    for name in outputs:
        request.outputs.add(name=name)
    return request


def response_columns(reply) -> dict[str, np.ndarray]:
    """A ModelInferResponse's outputs as arrays (text decoded), raw or typed."""
    from mlserver.grpc.converters import ModelInferResponseConverter

    if not reply.raw_output_contents:
        typed = ModelInferResponseConverter.to_types(reply)
        return {o.name: np.asarray(o.data.root if hasattr(o.data, "root") else o.data) for o in typed.outputs}
    out = {}
    for output, raw in zip(reply.outputs, reply.raw_output_contents, strict=True):
        if output.datatype == "BYTES":
            text = unpack_ascii(raw) if raw.isascii() else [v.decode() for v in unpack_text(raw)]
            column = np.empty(len(text), dtype=object)
            column[:] = text
            out[output.name] = column
        else:
            out[output.name] = np.frombuffer(raw, dtype=NUMPY_OF[output.datatype])
    return out


def _data(elem) -> list:
    data = getattr(elem.data, "root", elem.data)
    return data if isinstance(data, list) else list(data)


def _pack(elem) -> bytes:
    """`mlserver.raw.pack` at numpy speed (same bytes)."""
    return pack_text(_data(elem)) if elem.datatype == "BYTES" else pack_array(_data(elem), elem.datatype)


def _unpack(elem, raw: bytes) -> list | np.ndarray:
    """`mlserver.raw.unpack` at numpy speed (same values): numbers stay one read-only array (no
    Python float per value; `platform.serving.decode_input` takes it as it is), text a list (of str
    when the contents are ASCII, of bytes otherwise). Text
    that does not parse into as many values as the shape says is refused here, where it is parsed
    once (HTTP 400 / gRPC INVALID_ARGUMENT); the serving guard checks the numbers' lengths."""
    if elem.datatype != "BYTES":
        return np.frombuffer(raw, dtype=NUMPY_OF[elem.datatype])
    from mlserver.errors import MLServerError

    expected = int(np.prod(elem.shape, dtype=object))
    try:
        values = unpack_ascii(raw) if raw.isascii() else unpack_text(raw)  # str straight away where it can
    except ValueError as exc:
        raise MLServerError(f"raw contents of input {elem.name!r} do not parse: {exc}") from exc
    if len(values) != expected:
        raise MLServerError(f"raw contents of input {elem.name!r} hold {len(values)} BYTES values "
                            f"for shape {list(elem.shape)}")
    return values


def install() -> None:
    """Make MLServer pack and unpack raw contents with `_pack` / `_unpack`; before it starts."""
    import mlserver.raw

    mlserver.raw.pack, mlserver.raw.unpack = _pack, _unpack
