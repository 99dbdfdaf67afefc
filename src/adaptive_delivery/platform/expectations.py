"""Great Expectations as a lake's validation: a product declares each event kind's expectations,
every batch is validated against them, each row that breaks one is quarantined with the first
expectation it breaks as its reason, every validation's result is kept in the project's store,
and the report is Great Expectations' Data Docs (the suite's page, a page per batch that broke an
expectation, an index; `publish_all` renders the clean batches too).

The Great Expectations project lives beside the lake it checks (`<lake>/_expectations/gx`), so
the lake's quarantine, ledger and validation report travel together. A batch's rows reach the
suite as a pandas frame in their order, so the index of a row an expectation lists as unexpected
is its position in the batch.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from adaptive_delivery.platform.lake import ValidationResult, split_by_reason

FOLDER = "_expectations"


@dataclass(frozen=True)
class Expectation:
    """One Great Expectations expectation (`kind`: its class name in `great_expectations.expectations`,
    `args`: its arguments) and the reason a row that breaks it is quarantined with."""

    kind: str
    args: Mapping[str, Any]
    reason: str


@dataclass(frozen=True)
class Suite:
    """A kind's expectations, in the order a row's reason is chosen (the first it breaks)."""

    name: str
    expectations: Sequence[Expectation]
    meta: Mapping[str, str] = field(default_factory=dict)


def not_null(*columns: str) -> list[Expectation]:
    return [Expectation("ExpectColumnValuesToNotBeNull", {"column": c}, f"missing {c}") for c in columns]


def in_set(column: str, allowed: Sequence[str]) -> Expectation:
    return Expectation("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(allowed)},
                       f"{column} not in {list(allowed)}")


def at_least(column: str, low: float, high: float | None = None) -> Expectation:
    what = f"{column} below {low:g}" if high is None else f"{column} outside {low:g}..{high:g}"
    return Expectation("ExpectColumnValuesToBeBetween", {"column": column, "min_value": low, "max_value": high}, what)


def not_above(column: str, bound: str) -> Expectation:
    """`column` <= `bound` where both are known (a click without an impression is a broken report)."""
    return Expectation("ExpectColumnPairValuesAToBeGreaterThanB",
                       {"column_A": bound, "column_B": column, "or_equal": True,
                        "ignore_row_if": "either_value_is_missing"}, f"{column} above {bound}")


def longest(column: str, chars: int) -> Expectation:
    return Expectation("ExpectColumnValueLengthsToBeBetween", {"column": column, "max_value": chars},
                       f"{column} longer than {chars} characters")


def data_docs_index(root: str | Path) -> Path:
    """The front page of the Data Docs of the project kept beside the lake at `root` (the suites,
    the batches that broke an expectation, and any `publish_all` rendered)."""
    return Path(root) / FOLDER / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _great_expectations():
    """The library, imported. It imports PySpark's Connect module to know its types, and that module
    exits the interpreter when `__main__` is neither a file nor a module (it takes the interpreter
    for its doctest runner): so do pytest-xdist's workers and embedded interpreters. `__main__`
    is given a name for the import."""
    main = sys.modules.get("__main__")
    unnamed = main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    if unnamed:
        main.__file__ = "<embedded>"
    try:
        import great_expectations
    finally:
        if unnamed:
            del main.__file__
    return great_expectations


def _raised(info: Mapping[str, Any] | None) -> str | None:
    """The message of an exception an expectation's run raised, if any (its info is flat, or one
    entry per metric it computed)."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, Mapping)]
    return next((str(e.get("exception_message")) for e in entries if e.get("raised_exception")), None)


