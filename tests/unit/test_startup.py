"""What every process of ours does first: Feast imported without typeguard's import-time rewriting
of its classes (`import feast`: 6.6 s, 3.0 s without it)."""

from __future__ import annotations


def test_feast_takes_the_pass_through_decorator_and_its_methods_run_unrewritten():
    import feast.feature_view
    import typeguard

    from adaptive_delivery._startup import _passthrough

    assert feast.feature_view.typechecked is _passthrough  # Feast decorates with it, and got ours
    assert "TypeCheckMemo" not in feast.FeatureView.__init__.__code__.co_names  # typeguard adds it when it rewrites

    def add_one(x: int) -> int:
        return x + 1

    assert typeguard.typechecked(add_one) is add_one
    assert typeguard.typechecked(forward_ref_policy=None)(add_one) is add_one
