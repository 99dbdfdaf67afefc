"""What every process of ours does before it imports anything heavy.

Feast decorates its classes with typeguard's `@typechecked`, which fetches each method's source,
rewrites it and compiles it again at import time: `import feast` took 6.6 s, 3.0 s without it
(each Airflow task, pipeline step and server that opens the store pays it; cProfile shows the time in
`compile` and the `ast` walks).
typeguard skips that instrumentation under `python -O`; we skip it the same way in our processes,
by making `typechecked` hand back what it decorates before Feast is imported. Nothing else here
uses typeguard; Feast's own validation of its objects is untouched.
"""

from __future__ import annotations

import sys
from typing import Any


def _passthrough(target: Any = None, **_options: Any) -> Any:
    """`typechecked` as under `python -O`: the target itself (or, called with options, a decorator
    that returns its target)."""
    if target is None:
        return lambda later: later
    return target


def skip_feast_import_instrumentation() -> None:
    """Make typeguard's decorator a pass-through, once, before Feast is imported."""
    if "feast" in sys.modules:
        return  # already imported, and instrumented: nothing to gain
    try:
        import typeguard
    except ImportError:  # an environment without Feast (or typeguard) has nothing to skip
        return
    typeguard.typechecked = _passthrough
