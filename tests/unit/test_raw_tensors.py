"""Raw V2 tensor contents packed at numpy speed (`serving.raw_tensors`): they round-trip, refuse
truncated text (and, in the server, text that disagrees with its shape), and are the very bytes MLServer's own `mlserver.raw` writes and reads, for every
datatype (checked in the serving environment, where MLServer lives)."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving import raw_tensors as rt

REPO = Path(__file__).resolve().parents[2]
SERVING_PYTHON = REPO / ".venv-serving" / "bin" / "python"


@given(st.lists(st.text(max_size=20) | st.binary(max_size=20), max_size=50))
def test_text_round_trips(values):
    expected = [v.encode() if isinstance(v, str) else v for v in values]
    assert rt.unpack_text(rt.pack_text(values)) == expected


@given(st.lists(st.text(alphabet=st.characters(max_codepoint=127), max_size=130), max_size=50))
def test_ascii_text_reads_as_the_same_strings(values):
    raw = rt.pack_text(values)
    if raw.isascii():  # every length under 128 too: what the server reads this way
        assert rt.unpack_ascii(raw) == [v.decode() for v in rt.unpack_text(raw)] == values


@given(st.lists(st.floats(width=64), max_size=50))
def test_numbers_are_little_endian_arrays(values):
    packed = rt.pack_array(values, "FP64")
    assert len(packed) == 8 * len(values)
    assert np.array_equal(np.frombuffer(packed, "<f8"), np.asarray(values, dtype=float), equal_nan=True)


def test_truncated_text_is_refused():
    with pytest.raises(ValueError, match="end inside a value"):
        rt.unpack_text((10).to_bytes(4, "little") + b"abc")


SAME_AS_MLSERVER = r"""
import numpy as np, mlserver.raw as mr
from mlserver.types import ResponseOutput
from serving import raw_tensors as rt
rng = np.random.default_rng(0)
cases = [("BYTES", [b"", "é".encode(), b"a" * 300] + [str(v) for v in rng.integers(0, 50, 200)])]
cases += [(d, rng.normal(size=100).astype(t).tolist()) for d, t in (("FP64", "f8"), ("FP32", "f4"), ("FP16", "f2"))]
cases += [(d, rng.integers(0, 100, 100).astype(t).tolist()) for d, t in (("INT64", "i8"), ("INT32", "i4"),
          ("INT16", "i2"), ("INT8", "i1"), ("UINT64", "u8"), ("UINT32", "u4"), ("UINT16", "u2"), ("UINT8", "u1"))]
cases += [("BOOL", [True, False, True]), ("FP64", [])]
for datatype, values in cases:
    elem = ResponseOutput(name="x", shape=[len(values)], datatype=datatype, data=values)
    packed = mr.pack(elem)
    assert rt._pack(elem) == packed, datatype
    assert np.asarray(rt._unpack(elem, packed)).tolist() == mr.unpack(elem, packed), datatype
request = rt.infer_request("m", {"id": np.array(["a", "b"], dtype=object), "ts": np.array([1, 2])})
assert [(i.name, i.datatype, list(i.shape)) for i in request.inputs] == [("id", "BYTES", [2]), ("ts", "INT64", [2])]
from mlserver.errors import MLServerError
short = ResponseOutput(name="k", shape=[3], datatype="BYTES", data=[])
for raw in (rt.pack_text(["a", "b"]), rt.pack_text(["a", "b", "c"])[:-1], b"\x01\x00"):
    try:
        rt._unpack(short, raw)
        raise SystemExit("text that disagrees with its shape was accepted")
    except MLServerError as exc:  # HTTP 400, gRPC INVALID_ARGUMENT
        assert exc.status_code == 400 and "'k'" in str(exc), exc
print("same", len(cases))
"""


@pytest.mark.skipif(not SERVING_PYTHON.exists(), reason="the serving environment is not built (make serving-env)")
def test_the_bytes_are_mlservers_own():
    done = subprocess.run([str(SERVING_PYTHON), "-c", SAME_AS_MLSERVER], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["same", "14"]  # every datatype, empty and non-ASCII included


@given(st.lists(st.text(alphabet=st.sampled_from("ab\x00\x03-"), max_size=8), max_size=30))
def test_ascii_cut_at_c_speed_is_the_value_by_value_parse(values):
    """Empty values and NULs inside values are where splitting on the lengths' zero bytes could
    go wrong: the fast cut either proves itself equal to the walk or steps aside."""
    raw = rt.pack_text(values)
    cut = rt._cut(raw, raw.decode("ascii"))
    assert cut is None or cut == values
    assert rt.unpack_ascii(raw) == values
    if values and all(v and "\x00" not in v for v in values):
        assert cut == values  # the common case takes the fast cut
