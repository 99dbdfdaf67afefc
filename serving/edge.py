"""What every small HTTP service at the edge shares (the router, the webhook receiver): a thread per
connection with a bound on connections, the bearer-token check (`serving.guard`), a declared and
bounded body read whole within the handler's timeout, and JSON replies. Stdlib only: runs in either
environment."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving.guard import TOKEN_ENV, byte_count, token_matches


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them: the accept loop waits for a
    free slot, so slow or idle clients queue in the backlog instead of growing threads."""

    daemon_threads = True

    def __init__(self, address, handler, max_connections: int) -> None:
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class GuardedHandler(BaseHTTPRequestHandler):
    """A handler whose subclass sets `token` (None: no authentication), `max_body_bytes`, `timeout`
    (a client that stops sending is dropped, its thread freed) and `service` (how errors name it)."""

    token: str | None = None
    max_body_bytes: int = 8 * 2**20
    service: str = "this service"

    def guarded_body(self) -> bytes | None:
        """The request's body once the token and the declared length pass; None when the request
        was answered (401, 400, 413) or the client closed early."""
        if not token_matches(self.token, self.headers.get("authorization")):
            self.reply_json(401, {"error": f"{self.service} needs 'Authorization: Bearer <token>' (its {TOKEN_ENV})"})
            self.close_connection = True
            return None
        length = self.headers.get("content-length", "")
        declared = byte_count(length)
        if declared is None or declared > self.max_body_bytes:
            self.reply_json(400 if declared is None else 413,
                            {"error": f"content-length must be 0..{self.max_body_bytes} bytes, got {length[:20]!r}"})
            self.close_connection = True
            return None
        body = self.rfile.read(declared)
        if len(body) < declared:  # the client closed early
            self.close_connection = True
            return None
        return body

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, payload: dict) -> None:
        self.reply(status, json.dumps(payload).encode())

    def log_message(self, *args) -> None:
        pass


def start(handler: type[GuardedHandler], host: str, port: int, max_connections: int) -> BoundedServer:
    """Serve in a background thread; returns the server (server_address has the port)."""
    server = BoundedServer((host, port), handler, max_connections)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
