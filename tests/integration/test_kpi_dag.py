"""The weekly KPI DAG for real: `airflow dags test ad_kpi` simulates a tiny world's history, trains
MDL-010, MDL-005, MDL-006, MDL-002 and MDL-001 on it through their own pipelines, runs its future under the
business-as-usual, adaptive and oracle senders, the ablations and the challenger, and writes the report. The
claims a tiny world can hold, on the law's expectation of what each sender sent: the truth's
hygiene bounces less than the rule's and the truth spends the sunset's budget on likelier opens;
each learned part its gate promoted changes what the adaptive sender sends (whether for the better
is for the validation worlds: a few days of a tiny list train weak models), and one its gate stopped
is not served."""

from __future__ import annotations

import json
from datetime import date

import pytest

from adaptive_delivery.cli.main_job import airflow_dags_test, airflow_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_weekly_kpi_dag_runs_unattended_and_the_truth_beats_the_rules(tmp_path):
    home = tmp_path / "home"
    env = airflow_env(tmp_path / "airflow", {"AD_PROFILE": "local", "AD_HOME": str(home),
                                             "AD_PIPELINE_RUNNER": "in-process", "AD_TRAINING_PROFILE": "smoke"})
    conf = {"worlds": 1, "subscribers": 2_000, "history_days": 10, "days": 2, "ablations": True}
    log = tmp_path / "ad_kpi.log"
    code = airflow_dags_test("ad_kpi", date(2026, 3, 9), env, conf=conf, log=log)
    assert code == 0 and "state=success" in log.read_text(), log.read_text()[-3000:]
    [folder] = (home / "kpi").iterdir()
    summary = json.loads((folder / "kpi.json").read_text())
    assert (folder / "kpi.html").read_text().startswith("<!doctype html>")
    assert summary["seeds"] == [1001] and summary["seeds_kind"] == "validation"
    m = summary["metrics"]
    assert set(m) == {"business_as_usual", "adaptive", "oracle", "adaptive_without_MDL-010", "adaptive_with_MDL-005",
                      "adaptive_without_MDL-006", "adaptive_without_MDL-002", "adaptive_without_MDL-001"}
    assert all(m[n]["sent"]["mean"] > 500 for n in m)
    # on the law's expectation of what each sender sent: a few thousand messages are too few for single draws
    assert m["oracle"]["expected_bounce_rate"]["mean"] < m["business_as_usual"]["expected_bounce_rate"]["mean"]
    assert m["oracle"]["expected_open_rate"]["mean"] > m["business_as_usual"]["expected_open_rate"]["mean"]
    # a part is served where its gate promoted its model, and then it is in the loop: taking it out changes
    # what was sent and what came of it (whether for the better is the validation worlds' question: models
    # trained on a few days of a tiny list); a part whose gate stopped its model ran the rule, so its ablation
    # changes nothing
    assert set(summary["served"]) == {"MDL-010", "MDL-005", "MDL-006", "MDL-002", "MDL-001"}
    served = [model for model in ("MDL-010", "MDL-005", "MDL-002") if summary["served"][model]]
    assert served, summary["per_world"][0]["gates"]
    for model, sender in (("MDL-010", "adaptive_without_MDL-010"), ("MDL-005", "adaptive_with_MDL-005"),
                          ("MDL-002", "adaptive_without_MDL-002")):  # MDL-005 is a challenger: tried, not shipped
        changed = m[sender]["expected_open_rate"]["mean"] != m["adaptive"]["expected_open_rate"]["mean"]
        assert changed == (model in served), (model, summary["per_world"][0]["gates"][model])
    table = summary["section_11"]
    assert table["throughput_lift"]["not_measured"] and "business_as_usual" not in table["prediction_accuracy"]
    if summary["served"]["MDL-001"]:
        assert 0 < table["prediction_accuracy"]["adaptive"]["mean"] <= 1
    else:
        assert "adaptive" not in table["prediction_accuracy"]
    ablation = summary["ablations"]["MDL-010"]["expected_open_rate"]["mean"]
    assert ablation == pytest.approx(m["adaptive"]["expected_open_rate"]["mean"]
                                     - m["adaptive_without_MDL-010"]["expected_open_rate"]["mean"])
    trial = summary["ablations"]["MDL-005"]["expected_open_rate"]["mean"]
    assert trial == pytest.approx(m["adaptive_with_MDL-005"]["expected_open_rate"]["mean"]
                                  - m["adaptive"]["expected_open_rate"]["mean"]) and summary["challengers"] == ["MDL-005"]
    timeline = [json.loads(line) for line in (home / "timeline.jsonl").read_text().splitlines()]
    assert [e["step"] for e in timeline] == ["kpi"] and "adaptive meets" in timeline[0]["summary"]
