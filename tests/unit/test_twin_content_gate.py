"""The twin's content gate: a sender's pre-send check sees each campaign before it goes out and may
rewrite or hold it. Providers read spamminess partly off the text, so a cleaner rewrite is placed
better; a held campaign sends nothing; a gate that changes nothing changes nothing."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from adaptive_delivery.twin import content as twin_content
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import World

CONFIG = WorldConfig(subscribers=3_000, days=3, seed=5)


def _run(gate=None) -> tuple[World, pa.Table]:
    world = World(CONFIG)
    days = [world.step_day(content_gate=gate).truth["messages"] for _ in range(CONFIG.days)]
    return world, pa.concat_tables(days)


def _clean(c: twin_content.Content) -> twin_content.Content:
    def plain(text: str) -> str:
        for phrase in twin_content.SPAM_PHRASES:
            text = re.sub(re.escape(phrase), "", text, flags=re.IGNORECASE)
        return text.replace("!", ".").capitalize()
    return twin_content.rewrite(c, plain(c.subject), plain(c.preheader), plain(c.body_text))


def test_a_rewrite_moves_perceived_spamminess_by_what_it_changed_in_the_text():
    rng = np.random.default_rng(3)
    c = twin_content.make_content(rng, "x-ct1", 0.7, 0.5, True)
    assert twin_content.rewrite(c, c.subject, c.preheader, c.body_text) == c
    cleaned = _clean(c)
    before = twin_content.text_readings(c.subject, c.preheader, c.body_text)
    after = twin_content.text_readings(cleaned.subject, cleaned.preheader, cleaned.body_text)
    drop = sum(w * (before[k] - after[k]) for k, w in twin_content.TEXT_READING_WEIGHTS.items())
    assert drop > 0 and cleaned.spamminess == np.clip(c.spamminess - drop, 0.01, 0.99)
    assert cleaned.quality == c.quality and cleaned.link_count == c.link_count


def test_a_gate_that_changes_nothing_leaves_the_world_as_it_was():
    _, plain = _run()
    world, same = _run(lambda c: c)
    assert same.equals(plain)
    assert world.gate_log and not any(g["held"] or g["rewritten"] for g in world.gate_log)


def test_rewritten_campaigns_are_placed_better_and_held_ones_send_nothing():
    _, plain = _run()
    world, cleaned = _run(_clean)
    rewritten = [g for g in world.gate_log if g["rewritten"]]
    assert rewritten and all(g["spamminess_sent"] <= g["spamminess_written"] for g in rewritten)
    assert cleaned["p_spam"].to_numpy().sum() / len(cleaned) < plain["p_spam"].to_numpy().sum() / len(plain)

    def hold_bolt(c):
        return None if c.content_id.startswith("bolt-") else c

    world, held = _run(hold_bolt)
    assert set(held["org_id"].to_pylist()) == set(plain["org_id"].to_pylist()) - {"bolt"}
    assert all(g["held"] == g["org_id"].startswith("bolt") for g in world.gate_log)
    assert all(r["audience_size"] == 0 for r in world.campaign_rows if r["org_id"] == "bolt")
