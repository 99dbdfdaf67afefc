"""The platform's Great Expectations validation: a row's reason is the first expectation it
breaks, checks found before the suite win, and a suite that cannot run says so."""

from __future__ import annotations

import pyarrow as pa
import pytest

from adaptive_delivery.platform import expectations as gxs

SUITE = gxs.Suite(name="orders", expectations=[
    *gxs.not_null("order_id"),
    gxs.at_least("items", 0),
    gxs.not_above("items", "capacity"),
    gxs.in_set("colour", ("red", "blue")),
])


@pytest.fixture(scope="module")
def validator(tmp_path_factory):
    return gxs.ExpectationsValidator(tmp_path_factory.mktemp("gx"), {"orders": SUITE}, docs=False)


def _table(**columns) -> pa.Table:
    return pa.table(columns)


def test_each_row_gets_the_first_expectation_it_breaks(validator):
    table = _table(order_id=["a", None, "c", "d", "e"], items=[1, 2, -3, 9, 1], capacity=[5, 5, 5, 4, 5],
                   colour=["red", "green", "green", "blue", "blue"])
    result = validator.validate("orders", table)
    assert result.valid.column("order_id").to_pylist() == ["a", "e"]
    assert result.quarantined.column("quarantine_reason").to_pylist() == [
        "missing order_id", "items below 0", "items above capacity"]
    assert not validator.index.exists(), "docs off: no site written"


def test_prior_checks_take_precedence_and_nothing_is_lost(validator):
    table = _table(order_id=["a", "b", "c"], items=[1, -1, 2], capacity=[3, 3, 3], colour=["red", "red", "pink"])
    prior = lambda t: __import__("numpy").array(["seen before", None, None], dtype=object)  # noqa: E731
    result = validator.validate("orders", table, prior=prior)
    reasons = dict(zip(result.quarantined.column("order_id").to_pylist(),
                       result.quarantined.column("quarantine_reason").to_pylist(), strict=True))
    assert reasons == {"a": "seen before", "b": "items below 0", "c": "colour not in ['red', 'blue']"}
    assert result.valid.num_rows + result.quarantined.num_rows == table.num_rows


def test_an_expectation_that_cannot_run_is_an_error_not_a_pass(tmp_path):
    broken = gxs.Suite(name="broken", expectations=[gxs.at_least("no_such_column", 0)])
    validator = gxs.ExpectationsValidator(tmp_path, {"orders": broken}, docs=False)
    with pytest.raises(RuntimeError, match="could not run"):
        validator.validate("orders", _table(order_id=["a"]))
