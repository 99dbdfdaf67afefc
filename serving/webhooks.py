"""The engagement webhook receiver: a sending platform posts subscriber events (opens, with the
machine-open flag, clicks, unsubscribes, spam reports) and they go into the events stream.

POST /webhooks/sendgrid with a JSON array of events (`delivery.events.webhooks` reads them). The
answer is 200 only once every event of the post is appended to the stream (the platform retries
anything else, and the consumer drops the repeats by event id), with how many were taken and how
many refused (a refused event travels on with its reason into the lake's raw quarantine); a body
that is not a JSON array gets 400 with why, a post over MAX_BODY_BYTES 413, Redis unreachable 503.
Listens on 127.0.0.1 unless told otherwise; with ADAPTIVE_DELIVERY_TOKEN set, a post without
`Authorization: Bearer <token>` gets 401 (`serving.guard`). GET /health answers without a token.
Runs in the platform environment (stdlib HTTP server + redis).
"""

from __future__ import annotations

import os
import time
import uuid

import redis

from adaptive_delivery.delivery.events.stream import REFUSED
from adaptive_delivery.delivery.events.webhooks import WebhookError, stream_entries
from adaptive_delivery.platform.streams import publish
from serving.edge import BoundedServer, GuardedHandler, start
from serving.guard import TOKEN_ENV

PATH = "/webhooks/sendgrid"
MAX_BODY_BYTES = 8 * 2**20


def serve(client: redis.Redis, stream: str, host: str = "127.0.0.1", port: int = 0, body_timeout: float = 10.0,
          max_connections: int = 32, token: str | None = None) -> BoundedServer:
    """Start the receiver in a background thread; returns the server (server_address has the port)."""
    token = token if token is not None else os.environ.get(TOKEN_ENV)

    class Handler(GuardedHandler):
        timeout = body_timeout
        max_body_bytes = MAX_BODY_BYTES
        service = "this receiver"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/health":
                self.reply_json(200, {"status": "ok"})
            else:
                self.reply_json(404, {"error": f"no route {self.path[:80]}; POST {PATH}"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?", 1)[0] != PATH:
                self.reply_json(404, {"error": f"no route {self.path[:80]}; POST {PATH}"})
                return
            body = self.guarded_body()
            if body is None:
                return
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
            try:
                entries = list(stream_entries(body, name))
            except WebhookError as exc:
                self.reply_json(400, {"error": str(exc)})
                return
            try:
                publish(client, stream, entries)
            except redis.RedisError as exc:
                self.reply_json(503, {"error": f"the events stream is unavailable ({type(exc).__name__}); retry"})
                return
            refused = sum(1 for kind, _ in entries if kind == REFUSED)
            self.reply_json(200, {"accepted": len(entries) - refused, "refused": refused})

    Handler.token = token
    return start(Handler, host, port, max_connections)
