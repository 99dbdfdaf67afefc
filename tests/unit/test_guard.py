"""The serving guard (`serving.guard`) as an ASGI layer, without MLServer: token, repository API,
size and time limits on bodies (decompressed ones included), and the prediction log written only
for responses that went out. The same guard in front of a real MLServer is tested in
tests/integration/test_serving_fuzz.py."""

import asyncio
import gzip
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptive_delivery.platform import decision_log
from serving.guard import GuardSettings, HttpGuard, Refused, decode_body, token_matches

LOG = "decisions.jsonl"


class App:
    """Stands for MLServer's app: records what reached it, logs one decision, answers `status`."""

    def __init__(self, status: int = 200, log=None, fail: bool = False) -> None:
        self.status, self.log, self.fail, self.seen = status, log, fail, []

    async def __call__(self, scope, receive, send) -> None:
        message = await receive()
        self.seen.append((scope, message["body"]))
        if self.log is not None:
            decision_log.record(self.log, [{"message_id": "m1", "action": "send_now"}])
        if self.fail:
            raise RuntimeError("the model failed after deciding")
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def call(guard: HttpGuard, path: str = "/v2/models/mdl-001/infer", headers: dict | None = None,
         chunks: list[bytes] | None = None, delay: float = 0.0, client: str = "127.0.0.1") -> tuple[int, dict]:
    """(status, JSON body) of one request through the guard; `chunks` arrive `delay` s apart."""
    chunks = [b"{}"] if chunks is None else chunks
    raw = [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": "POST", "path": path, "headers": raw, "client": (client, 50000)}
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        if not queue:
            await asyncio.sleep(3600)
        await asyncio.sleep(delay)
        return queue.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body or b"{}")


def test_without_a_token_setting_requests_pass_and_with_one_only_the_bearer_does():
    open_app, closed_app = App(), App()
    assert call(HttpGuard(open_app))[0] == 200 and len(open_app.seen) == 1
    closed = HttpGuard(closed_app, GuardSettings(token="s3cret"))
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}, {"authorization": "Bearer s3cret "}):
        status, body = call(closed, headers=headers)
        assert status == 401 and "Bearer" in body["error"], headers
    assert not closed_app.seen
    assert call(closed, headers={"authorization": "Bearer s3cret"})[0] == 200
    assert call(closed, path="/v2/health/ready")[0] == 200  # probes stay open
    assert call(closed, path="/v2/models/mdl-001/ready")[0] == 401


def test_the_repository_api_is_refused_even_with_the_token_unless_switched_on_and_then_to_other_hosts():
    for path in ("/v2/repository/index", "/v2/repository/models/mdl-001/unload", "/v2/repository/models/x/load"):
        status, body = call(HttpGuard(App(), GuardSettings(token="t")), path=path, headers={"authorization": "Bearer t"})
        assert status == 403 and "switched off" in body["error"]
        on = HttpGuard(App(), GuardSettings(token="t", repository_api=True))
        assert call(on, path=path, client="127.0.0.1")[0] == 200  # Seldon's agent, in the pod, without a token
        status, body = call(on, path=path, client="10.0.0.7", headers={"authorization": "Bearer t"})
        assert status == 403 and "this host only" in body["error"]


def test_grpc_peers_are_read_as_addresses(monkeypatch):
    from serving.guard import REPOSITORY_ENV, grpc_peer_address

    assert grpc_peer_address("ipv4:127.0.0.1:5000") == "127.0.0.1"
    assert grpc_peer_address("ipv6:[::1]:5000") == "::1" and grpc_peer_address("ipv4:10.1.2.3:9") == "10.1.2.3"
    assert grpc_peer_address("unix:mlserver.sock") == "localhost"
    monkeypatch.setenv(REPOSITORY_ENV, "1")
    assert GuardSettings.load().repository_api


def test_a_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(b"0" * (64 * 2**20), compresslevel=9)  # 64 MiB of zeros in ~64 KiB
    app = App()
    status, body = call(HttpGuard(app, GuardSettings(max_body_bytes=2**20)), headers={"content-encoding": "gzip"},
                        chunks=[bomb])
    assert status == 413 and "decompresses" in body["error"] and not app.seen
    small = json.dumps({"inputs": []}).encode()
    status, _ = call(HttpGuard(app), headers={"content-encoding": "gzip"}, chunks=[gzip.compress(small)])
    scope, seen = app.seen[-1]
    assert status == 200 and seen == small
    assert dict(scope["headers"]).get(b"content-length") == str(len(small)).encode()
    assert b"content-encoding" not in dict(scope["headers"])  # the app never inflates it again


