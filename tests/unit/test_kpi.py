"""The KPI run's measurement, designs and report, on small hand-made tables."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyarrow as pa
import pytest

from adaptive_delivery.delivery.kpi import report
from adaptive_delivery.delivery.kpi import senders as sd
from adaptive_delivery.delivery.kpi.measure import COUNTS, TARGETS, Tally, rates


def _truth(classes, complained=None, opened=None, providers=None):
    n = len(classes)
    return pa.table({"message_id": [f"m{i}" for i in range(n)], "provider": providers or ["gmail"] * n,
                     "true_class": classes, "complained": complained or [False] * n, "human_open": opened or [False] * n,
                     "p_inbox": [0.8] * n, "p_soft_bounce": [0.01] * n, "p_hard_bounce": [0.02] * n,
                     "p_block": [0.05] * n, "p_open": [0.25] * n})


def test_every_rate_is_per_message_sent_and_counted_by_provider():
    tally = Tally()
    truth = _truth(["inbox", "inbox", "spam", "block", "hard_bounce", "soft_bounce", "inbox", "inbox"],
                   complained=[True] + [False] * 7, opened=[True, True, False, False, False, False, True, False],
                   providers=["gmail"] * 4 + ["yahoo"] * 4)
    engagement = pa.table({"message_id": ["m1", "m1", "m6"], "event_type": ["open", "unsubscribe", "open"]})
    tally.add_day(truth, engagement)
    s = tally.summary()
    assert s["sent"] == 8 and s["inbox_placement"] == 4 / 8 and s["bounce_rate"] == 2 / 8
    assert s["block_rate"] == 1 / 8 and s["complaint_rate"] == 1 / 8 and s["open_rate"] == 3 / 8
    assert s["unsubscribe_rate"] == 1 / 8
    assert s["expected_bounce_rate"] == pytest.approx(0.03) and s["expected_open_rate"] == pytest.approx(0.25)
    assert s["by_provider"]["gmail"]["inbox_placement"] == 2 / 4 and s["by_provider"]["yahoo"]["bounce_rate"] == 2 / 4
    tally.add_day(_truth(["inbox", "inbox"]), None)
    assert tally.summary()["sent"] == 10 and tally.summary()["inbox_placement"] == 6 / 10


def test_nothing_sent_gives_no_rate_rather_than_a_perfect_one():
    assert all(math.isnan(v) for v in rates(dict.fromkeys(COUNTS, 0.0)).values())


def test_targets_read_the_right_way_round():
    assert TARGETS["inbox_placement"].met(0.96) and not TARGETS["inbox_placement"].met(0.90)
    assert TARGETS["inbox_placement"].missed_by(0.90) == pytest.approx(0.05)
    assert TARGETS["bounce_rate"].met(0.005) and not TARGETS["bounce_rate"].met(0.01)
    assert TARGETS["complaint_rate"].missed_by(0.0005) == pytest.approx(0.0003) and TARGETS["block_rate"].missed_by(0) == 0


def test_an_ablation_swaps_one_part_for_the_rule_and_every_learned_part_gets_one():
    without = sd.ADAPTIVE.without("timing", sd.BUSINESS_AS_USUAL)
    assert without.name == "adaptive_without_MDL-002" and without.timing == sd.RULE and without.hygiene == sd.MODEL
    names = [d.name for d in sd.designs(ablations=True, with_content=True)]
    assert names[:3] == ["business_as_usual", "adaptive", "oracle"]
    # every learned part is measured: taken out where the adaptive sender ships it, tried where it does not
    shipped = {n.removeprefix("adaptive_without_") for n in names[3:] if "_without_" in n}
    tried = {n.removeprefix("adaptive_with_") for n in names[3:] if "_with_" in n}
    assert shipped | tried == set(sd.PART_MODEL.values()) and not shipped & tried and tried == {"MDL-005"}
    challenger = next(d for d in sd.designs(True, True) if d.name == "adaptive_with_MDL-005")
    assert challenger.engagement == sd.MODEL and sd.ADAPTIVE.engagement == sd.BUSINESS_AS_USUAL.engagement
    plain = sd.designs(ablations=True, with_content=False)
    assert all(d.content == sd.NONE for d in plain)
    assert not [d.name for d in plain if d.name.endswith("MDL-007")]


def _world(seed, rows):
    return {"seed": seed, "senders": {name: {"sent": 100.0, "human_opens": 100.0 * r["open_rate"], "complaints": 0.0,
                                             "inbox_placement": r["inbox"], "bounce_rate": r["bounce"], "block_rate": 0.0,
                                             "complaint_rate": 0.0, "open_rate": r["open_rate"], "unsubscribe_rate": 0.0,
                                             "prediction_accuracy": r.get("accuracy", float("nan")),
                                             "by_provider": {"gmail": {"sent": 100.0, "inbox_placement": r["inbox"]}}}
                                      for name, r in rows.items()}}


def test_the_report_states_met_or_missed_lifts_and_ablations_world_by_world():
    worlds = [_world(s, {"business_as_usual": {"inbox": 0.80, "bounce": 0.02, "open_rate": 0.20},
                         "adaptive": {"inbox": 0.96 + d, "bounce": 0.005, "open_rate": 0.25 + d, "accuracy": 0.8},
                         "oracle": {"inbox": 0.97, "bounce": 0.001, "open_rate": 0.30, "accuracy": 0.9},
                         "adaptive_without_MDL-010": {"inbox": 0.95, "bounce": 0.015 + d, "open_rate": 0.25},
                         "adaptive_with_MDL-005": {"inbox": 0.96 + d, "bounce": 0.006, "open_rate": 0.24 + d}})
              for s, d in ((1001, 0.0), (1002, 0.01), (1003, -0.01))]
    summary = report.summarise(worlds, size={}, rules={}, seeds_kind="validation")
    table = summary["section_11"]
    assert table["inbox_placement"]["adaptive"]["met"] and not table["inbox_placement"]["business_as_usual"]["met"]
    assert table["bounce_rate"]["business_as_usual"]["missed_by"] == pytest.approx(0.01)
    assert table["open_rate_lift"]["adaptive"]["mean"] == pytest.approx(0.25, abs=1e-9)
    assert table["open_rate_lift"]["adaptive"]["met"] and "business_as_usual" not in table["open_rate_lift"]
    assert "business_as_usual" not in table["prediction_accuracy"] and not table["prediction_accuracy"]["adaptive"]["met"]
    assert summary["ablations"]["MDL-010"]["bounce_rate"]["mean"] == pytest.approx(-0.01)
    assert summary["ablations"]["MDL-010"]["bounce_rate"]["high"] > -0.01 > summary["ablations"]["MDL-010"]["bounce_rate"]["low"]
    # a challenger: adaptive with it minus adaptive (here it opens less than the rule it would replace)
    assert summary["challengers"] == ["MDL-005"]
    assert summary["ablations"]["MDL-005"]["open_rate"]["mean"] == pytest.approx(-0.01)
    assert summary["ablations"]["MDL-005"]["bounce_rate"]["mean"] == pytest.approx(0.001)
    assert "open_rate" in summary["ablation_verdicts"]["MDL-005"]["worse"]
    # the headline's pairs, world by world: the system over the rules, the oracle over the system
    gain, left = summary["paired"]["adaptive_minus_business_as_usual"], summary["paired"]["oracle_minus_adaptive"]
    assert gain["inbox_placement"]["mean"] == pytest.approx(0.16) and gain["inbox_placement"]["low"] > 0
    assert left["inbox_placement"]["mean"] == pytest.approx(0.01) and left["open_rate"]["mean"] == pytest.approx(0.05)
    html = report.to_html(summary)
    assert "missed by 1.000 pt" in html and "not measured" in html and "data:image/png;base64," in html
    assert "adaptive − business_as_usual" in html


def test_the_truth_spends_the_sunsets_budget_on_the_least_engaged():
    class FakeWorld:
        def subscriber_truth(self):
            return pa.table({"subscriber_id": ["s1", "s2", "s3", "s4"], "complainer": [False, False, True, False],
                             "engagement_propensity": [0.9, 0.05, 0.5, 0.4]})

    import pandas as pd

    features = pd.DataFrame({sd.mdl006.DAYS_SINCE_OPEN: [40.0, 1.0, 1.0, 1.0], sd.mdl006.TENURE: [100.0] * 4},
                            index=["s1", "s2", "s3", "s4"])
    sends = pa.table({"subscriber_id": ["s1", "s2", "s3", "s4"]})
    everyone = np.array([True, True, True, True])
    rules = sd.Rules(sunset_days=30)
    # the sunset holds s1's message (40 days without an open); the truth holds as many, the least engaged (s2)
    assert sd.engagement_held(sd.RULE, features, {}, sends, everyone, rules, None, FakeWorld()).tolist() == \
        [True, False, False, False]
    assert sd.engagement_held(sd.TRUTH, features, {}, sends, everyone, rules, None, FakeWorld()).tolist() == \
        [False, True, False, False]
    # a message another part already held is neither counted nor chosen
    assert not sd.engagement_held(sd.TRUTH, features, {}, sends, np.array([False, True, True, True]), rules, None,
                                  FakeWorld()).any()
    ids = np.array(["s1", "s2", "s3", "s4"], dtype=object)
    assert sd.Risk(sd.TRUTH, None, FakeWorld()).keep(features, 0, ids, everyone).tolist() == [True, True, False, True]
    assert sd.Risk(sd.NONE, None, FakeWorld()).keep(features, 0, ids, everyone).all()


def test_an_ablation_verdict_needs_the_whole_interval_on_one_side():
    parts = {"bounce_rate": {"mean": -0.002, "low": -0.003, "high": -0.001},
             "open_rate": {"mean": -0.01, "low": -0.02, "high": -0.005},
             "inbox_placement": {"mean": 0.01, "low": -0.01, "high": 0.03},
             "human_opens": {"mean": 5.0, "low": float("nan"), "high": float("nan")}}
    assert report.verdict(parts) == {"better": ["bounce_rate"], "worse": ["open_rate"]}


def test_accuracy_scores_only_what_was_sent_against_its_true_class():
    from adaptive_delivery.delivery.kpi.measure import Accuracy

    accuracy = Accuracy(classes=("inbox", "spam", "block"))
    accuracy.record(["m0", "m1", "m2", "m9"], [0, 0, 2, 1])  # m9 was held back after all: never judged
    accuracy.judge(_truth(["inbox", "spam", "block"]))
    assert accuracy.summary() == {"prediction_accuracy": 2 / 3, "predictions_judged": 3}
    accuracy.judge(_truth(["inbox"]))  # nothing recorded for the next day: nothing judged
    assert accuracy.summary()["predictions_judged"] == 3
    assert math.isnan(Accuracy().summary()["prediction_accuracy"])


def test_a_sealed_claim_is_once_per_version_and_a_new_version_gets_fresh_worlds(tmp_path, monkeypatch):
    from adaptive_delivery.delivery.kpi import harness
    from adaptive_delivery.platform import protocol

    monkeypatch.setenv(protocol.LEDGER_ENV, str(tmp_path / "ledger.jsonl"))
    size, rules = harness.KpiSize(subscribers=600, history_days=8, days=2), sd.Rules()
    version, seeds = harness.claim_sealed(size, "smoke", rules, None, 5, command="test")
    assert seeds == list(protocol.SEALED_SEEDS[:5]) and len(version) == 16
    with pytest.raises(protocol.SealedReuseError):
        harness.claim_sealed(size, "smoke", rules, None, 5, command="test again")
    other, fresh = harness.claim_sealed(harness.KpiSize(subscribers=700, history_days=8, days=2), "smoke", rules,
                                        None, 5, command="a new version")
    assert other != version and not set(fresh) & set(seeds)


def test_a_part_whose_gate_stopped_its_model_runs_the_rule_and_the_report_counts_where_each_was_served():
    fake = object()
    models = sd.Models(hygiene=fake, engagement=fake, risk=None, timing=fake, content=None, delivery=None)
    planned = sd.ADAPTIVE.with_model("engagement")
    served = sd.served(planned, models)
    assert (served.hygiene, served.engagement, served.timing) == (sd.MODEL,) * 3
    assert (served.risk, served.content, served.delivery) == (sd.NONE,) * 3 and served.name == planned.name
    assert sd.served(sd.BUSINESS_AS_USUAL, models) == sd.BUSINESS_AS_USUAL
    everything = sd.Models(hygiene=fake, engagement=fake, risk=fake, timing=fake, content=fake, delivery=fake)
    assert sd.served(planned, everything) == planned
    nothing = sd.Models()
    assert sd.served(planned, nothing) == dataclasses.replace(sd.BUSINESS_AS_USUAL, name=planned.name)
    rows = {"business_as_usual": {"inbox": 0.8, "bounce": 0.02, "open_rate": 0.2},
            "adaptive": {"inbox": 0.9, "bounce": 0.01, "open_rate": 0.25, "accuracy": 0.7}}
    worlds = [{**_world(1001, rows), "gates": {"MDL-001": {"promoted": True}, "MDL-006": {"promoted": False}}},
              {**_world(1002, {**rows, "adaptive": {**rows["adaptive"], "accuracy": float("nan")}}),
               "gates": {"MDL-001": {"promoted": False}, "MDL-006": {"promoted": False}}}]
    summary = report.summarise(worlds, size={}, rules={}, seeds_kind="validation")
    assert summary["served"] == {"MDL-001": 1, "MDL-006": 0}
    assert summary["metrics"]["adaptive"]["prediction_accuracy"]["mean"] == pytest.approx(0.7)  # where it decided
    assert "MDL-001 in 1 of 2" in report.to_html(summary)


@pytest.mark.parametrize(("args", "message"), [
    (["--sealed", "--seeds", "1001-1005"], "--seeds is for validation"),
    (["--seeds", "9001-9005"], "sealed test worlds"),
])
def test_the_kpi_command_refuses_what_the_protocol_forbids_and_claims_nothing(args, message, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from adaptive_delivery.cli import app
    from adaptive_delivery.platform import protocol

    monkeypatch.setenv(protocol.LEDGER_ENV, str(tmp_path / "ledger.jsonl"))
    result = CliRunner().invoke(app, ["kpi", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in " ".join(result.output.replace("│", " ").split()), result.output
    assert not (tmp_path / "ledger.jsonl").exists() and not (tmp_path / "out").exists()
