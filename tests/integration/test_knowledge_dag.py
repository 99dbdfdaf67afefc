"""The knowledge base's DAG for real: `airflow dags test ad_knowledge` learns a tiny world's last
week from its delivery lake into a real PostgreSQL (the cluster profile's store, a throwaway
server); `adaptive-delivery knowledge learn` adds a second version from the last three days, and
`knowledge show` reads what is believed now, and the history behind it, from the same server."""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.cli.main_job import airflow_dags_test, airflow_env
from adaptive_delivery.delivery.knowledge.store import KnowledgeBase

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_daily_dag_learns_into_postgresql_and_keeps_each_version(tiny_world, tmp_path, postgres_server, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "lake").symlink_to(tiny_world / "lake", target_is_directory=True)
    env = airflow_env(tmp_path / "airflow", {"AD_PROFILE": "local", "AD_HOME": str(home),
                                             "AD_KNOWLEDGE_URL": postgres_server})
    # the world's 7 days are 2026-03-02..08: the run for the 9th learns the week before it
    log = tmp_path / "ad_knowledge.log"
    code = airflow_dags_test("ad_knowledge", date(2026, 3, 9), env, log=log)
    assert code == 0 and "state=success" in log.read_text(), log.read_text()[-3000:]
    assert "no MDL-008 champion yet" in log.read_text()
    monkeypatch.setenv("AD_HOME", str(home))
    monkeypatch.setenv("AD_KNOWLEDGE_URL", postgres_server)
    runner = CliRunner()
    again = runner.invoke(app, ["knowledge", "learn", "--days", "3"])
    assert again.exit_code == 0 and "knowledge version 2" in again.output, again.output
    kb = KnowledgeBase(postgres_server)
    assert [v["version"] for v in kb.versions()] == [1, 2]
    assert "2026-03-02 to 2026-03-08" in kb.versions()[0]["source"] and "2026-03-06 to 2026-03-08" in kb.versions()[1]["source"]
    assert len(kb.history("gmail", "block_patterns")) == 2
    assert not (home / "knowledge.db").exists(), "the cluster's store was used, not the embedded default"
    shown = runner.invoke(app, ["knowledge", "show", "gmail"])
    assert shown.exit_code == 0, shown.output
    facts = json.loads(shown.output)
    assert facts["block_patterns"]["version"] == 2 and facts["authentication"]["value"]["requires_one_click_unsubscribe"]
    timeline = [json.loads(line) for line in (home / "timeline.jsonl").read_text().splitlines()]
    assert [e["step"] for e in timeline] == ["knowledge"] and timeline[0]["version"] == 1
