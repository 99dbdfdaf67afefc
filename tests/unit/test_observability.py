"""Models see only what a real sender sees: every served input of every model names where a sender
reads it, and none carries the name of something only the twin knows; the policies' observations
are their served inputs; and the check itself catches an input taken from the truth."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from adaptive_delivery.platform.observability import SOURCES
from adaptive_delivery.platform.spec import all_specs
from adaptive_delivery.twin.truth import truth_names


def violations(inputs: Mapping[str, str], truth: frozenset[str]) -> list[str]:
    """What is wrong with a model's served inputs: an unknown source, or a name from the truth
    (Feast columns are checked by their feature name, `view__feature`)."""
    out = []
    for name, source in inputs.items():
        if source not in SOURCES:
            out.append(f"{name}: unknown source {source!r}")
        if name.split("__")[-1] in truth:
            out.append(f"{name}: a name of the twin's hidden truth")
    return out


@pytest.fixture(scope="module")
def truth(tiny_world) -> frozenset[str]:
    names = truth_names(tiny_world / "truth")
    assert {"true_class", "p_inbox", "hourly_limit", "reputation", "base_limit_per_hour"} <= names
    return names


def test_every_served_model_declares_where_each_input_comes_from_and_none_is_truth(truth):
    served = [s for s in all_specs() if s.runtime]
    assert {s.model_id for s in served} >= {"MDL-001", "MDL-003", "MDL-009"}
    for spec in served:
        assert spec.served_inputs, f"{spec.model_id} serves without declaring its inputs"
        assert violations(spec.served_inputs, truth) == [], spec.model_id


def test_the_declarations_are_what_the_runtimes_require():
    from adaptive_delivery.delivery.models.mdl001_deliverability.model import FEATURES
    from adaptive_delivery.delivery.models.mdl003_throttle import service as throttle
    from adaptive_delivery.delivery.models.mdl009_warmup import service as warmup
    from adaptive_delivery.platform.spec import get

    assert list(get("MDL-001").served_inputs) == FEATURES
    assert list(get("MDL-003").served_inputs) == ["provider", *throttle.REQUIRED]
    assert list(get("MDL-009").served_inputs) == list(warmup.REQUIRED)


def test_the_policies_observe_only_their_served_inputs(truth):
    from adaptive_delivery.delivery.models.mdl003_throttle.features import (
        FEATURE_NAMES as THROTTLE_FEATURES,
    )
    from adaptive_delivery.delivery.models.mdl009_warmup.plan import (
        FEATURE_NAMES as WARMUP_FEATURES,
    )
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.twin.envs import ThrottleEnv

    assert set(ThrottleEnv.OBS_NAMES) <= set(get("MDL-003").served_inputs)
    for name in (*THROTTLE_FEATURES, *WARMUP_FEATURES):
        assert name not in truth, name


def test_the_check_catches_an_input_taken_from_the_truth(truth):
    assert violations({"reputation": "mta"}, truth) == ["reputation: a name of the twin's hidden truth"]
    assert violations({"sender_ip_features__hourly_limit": "feature_store"}, truth)
    assert violations({"queue_depth": "telepathy"}, truth) == ["queue_depth: unknown source 'telepathy'"]
    assert violations({"postmaster_reputation": "feed", "queue_depth": "mta"}, truth) == []


def test_a_spec_that_names_no_known_source_is_refused_when_it_registers():
    from dataclasses import replace

    from adaptive_delivery.platform.spec import get, register

    spec = get("MKT-002")
    hidden = replace(spec, model_id="MKT-999", served_inputs={**spec.served_inputs, "true_cvr": "the_twin"})
    with pytest.raises(ValueError, match="true_cvr: 'the_twin'"):
        register(hidden)
