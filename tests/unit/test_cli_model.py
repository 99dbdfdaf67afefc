"""`adaptive-delivery model …` drives every registered spec; model-specific verbs say when a model
has no such verb; `model approve` records a person's approval where the served plan reads it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.platform.spec import all_specs

runner = CliRunner()


def test_model_list_shows_every_registered_spec():
    result = runner.invoke(app, ["model", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    ids = [s.model_id for s in all_specs()]
    assert {"MDL-001", "MDL-003", "MDL-009"} <= set(ids)
    for model_id in ids:
        assert model_id in result.output


def test_supervised_models_register_inside_their_training():
    args = ["model", "register", "MDL-001", "--policy", __file__, "--evaluation", "."]
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code != 0 and "`model train`" in result.output, result.output


def test_an_unknown_model_is_named_with_the_known_ones():
    result = runner.invoke(app, ["model", "evaluate", "MDL-999"])
    assert result.exit_code != 0


def test_model_approve_records_the_approval_in_the_ledger(tmp_path):
    ledger = tmp_path / "approvals.jsonl"
    result = runner.invoke(app, ["model", "approve", "MDL-009", "--ip", "192.0.2.11", "--kind", "stage_jump",
                                 "--by", "sam", "--note", "contract volume", "--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    [event] = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert (event["event"], event["ip"], event["kind"], event["approved_by"], event["note"]) == (
        "approved", "192.0.2.11", "stage_jump", "sam", "contract volume")


def test_model_approve_refuses_what_no_rail_waits_for(tmp_path):
    ledger = tmp_path / "approvals.jsonl"
    wrong_model = runner.invoke(app, ["model", "approve", "MDL-003", "--ip", "x", "--kind", "resume", "--by", "sam",
                                      "--ledger", str(ledger)])
    assert wrong_model.exit_code != 0
    wrong_kind = runner.invoke(app, ["model", "approve", "MDL-009", "--ip", "x", "--kind", "skip", "--by", "sam",
                                     "--ledger", str(ledger)])
    assert wrong_kind.exit_code != 0 and not ledger.exists()


def test_a_corpus_trained_model_says_where_it_is_evaluated():
    done = runner.invoke(app, ["model", "evaluate", "MDL-007"], env={"COLUMNS": "300"})
    assert done.exit_code == 2 and "evaluated by its own pipeline" in done.output, done.output
