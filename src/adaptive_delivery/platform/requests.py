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


def numbers(columns: Mapping[str, Sequence | np.ndarray], name: str, n: int, low: float = 0.0,
            high: float = np.inf, integer: bool = False) -> np.ndarray:
    """Input `name` as n finite floats in [low, high] (whole numbers where `integer`); RequestError
    naming the input and the range."""
    if name not in columns:
        raise RequestError(f"missing input {name!r}")
    values = np.asarray(columns[name]).reshape(-1)
    if len(values) != n:
        raise RequestError(f"input {name!r} has {len(values)} values for {n} rows")
    try:
        values = values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"input {name!r} must be numeric") from exc
    if not np.isfinite(values).all() or (values < low).any() or (values > high).any():
        bounds = f">= {low:g}" if high == np.inf else f"within [{low:g}, {high:g}]"
        raise RequestError(f"input {name!r} must be finite and {bounds}")
    if integer and (values != np.round(values)).any():
        raise RequestError(f"input {name!r} must be whole numbers")
    return values


def categories(columns: Mapping[str, Sequence | np.ndarray], name: str, n: int, levels: Sequence[str]) -> np.ndarray:
    """Input `name` as n codes into `levels` (strings or bytes in; RequestError naming any unknown)."""
    if name not in columns:
        raise RequestError(f"missing input {name!r}")
    values = [v.decode() if isinstance(v, bytes) else v for v in np.asarray(columns[name], dtype=object).reshape(-1)]
    if len(values) != n:
        raise RequestError(f"input {name!r} has {len(values)} values for {n} rows")
    index = {level: k for k, level in enumerate(levels)}
    unknown = sorted({str(v) for v in values if v not in index})
    if unknown:
        raise RequestError(f"input {name!r} has unknown values {unknown[:5]}; expected one of {list(levels)}")
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=n)


def names(columns: Mapping[str, Sequence | np.ndarray], name: str, n: int, what: str) -> np.ndarray:
    """Input `name` as n non-empty texts (strings or bytes in), stripped and lower-cased: the keys a
    row is about (a provider, a sending IP or domain); RequestError naming the input and `what` it is."""
    if name not in columns:
        raise RequestError(f"missing input {name!r} ({what})")
    values = [v.decode() if isinstance(v, bytes) else v for v in np.asarray(columns[name], dtype=object).reshape(-1)]
    if len(values) != n:
        raise RequestError(f"input {name!r} has {len(values)} values for {n} rows")
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise RequestError(f"input {name!r} must be non-empty text")
    return np.array([v.strip().lower() for v in values], dtype=object)


def take_single(columns: dict, name: str) -> object | None:
    """A request-wide input's one value (a campaign's start, a threshold), taken out of `columns`
    so the per-row inputs are left; None when the request leaves it out."""
    if name not in columns:
        return None
    values = np.asarray(columns.pop(name), dtype=object).ravel()
    if values.size != 1:
        raise RequestError(f"input {name!r} is one value for the whole request, got {values.size}")
    return values[0]


def bounded_number(value: object, name: str, low: float, high: float) -> float:
    """A single input's value as a number within [low, high]; RequestError naming the input."""
    if isinstance(value, str | bytes):
        raise RequestError(f"input {name!r} must be numeric: send a number, not text")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"input {name!r} must be numeric") from exc
    if not (np.isfinite(number) and low <= number <= high):
        raise RequestError(f"input {name!r} must be between {low:g} and {high:g}, got {value!r}")
    return number