class ExpectationsValidator:
    """Validates tables of a product's kinds against their suites in one Great Expectations project,
    publishing Data Docs as it goes. Built on first use: the library takes seconds to import."""

    def __init__(self, root: str | Path, suites: Mapping[str, Suite], docs: bool = True) -> None:
        self.root, self.suites, self.docs = Path(root) / FOLDER, dict(suites), docs
        self._lock = threading.Lock()

    @functools.cached_property
    def _context(self):
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        gx = _great_expectations()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="file", project_root_dir=str(self.root))
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        return context

    @functools.cache  # noqa: B019 - one checkpoint per kind for the validator's life
    def _checkpoint(self, kind: str):
        gx = _great_expectations()
        from great_expectations import expectations as gxe

        context, suite = self._context, self.suites[kind]
        source = context.data_sources.add_or_update_pandas(name=f"{suite.name}_source")
        asset = next((a for a in source.assets if a.name == kind), None) or source.add_dataframe_asset(kind)
        batch = next((b for b in asset.batch_definitions if b.name == "batch"), None) or \
            asset.add_batch_definition_whole_dataframe("batch")
        expectations = gx.ExpectationSuite(name=suite.name, meta=dict(suite.meta))
        for e in suite.expectations:
            expectations.add_expectation(getattr(gxe, e.kind)(**e.args, meta={"reason": e.reason}))
        expectations = context.suites.add_or_update(expectations)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=expectations))
        return context.checkpoints.add_or_update(gx.Checkpoint(
            name=suite.name, validation_definitions=[definition], actions=[],
            result_format={"result_format": "COMPLETE"}))

    def reasons(self, kind: str, table: pa.Table) -> np.ndarray:
        """Per row, the reason of the first expectation it breaks (None: it breaks none)."""
        reasons = np.full(table.num_rows, None, dtype=object)
        if not table.num_rows:
            return reasons
        frame = table.to_pandas()  # a fresh RangeIndex: an unexpected index is a row's position
        with self._lock:  # Great Expectations' stores are not safe to write from two threads
            run = self._checkpoint(kind).run(batch_parameters={"dataframe": frame})
            if self.docs and (not run.success or not self.index.exists()):
                self._publish([key for key, v in run.run_results.items() if not v.success])
        order = {e.reason: k for k, e in enumerate(self.suites[kind].expectations)}
        results = [r for v in run.run_results.values() for r in v.results]
        for r in sorted(results, key=lambda r: -order[r.expectation_config.meta["reason"]]):
            if not r.success:  # the earliest expectation's reason is written last and wins
                error = _raised(r.exception_info)
                if error is not None:  # a failure to compute is not a verdict on the rows
                    raise RuntimeError(f"{kind}: {r.expectation_config.type} could not run: {error}")
                rows = r.result.get("unexpected_index_list") or []
                reasons[np.asarray(rows, dtype=int)] = r.expectation_config.meta["reason"]
        return reasons

    def _publish(self, failed: list) -> None:
        """The Data Docs pages of the failed validations, the suites' pages and the index. Every
        validation's result is kept in the project's store (the ledger counts it too); a page is
        rendered for a batch that quarantined rows, so a consumer that runs for months does not
        re-render its report for every clean batch (`publish_all` renders them all)."""
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        suites = [ExpectationSuiteIdentifier(name=s.name) for s in self.suites.values()]
        self._context.build_data_docs(resource_identifiers=[*suites, *failed])

    def publish_all(self) -> Path:
        """Render every validation kept in the store, clean ones too; the site's front page."""
        with self._lock:
            self._context.build_data_docs()
        return self.index

    def validate(self, kind: str, table: pa.Table,
                 prior: Callable[[pa.Table], np.ndarray] | None = None) -> ValidationResult:
        """Split a table into valid and quarantined rows; `prior` gives reasons found before the
        suite runs (a check no expectation states, such as a key repeated within the batch), which
        take precedence."""
        reasons = self.reasons(kind, table)
        if prior is not None:
            first = prior(table)
            reasons = np.where(first != None, first, reasons)  # noqa: E711 - elementwise on object arrays
        return split_by_reason(table, reasons, kind)

    @property
    def index(self) -> Path:
        return data_docs_index(self.root.parent)
