"""A supervised model judged over several worlds: intervals of the model, the oracle and the gap
world by world, the spec's targets, a version that is the recipe, and a run that goes on where it
stopped."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.jobs import worlds
from adaptive_delivery.platform import protocol
from adaptive_delivery.platform.spec import get

SPEC = get("MDL-001")


def _rows(model: list[float], oracle: list[float], ece: list[float]) -> pd.DataFrame:
    rows = []
    for seed, (m, o, e) in enumerate(zip(model, oracle, ece, strict=True), start=1001):
        row = {"seed": seed, **{n: np.nan for n in SPEC.metrics}, **{f"oracle_{n}": np.nan for n in SPEC.metrics}}
        row |= {"macro_roc_auc": m, "oracle_macro_roc_auc": o, "ece": e, "oracle_ece": 0.004}
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_gap_is_taken_world_by_world_and_judged_against_the_spec():
    # the worlds differ a lot, the gap hardly: the gap's interval is narrow where the model's is wide
    rows = _rows([0.70, 0.80, 0.75, 0.85, 0.78], [0.72, 0.82, 0.77, 0.87, 0.80], [0.008, 0.009, 0.007, 0.008, 0.009])
    summary = worlds.summarise(SPEC, rows)
    auc = summary["intervals"]["macro_roc_auc"]
    assert auc["gap"]["mean"] == pytest.approx(0.02) and auc["gap"]["half_width"] < 1e-9
    assert auc["model"]["half_width"] > 0.03 and auc["model"]["worlds"] == 5
    assert summary["targets"]["gap_to_oracle"]["met"] and summary["targets"]["ece"]["met"]
    assert "roc_auc_block" not in summary["intervals"]  # not measured: not reported
    worse = worlds.summarise(SPEC, _rows([0.70] * 5, [0.75] * 5, [0.02] * 5))
    assert not worse["targets"]["gap_to_oracle"]["met"] and not worse["targets"]["ece"]["met"]


def test_a_model_with_a_best_rule_reports_it_and_its_margin_world_by_world():
    spec = get("MDL-005")
    rows = pd.DataFrame([{"seed": seed, **{f"{who}{n}": np.nan for n in spec.metrics for who in ("", "oracle_", "baseline_")},
                          "open_roc_auc": m, "oracle_open_roc_auc": m + 0.06, "baseline_open_roc_auc": m - 0.004}
                         for seed, m in zip(range(1001, 1006), [0.70, 0.74, 0.72, 0.76, 0.71], strict=True)])
    found = worlds.summarise(spec, rows)["intervals"]["open_roc_auc"]
    assert found["baseline"]["mean"] == pytest.approx(0.722, abs=1e-9)
    assert found["over_baseline"]["mean"] == pytest.approx(0.004) and found["over_baseline"]["half_width"] < 1e-9
    assert "baseline" not in worlds.summarise(SPEC, _rows([0.7] * 3, [0.8] * 3, [0.01] * 3))["intervals"]["macro_roc_auc"]


def test_a_version_is_the_recipe_and_what_it_is_judged_at():
    size = worlds.WorldSize(20_000, 21)
    first = worlds.recipe_version(SPEC, "quick", size)
    assert first == worlds.recipe_version(SPEC, "quick", size)
    assert first != worlds.recipe_version(SPEC, "full", size)
    assert first != worlds.recipe_version(SPEC, "quick", worlds.WorldSize(50_000, 21))
    assert (worlds.model_folder(SPEC) / "spec.py").exists()


def test_a_world_already_scored_is_not_trained_again(tmp_path):
    done = _rows([0.76, 0.77], [0.80, 0.81], [0.01, 0.012])
    done.to_csv(tmp_path / worlds.RESULTS_FILE, index=False)

    def must_not_train(*args, **kwargs):
        raise AssertionError("a scored world was trained again")

    summary = worlds.evaluate_worlds(SPEC, [1001, 1002], tmp_path, size=worlds.WorldSize(), profile="quick",
                                     train=must_not_train, progress=lambda _: None)
    assert summary["seeds"] == [1001, 1002]
    assert json.loads((tmp_path / worlds.SUMMARY_FILE).read_text())["intervals"]["ece"]["model"]["mean"] == pytest.approx(0.011)


@pytest.mark.parametrize(("args", "message"), [
    (["--sealed", "--seeds", "1001-1005"], "--seeds is for validation"),
    (["--seeds", "9001,9002"], "sealed test worlds"),
    (["--days", "7"], "held-out days"),
    (["--profile", "huge"], "unknown training profile"),
])
def test_evaluating_a_supervised_model_refuses_what_the_protocol_forbids(args, message, tmp_path, monkeypatch):
    monkeypatch.setenv(protocol.LEDGER_ENV, str(tmp_path / "ledger.jsonl"))
    result = CliRunner().invoke(app, ["model", "evaluate", "MDL-001", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in " ".join(result.output.replace("│", " ").split()), result.output
    assert not (tmp_path / "ledger.jsonl").exists()
