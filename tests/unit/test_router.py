"""The local router under hostile clients, against a stand-in backend: a pin or a model name it
does not serve never reaches MLServer's other endpoints, a bad or short body is answered or
dropped within the timeout, and idle connections cannot grow its threads without bound."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from serving import router as rt


@pytest.fixture
def backend():
    """Records every path it is asked for; answers 200."""
    seen: list[str] = []

    class Backend(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("authorization", "Bearer s3cret") != "Bearer s3cret":  # what the router forwards
                self.send_error(401)
                return
            seen.append(self.path)
            body = json.dumps({"outputs": []}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


@pytest.fixture
def routed(backend):
    url, seen = backend
    server = rt.serve(rt.Router(url, "mdl-001", lambda: None, seed=1), body_timeout=1.0, max_connections=8)
    yield f"http://127.0.0.1:{server.server_address[1]}", seen, server
    server.shutdown()


@pytest.mark.parametrize("pin", ["../repository/models/mdl-001/unload?", "mdl-001-v1/../../x", "mdl-0011", "other",
                                 "mdl-001-v", "mdl-001-vx"])
def test_a_pin_it_does_not_serve_is_refused_and_never_forwarded(routed, pin):
    url, seen, _ = routed
    r = requests.post(f"{url}/v2/models/mdl-001/infer", data=b"{}", headers={rt.PIN_HEADER: pin}, timeout=10)
    assert r.status_code == 400 and rt.PIN_HEADER in r.json()["error"] and seen == []


def test_served_names_and_pins_are_forwarded(routed):
    url, seen, _ = routed
    assert requests.post(f"{url}/v2/models/mdl-001/infer", data=b"{}", timeout=10).status_code == 200
    r = requests.post(f"{url}/v2/models/mdl-001/infer", data=b"{}", headers={rt.PIN_HEADER: "mdl-001-v12"}, timeout=10)
    assert r.status_code == 200 and r.headers[rt.ROUTE_HEADER] == ":mdl-001-v12:"
    assert requests.post(f"{url}/v2/models/mdl-001-v12x/infer", data=b"{}", timeout=10).status_code == 404
    assert seen == ["/v2/models/mdl-001/infer", "/v2/models/mdl-001-v12/infer"]


def _raw(port: int, head: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head)
    return s


def test_a_negative_or_missing_length_gets_400_and_a_short_body_is_dropped(routed):
    url, seen, server = routed
    port = server.server_address[1]
    for length in (b"-1", b"abc", b"99999999999999"):
        s = _raw(port, b"POST /v2/models/mdl-001/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n")
        assert s.recv(1000).split(b" ")[1] in (b"400", b"413")
        s.close()
    started = time.monotonic()
    s = _raw(port, b"POST /v2/models/mdl-001/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"")
    assert s.recv(1000) == b""  # closed by the router once the body stalls
    assert time.monotonic() - started < 9 and seen == []
    s.close()


def test_idle_connections_do_not_grow_threads_past_the_bound(routed):
    url, _, server = routed
    port = server.server_address[1]
    before = threading.active_count()
    idle = [_raw(port, b"POST /v2/models/mdl-001/infer HTTP/1.1\r\n") for _ in range(40)]
    time.sleep(0.5)
    assert threading.active_count() - before <= 8
    for s in idle:
        s.close()
    deadline = time.monotonic() + 10  # the held slots free up (timeouts, closes) and service resumes
    while time.monotonic() < deadline:
        try:
            if requests.post(f"{url}/v2/models/mdl-001/infer", data=b"{}", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
    else:
        pytest.fail("the router did not serve again after the idle clients left")


def test_with_a_token_only_the_bearer_is_routed_and_the_token_goes_on_to_mlserver(backend, monkeypatch):
    url, seen = backend
    monkeypatch.setenv("ADAPTIVE_DELIVERY_TOKEN", "s3cret")
    server = rt.serve(rt.Router(url, "mdl-001", lambda: None, seed=1), body_timeout=1.0, max_connections=8)
    front = f"http://127.0.0.1:{server.server_address[1]}/v2/models/mdl-001/infer"
    try:
        for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": "s3cret"}):
            r = requests.post(front, data=b"{}", headers=headers, timeout=10)
            assert r.status_code == 401 and "Bearer" in r.json()["error"]
        assert seen == []
        assert requests.post(front, data=b"{}", headers={"authorization": "Bearer s3cret"}, timeout=10).status_code == 200
        assert seen == ["/v2/models/mdl-001/infer"]
    finally:
        server.shutdown()
