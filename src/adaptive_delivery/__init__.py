"""Adaptive Delivery."""

from adaptive_delivery._startup import skip_feast_import_instrumentation

skip_feast_import_instrumentation()
