"""The request contract every served model shares, independent of the server that carries it: a
batch of named input columns of one length. Anything a caller must fix raises RequestError with a
message that says what; the serving runtimes map it to HTTP 400 / gRPC INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class RequestError(ValueError):
    """The request is malformed; the message says what to fix."""


def batch_size(columns: Mapping[str, Sequence | np.ndarray], max_batch: int) -> int:
    """The number of rows in a request whose inputs all have it, between 1 and `max_batch`."""
    if not columns:
        raise RequestError("the request has no inputs")
    lengths = {name: len(values) for name, values in columns.items()}
    sizes = set(lengths.values())
    if len(sizes) != 1:
        raise RequestError(f"inputs have different lengths: {dict(sorted(lengths.items()))}")
    n = sizes.pop()
    if n == 0:
        raise RequestError("the batch is empty")
    if n > max_batch:
        raise RequestError(f"batch of {n} messages exceeds the limit of {max_batch}; split it")
    return n
