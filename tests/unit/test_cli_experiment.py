"""`adaptive-delivery experiment …` end to end on a temporary store: create, assign (sticky), pause
(everyone on the control), resume, analyse tallies, complete with a winner; bad input is refused
with a message and exit code 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from adaptive_delivery.cli import app

RUN = CliRunner()


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_an_experiment_through_the_command_line(tmp_path):
    state = ["--state", str(tmp_path)]
    done = RUN.invoke(app, ["experiment", "create", "promo-subject", "--variant", "control=50", "--variant",
                            "urgent=25", "--variant", "question=25", *state])
    assert done.exit_code == 0, done.output
    users = [f"u{i}" for i in range(30)]
    first = _lines(RUN.invoke(app, ["experiment", "assign", "promo-subject", *users, *state]).output)
    assert {r["variant"] for r in first} <= {"control", "urgent", "question"} and len(first) == 30
    again = _lines(RUN.invoke(app, ["experiment", "assign", "promo-subject", *users, *state]).output)
    assert first == again
    assert RUN.invoke(app, ["experiment", "pause", "promo-subject", "--reason", "typo", *state]).exit_code == 0
    paused = _lines(RUN.invoke(app, ["experiment", "assign", "promo-subject", *users, *state]).output)
    assert {r["variant"] for r in paused} == {"control"} and paused[0]["status"] == "paused"
    assert RUN.invoke(app, ["experiment", "resume", "promo-subject", *state]).exit_code == 0
    assert _lines(RUN.invoke(app, ["experiment", "assign", "promo-subject", *users, *state]).output) == first
    tallies = tmp_path / "tallies.json"
    tallies.write_text(json.dumps({"control": [400, 20000], "urgent": [410, 20000], "question": [560, 20000]}))
    judged = RUN.invoke(app, ["experiment", "analyse", "promo-subject", str(tallies), *state])
    assert judged.exit_code == 0 and "pick: question" in judged.output, judged.output
    done = RUN.invoke(app, ["experiment", "complete", "promo-subject", "--winner", "question", *state])
    assert done.exit_code == 0 and "winner question" in done.output
    final = _lines(RUN.invoke(app, ["experiment", "assign", "promo-subject", *users, *state]).output)
    assert {r["variant"] for r in final} == {"question"}


def test_bad_input_is_refused_with_a_reason(tmp_path):
    state = ["--state", str(tmp_path)]
    bad = RUN.invoke(app, ["experiment", "create", "x", "--variant", "a=70", "--variant", "b=70", *state])
    assert bad.exit_code == 2 and "add up to 1" in bad.output
    bad = RUN.invoke(app, ["experiment", "create", "x", "--variant", "a=half", *state])
    assert bad.exit_code == 2 and "NAME=SHARE" in bad.output
    missing = RUN.invoke(app, ["experiment", "pause", "nope", "--reason", "r", *state])
    assert missing.exit_code == 2 and "no experiment" in missing.output
    RUN.invoke(app, ["experiment", "create", "y", "--variant", "a=50", "--variant", "b=50", *state])
    again = RUN.invoke(app, ["experiment", "create", "y", "--variant", "a=50", "--variant", "b=50", *state])
    assert again.exit_code == 2 and "exists" in again.output
    wrong = RUN.invoke(app, ["experiment", "complete", "y", "--winner", "z", *state])
    assert wrong.exit_code == 2 and "no variant" in wrong.output
    tallies = tmp_path / "t.json"
    tallies.write_text(json.dumps({"a": [5, 3]}))
    assert RUN.invoke(app, ["experiment", "analyse", "y", str(tallies), *state]).exit_code == 2
