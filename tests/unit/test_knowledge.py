"""The knowledge base: replies read as patterns, an allowance found where an IP pushed past it
(and only a lower bound where none did), versions that keep every earlier belief, facts learned
for every provider of a world, and a command line that says what it cannot show."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.knowledge import learn
from adaptive_delivery.delivery.knowledge.store import Fact, KnowledgeBase, KnowledgeError
from adaptive_delivery.delivery.providers import public_facts

NOW = datetime(2026, 3, 10, tzinfo=UTC)


def test_a_reply_reads_as_its_pattern_whatever_message_it_answered():
    a = "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred; see https://senders.example/e0 for ab12cd34ef"
    b = "421 4.7.0 [TSS04] Messages from 198.51.100.7 temporarily deferred; see https://senders.example/x9 for 99ffee0011"
    assert learn.reply_pattern(a) == learn.reply_pattern(b)
    assert "<ip>" in learn.reply_pattern(a) and "<url>" in learn.reply_pattern(a)
    assert learn.reply_pattern("550 5.1.1 <jo@example.com>: unknown") == "550 5.1.1 <<address>>: unknown"


def hours_of(sent: list[int], deferred: list[float], blocked: float = 0.01) -> pd.DataFrame:
    """One IP's messages, one hour each: the given share of first attempts deferred (and accepted
    on the second), a few blocked, the rest accepted at once."""
    rows = []
    for h, (n, share) in enumerate(zip(sent, deferred, strict=True)):
        k_block = int(round(n * blocked))
        k_def = int(round((n - k_block) * share))
        ts = pd.Timestamp("2026-03-02 10:00", tz="UTC") + pd.Timedelta(hours=h)
        for i in range(n):
            base = {"message_id": f"m{h}-{i}", "sending_ip": "192.0.2.10", "reason": None}
            if i < k_block:
                rows.append({**base, "attempt": 1, "event_ts": ts, "status": "blocked"})
                continue
            first = "deferred" if i < k_block + k_def else "accepted"
            rows.append({**base, "attempt": 1, "event_ts": ts, "status": first})
            if first == "deferred":
                rows.append({**base, "attempt": 2, "event_ts": ts + pd.Timedelta(minutes=40), "status": "accepted"})
    return pd.DataFrame(rows)


def test_the_allowance_is_found_where_an_ip_pushed_past_it():
    allowance = 600.0
    sent = [400, 500, 900, 1000, 1200]
    share = [learn.BACKGROUND_DEFERRAL + max(0.0, 1 - allowance / n) for n in sent]
    facts = learn.rate_facts(hours_of(sent, share), NOW)
    safe = facts["safe_max_rate_per_hour"]
    assert safe.evidence["kind"] == "estimate" and safe.evidence["hours_past_allowance"] == 3
    assert safe.value == pytest.approx(allowance, rel=0.03)
    assert facts["optimal_rate_per_hour"].value == pytest.approx(learn.SAFE_SHARE * safe.value, abs=1)


def test_without_push_back_the_busiest_hour_is_only_a_lower_bound():
    facts = learn.rate_facts(hours_of([300, 800, 500], [0.004, 0.006, 0.005]), NOW)
    assert facts["safe_max_rate_per_hour"].evidence["kind"] == "lower_bound"
    assert facts["safe_max_rate_per_hour"].value == 800 == facts["optimal_rate_per_hour"].value


def test_a_version_keeps_every_earlier_belief(tmp_path):
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    first = kb.record({"gmail": {"safe_max_rate_per_hour": Fact(20_000, {"kind": "estimate"}),
                                 "best_hours_utc": Fact([9, 10, 14], {"open_rate_by_hour": {}})}}, "test", now=NOW)
    second = kb.record({"gmail": {"safe_max_rate_per_hour": Fact(18_000, {"kind": "estimate"})}}, "test")
    assert second == first + 1
    now = kb.current("gmail")
    assert now["safe_max_rate_per_hour"].value == 18_000 and now["safe_max_rate_per_hour"].version == second
    assert now["best_hours_utc"].value == [9, 10, 14] and now["best_hours_utc"].version == first
    assert [f.value for f in kb.history("gmail", "safe_max_rate_per_hour")] == [20_000, 18_000]
    assert kb.history("gmail", "safe_max_rate_per_hour")[0].learned_at == NOW
    exported = json.loads(json.dumps(kb.export()))
    assert exported["providers"]["gmail"]["safe_max_rate_per_hour"]["value"] == 18_000
    assert [v["version"] for v in exported["versions"]] == [first, second]
    with pytest.raises(KnowledgeError, match="nothing is known of provider 'hotmail'"):
        kb.current("hotmail")


def test_a_failed_write_leaves_the_last_version_whole(tmp_path):
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    kb.record({"yahoo": {"safe_max_rate_per_hour": Fact(9_000, {})}}, "test")
    with pytest.raises(TypeError):
        kb.record({"yahoo": {"safe_max_rate_per_hour": Fact(object(), {})}}, "test")
    assert len(kb.versions()) == 1 and kb.current("yahoo")["safe_max_rate_per_hour"].value == 9_000


@pytest.fixture(scope="module")
def learned(tiny_world):
    outcomes, opens = learn.read_lake(tiny_world / "lake")
    return outcomes, learn.learn(outcomes, opens, NOW)


def test_every_provider_of_a_world_gets_its_facts(learned):
    outcomes, facts = learned
    assert set(facts) == set(outcomes["provider"].unique())
    for provider, known in facts.items():
        assert {"block_patterns", "deferral_patterns", "rate_limit_signals", "content_sensitivity",
                "authentication", "safe_max_rate_per_hour"} <= set(known), provider
        published = public_facts(provider)
        assert known["authentication"].value["requires_spf_or_dkim_and_dmarc"] == published.requires_auth
        shares = [p["share"] for p in known["block_patterns"].value]
        assert shares == sorted(shares, reverse=True) and sum(shares) <= 1 + 1e-9
    # each provider's share of the mail: what a day's volume puts on it
    assert sum(known["mail_share"].value for known in facts.values()) == pytest.approx(1.0, abs=1e-3)
    first = outcomes[outcomes["attempt"] == 1]
    assert facts["gmail"]["mail_share"].value == pytest.approx((first["provider"] == "gmail").mean(), abs=1e-4)
    gmail = facts["gmail"]
    assert gmail["rate_limit_signals"].value, "the twin's Gmail defers with its real rate-limit replies"
    by_hour = gmail["best_hours_utc"].evidence["open_share_by_hour"]
    assert sum(by_hour.values()) == pytest.approx(1.0, abs=1e-3) and all(np.isfinite(v) for v in by_hour.values())
    best, avoid = gmail["best_hours_utc"].value, gmail["avoid_hours_utc"].value
    assert min(by_hour[h] for h in best) >= max(by_hour[h] for h in avoid)


def plain(output: str) -> str:
    """A command's error as words: the box it is drawn in and its line breaks removed."""
    return " ".join(output.replace("│", " ").split())


def test_the_command_line_learns_shows_and_exports(tiny_world, tmp_path, monkeypatch):
    monkeypatch.setenv("AD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AD_KNOWLEDGE_URL", raising=False)
    runner = CliRunner()
    done = runner.invoke(app, ["knowledge", "learn", "--lake", str(tiny_world / "lake"), "--days", "3"])
    assert done.exit_code == 0 and "knowledge version 1" in done.output, done.output
    assert (tmp_path / "home" / "knowledge.db").exists()
    shown = runner.invoke(app, ["knowledge", "show", "yahoo", "--fact", "block_patterns"])
    assert shown.exit_code == 0 and json.loads(shown.output)[0]["version"] == 1
    missing = runner.invoke(app, ["knowledge", "show", "hotmail"])
    assert missing.exit_code == 2 and "nothing is known of provider 'hotmail'" in plain(missing.output)
    out = tmp_path / "kb.json"
    assert runner.invoke(app, ["knowledge", "export", str(out)]).exit_code == 0
    assert "gmail" in json.loads(out.read_text())["providers"]
    empty = runner.invoke(app, ["knowledge", "learn", "--lake", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "holds no outcome events" in plain(empty.output)