@pytest.mark.parametrize(("encoding", "payload", "status"), [
    ("gzip", b"not gzip at all", 400), ("gzip", gzip.compress(b"{}" * 1000, mtime=0)[:-12], 400),
    ("br", b"{}", 415), ("deflate", zlib.compress(b"{}"), 415)],
    ids=["not gzip", "truncated gzip", "brotli", "deflate"])  # stable ids: xdist workers must collect alike
def test_undecodable_or_unsupported_bodies_get_a_4xx(encoding, payload, status):
    got, body = call(HttpGuard(App()), headers={"content-encoding": encoding}, chunks=[payload])
    assert got == status and body["error"]


def test_oversized_slow_and_abandoned_bodies_are_refused():
    limits = GuardSettings(max_body_bytes=1000, body_timeout_s=0.2)
    assert call(HttpGuard(App(), limits), headers={"content-length": "5000"})[0] == 413
    assert call(HttpGuard(App(), limits), chunks=[b"x" * 600, b"x" * 600])[0] == 413  # chunked, no length
    assert call(HttpGuard(App(), limits), headers={"content-length": "-1"})[0] == 400
    assert call(HttpGuard(App(), limits), chunks=[b"{", b"}"], delay=0.15)[0] == 408
    app = App()
    guard = HttpGuard(app, limits)

    async def run():
        sent = []

        async def receive():
            return {"type": "http.disconnect"}

        async def send(m):
            sent.append(m)

        await guard({"type": "http", "path": "/v2/models/a/infer", "headers": []}, receive, send)
        return sent

    assert asyncio.run(run())[0]["status"] == 400 and not app.seen


def test_decisions_are_logged_only_for_responses_that_went_out(tmp_path):
    log = tmp_path / LOG
    call(HttpGuard(App(log=log)))
    assert [json.loads(x)["message_id"] for x in log.read_text().splitlines()] == ["m1"]
    call(HttpGuard(App(status=400, log=log)))
    with pytest.raises(RuntimeError):
        call(HttpGuard(App(log=log, fail=True)))
    assert len(log.read_text().splitlines()) == 1  # neither the refused nor the failed answer
    decision_log.record(log, [{"message_id": "batch"}])  # outside a request: written at once
    assert len(log.read_text().splitlines()) == 2


def test_token_comparison_handles_any_header_text():
    assert token_matches(None, None) and token_matches("", "anything")
    assert not token_matches("t", None) and not token_matches("t", "Bearer t\u00e9")
    assert token_matches("t\u00e9", "Bearer t\u00e9")


headers = st.dictionaries(st.sampled_from(["content-length", "content-encoding", "authorization", "x-other"]),
                          st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=30), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(["/v2/models/mdl-001/infer", "/v2/repository/index", "/v2/health/ready", "/x"]),
       headers=headers, chunks=st.lists(st.binary(max_size=700), max_size=4),
       token=st.sampled_from([None, "t"]))
def test_the_guard_answers_any_request_with_a_4xx_or_hands_the_app_a_bounded_body(path, headers, chunks, token):
    """An invariant: the guard never raises, refuses with a 4xx and a reason, or passes a body
    within the limit to the app (and only with the right token, never to the repository API)."""
    app = App()
    limits = GuardSettings(token=token, max_body_bytes=1000, body_timeout_s=1.0)
    status, body = call(HttpGuard(app, limits), path=path, headers=headers, chunks=chunks or [b""])
    if status != 200:
        assert 400 <= status < 500 and body["error"] and not app.seen
        return
    assert len(app.seen) == 1 and len(app.seen[0][1]) <= 1000
    assert not path.startswith("/v2/repository")
    if token and path != "/v2/health/ready":
        assert headers.get("authorization") == "Bearer t"


def test_decode_body_bounds_memory_by_the_limit():
    with pytest.raises(Refused) as refused:
        decode_body(gzip.compress(b"a" * 10_000), "gzip", 100)
    assert refused.value.status == 413
    assert decode_body(b"abc", " Identity ", 2) == b"abc"  # identity is passed as received
