"""The webhook receiver on 127.0.0.1 in front of a real Redis: a post's events reach the lake
through the stream, a post sent twice (a platform's retry) adds nothing, refused events are
quarantined with why, and bad posts get a 4xx with a message (Redis down: 503, for a retry)."""

from __future__ import annotations

import json

import pytest
import requests

from adaptive_delivery.delivery.events.lake import QUARANTINE, EventsLake
from adaptive_delivery.delivery.events.stream import LakeSink
from adaptive_delivery.platform.streams import StreamConsumer, connect, ledger
from serving import webhooks

pytestmark = pytest.mark.integration


def _post_body() -> list[dict]:
    base = {"email": "ann@example.org", "subscriber_id": "s-1", "campaign_id": "c-1"}
    return [
        {**base, "event": "open", "timestamp": 1_767_000_001, "sg_event_id": "e1", "message_id": "m-1",
         "sg_machine_open": True, "useragent": "Mozilla/5.0"},
        {**base, "event": "open", "timestamp": 1_767_000_050, "sg_event_id": "e2", "message_id": "m-1",
         "sg_machine_open": False, "useragent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
                                                "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"},
        {**base, "event": "click", "timestamp": 1_767_000_060, "sg_event_id": "e3", "message_id": "m-1"},
        {**base, "event": "spamreport", "timestamp": 1_767_000_070, "sg_event_id": "e4", "message_id": "m-2"},
        {**base, "event": "delivered", "timestamp": 1_767_000_000, "sg_event_id": "e5", "message_id": "m-1"},
    ]


@pytest.fixture
def receiver(redis_server):
    client = connect(redis_server)
    client.delete("hooks", "hooks:ledger")
    server = webhooks.serve(client, "hooks", token="s3cret")
    yield client, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_posted_events_reach_the_lake_once_however_often_posted(receiver, tmp_path):
    client, url = receiver
    auth = {"authorization": "Bearer s3cret"}
    for _ in range(2):  # the platform's retry of the same post
        answer = requests.post(f"{url}/webhooks/sendgrid", data=json.dumps(_post_body()), headers=auth, timeout=10)
        assert answer.status_code == 200 and answer.json() == {"accepted": 4, "refused": 1}
    lake = EventsLake(tmp_path / "lake")
    StreamConsumer(client, "hooks", "lake", "only", LakeSink(lake)).drain()
    engagement = lake.read("engagement").to_pandas().sort_values("event_id")
    assert engagement["event_id"].tolist() == ["e1", "e2", "e3"]
    assert engagement["machine_open"].tolist() == [True, False, False]
    assert engagement["event_type"].tolist() == ["open", "open", "click"]
    assert lake.read("complaints").column("message_id").to_pylist() == ["m-2"]
    [batch] = ledger(client, "hooks")
    assert (batch["items_in"], batch["items_accepted"], batch["duplicates"], batch["items_quarantined"]) == (10, 4, 5, 1)
    reasons = lake.quarantined("raw").column("reason").to_pylist()
    assert len(reasons) == 1 and "delivery outcome" in reasons[0]
    assert (tmp_path / "lake" / QUARANTINE / "raw").exists()


def test_bad_posts_get_a_4xx_with_a_message(receiver):
    client, url = receiver
    auth = {"authorization": "Bearer s3cret"}
    cases = [
        (requests.post(f"{url}/webhooks/sendgrid", data=json.dumps(_post_body()), timeout=10), 401),
        (requests.post(f"{url}/webhooks/sendgrid", data=b"{not json", headers=auth, timeout=10), 400),
        (requests.post(f"{url}/webhooks/sendgrid", data=b'"text"', headers=auth, timeout=10), 400),
        (requests.post(f"{url}/webhooks/other", data=b"[]", headers=auth, timeout=10), 404),
        (requests.post(f"{url}/webhooks/sendgrid", data=b"x" * (webhooks.MAX_BODY_BYTES + 1), headers=auth,
                       timeout=10), 413),
    ]
    for answer, status in cases:
        assert answer.status_code == status and answer.json()["error"]
    assert requests.get(f"{url}/health", timeout=10).status_code == 200
    assert client.xlen("hooks") == 0  # nothing of a refused post was appended


def test_an_unreachable_stream_answers_503_so_the_platform_retries(redis_server):
    dead = connect("127.0.0.1:1")  # nothing listens there
    server = webhooks.serve(dead, "hooks")
    try:
        answer = requests.post(f"http://127.0.0.1:{server.server_address[1]}/webhooks/sendgrid",
                               data=json.dumps(_post_body()), timeout=30)
        assert answer.status_code == 503 and "retry" in answer.json()["error"]
    finally:
        server.shutdown()
