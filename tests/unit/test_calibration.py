"""Aggregate rates of the default (average) sender land near the published industry figures,
and the world punishes what real providers punish."""

import pytest

from adaptive_delivery.twin.calibration import world_rates
from adaptive_delivery.twin.config import SenderConfig, WorldConfig
from adaptive_delivery.twin.simulator import simulate


@pytest.fixture(scope="module")
def calibration_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("calibration")
    simulate(WorldConfig(subscribers=20_000, days=14, seed=3), out, progress=False)
    return world_rates(out, by="org_id")


def test_average_sender_matches_published_rates(calibration_world):
    acme = calibration_world["acme"]  # the default, established, average sender
    assert 0.78 <= acme["inbox_rate"] <= 0.92, acme          # ~85% inbox placement
    assert 0.015 <= acme["bounce_rate"] <= 0.045, acme       # ~3% bounces
    assert 0.004 <= acme["block_rate"] <= 0.025, acme        # ~1% blocks
    assert 0.0002 <= acme["complaint_rate"] <= 0.0010, acme  # ~0.05% complaints, under Gmail's 0.1%
    assert 0.10 <= acme["open_rate"] <= 0.40, acme           # opens in the tens of percent


def _one_sender(tmp_path, name: str, **kwargs) -> dict:
    sender = SenderConfig(org_id="solo", sending_domain="mail.solo.example", list_share=1.0, n_ips=1, **kwargs)
    simulate(WorldConfig(subscribers=6_000, days=6, seed=9, senders=(sender,)), tmp_path / name, progress=False)
    return world_rates(tmp_path / name)["all"]


def test_blasting_a_cold_ip_gets_throttled_and_blocked(tmp_path):
    warm = _one_sender(tmp_path, "warm", send_rate_per_min=5_000.0, audience_share=0.9)
    cold = _one_sender(tmp_path, "cold", send_rate_per_min=5_000.0, audience_share=0.9, new_ips=True, domain_age_days=5)
    assert cold["block_rate"] > warm["block_rate"] + 0.10, (cold, warm)
    assert cold["bounce_rate"] > warm["bounce_rate"], (cold, warm)  # throttled mail that expired
    assert cold["inbox_rate"] < warm["inbox_rate"] - 0.2, (cold, warm)


def test_spammy_content_is_foldered_and_refused(tmp_path):
    clean = _one_sender(tmp_path, "clean", spamminess=0.15, quality=0.6)
    spammy = _one_sender(tmp_path, "spammy", spamminess=0.9, quality=0.25)
    assert spammy["spam_rate"] > clean["spam_rate"] + 0.25, (spammy, clean)
    assert spammy["block_rate"] > clean["block_rate"], (spammy, clean)
    # (complaints per message can fall: providers send spammy mail to the folder, where few complain)


def test_unauthenticated_bulk_mail_is_refused_where_providers_require_auth(tmp_path):
    authed = _one_sender(tmp_path, "authed")
    naked = _one_sender(tmp_path, "naked", spf_or_dkim=False, dmarc=False)
    assert naked["block_rate"] > 0.4 > authed["block_rate"], (naked, authed)
