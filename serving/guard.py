"""The guard in front of every served endpoint: token authentication, MLServer's model repository
API switched off, bounded bodies (decompressed ones included) read within a time limit, and
decisions written to the prediction log only once their response was handed back.

MLServer 1.7 has no setting for any of this: it decompresses a gzip body without a bound, and its
repository API (load/unload over REST and gRPC) answers anyone who can reach the port. So the local
stack starts MLServer through `serving.mlserver_main`, which wraps MLServer's REST app in
`HttpGuard` (pure ASGI) and adds `grpc_guard()` to its gRPC server. The router checks the same token.

One setting turns authentication on: the environment variable `ADAPTIVE_DELIVERY_TOKEN` (in a
cluster, from a Secret). With it set, every request but the health probes must carry
`Authorization: Bearer <token>` (gRPC: the `authorization` metadata); without it, nothing is
authenticated and everything listens on 127.0.0.1 only. Runs in either environment (grpc is
imported only by `grpc_guard`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptive_delivery.platform.decision_log import deferred

TOKEN_ENV = "ADAPTIVE_DELIVERY_TOKEN"
REPOSITORY_ENV = "ADAPTIVE_DELIVERY_REPOSITORY_API"  # "1": the repository API for this host's callers
LOOPBACK_PEERS = ("127.0.0.1", "::1", "localhost")
GUARD_FILE = "guard.json"  # beside MLServer's settings.json: the guard's limits (never the token)
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})  # probes answer without a token
OPEN_GRPC = frozenset({"/inference.GRPCInferenceService/ServerLive",
                       "/inference.GRPCInferenceService/ServerReady"})
REPOSITORY_PREFIXES = ("/v2/repository", "/inference.model_repository.ModelRepositoryService/")
MAX_BODY_BYTES = 32 * 2**20

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class GuardSettings:
    token: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES  # as received and, for gzip, once decompressed
    body_timeout_s: float = 10.0
    # Seldon's agent loads and unloads models through it from inside the server pod: switched on,
    # it answers callers on this host only (the agent sends no token); nothing else needs it
    repository_api: bool = False

    @classmethod
    def load(cls, settings_dir: Path | None = None) -> GuardSettings:
        """The limits from `guard.json` (when the folder has one), the token from the environment."""
        raw = {}
        if settings_dir is not None and (settings_dir / GUARD_FILE).exists():
            raw = json.loads((settings_dir / GUARD_FILE).read_text())
        unknown = set(raw) - {"max_body_bytes", "body_timeout_s", "repository_api"}
        if unknown:
            raise ValueError(f"{GUARD_FILE}: unknown settings {sorted(unknown)}")
        if os.environ.get(REPOSITORY_ENV):  # a cluster's server pod sets it (serving.seldon.server_config)
            raw["repository_api"] = os.environ[REPOSITORY_ENV].lower() in ("1", "true", "yes")
        return cls(token=os.environ.get(TOKEN_ENV) or None, **raw)

    def to_file(self, settings_dir: Path) -> Path:
        path = settings_dir / GUARD_FILE
        path.write_text(json.dumps({"max_body_bytes": self.max_body_bytes, "body_timeout_s": self.body_timeout_s,
                                    "repository_api": self.repository_api}, indent=2))
        return path


def auth_headers(token: str | None = None) -> dict[str, str]:
    """What a caller adds so the guard lets it in (the token, default the environment's; nothing
    when there is none)."""
    token = token or os.environ.get(TOKEN_ENV)
    return {"Authorization": f"Bearer {token}"} if token else {}


def byte_count(value: str) -> int | None:
    """A content-length as a number, or None when it is not ASCII digits (str.isdigit takes '²')."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def token_matches(expected: str | None, authorization: str | None) -> bool:
    """Constant-time check of an `Authorization: Bearer …` value; always true without a token."""
    if not expected:
        return True
    return hmac.compare_digest(f"Bearer {expected}".encode(), (authorization or "").encode("utf-8", "replace"))


class Refused(Exception):
    """A request the guard answers itself: (status, reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def refusal(path: str, authorization: str | None, settings: GuardSettings, peer: str | None = None) -> Refused | None:
    """Why a request to `path` from `peer` (an IP address) is refused before its body is read, or None."""
    if path.startswith(REPOSITORY_PREFIXES):
        if not settings.repository_api:
            return Refused(403, "the model repository API (load/unload) is switched off on this server")
        if peer not in LOOPBACK_PEERS:
            return Refused(403, "the model repository API answers callers on this host only")
        return None
    if path not in OPEN_PATHS and path not in OPEN_GRPC and not token_matches(settings.token, authorization):
        return Refused(401, f"this endpoint needs 'Authorization: Bearer <token>' (the server's {TOKEN_ENV})")
    return None


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """The body as the app must see it: gzip inflated to at most `limit` bytes, identity as is."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise Refused(415, f"content-encoding {encoding[:40]!r} is not supported (send gzip or none)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Refused(400, f"the gzip body cannot be decompressed: {exc}") from exc
    if len(out) > limit:
        raise Refused(413, f"the body decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise Refused(400, "the gzip body is truncated")
    return out


async def read_body(receive: Receive, declared: int | None, settings: GuardSettings) -> bytes:
    """The whole body, refused past the size limit or when it does not arrive within the time limit."""
    if declared is not None and declared > settings.max_body_bytes:
        raise Refused(413, f"the body is {declared} bytes; at most {settings.max_body_bytes} are accepted")
    chunks, size = [], 0

    async def collect() -> None:
        nonlocal size
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Refused(400, "the client closed the connection before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise Refused(413, f"the body exceeds {settings.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return

    try:
        await asyncio.wait_for(collect(), settings.body_timeout_s)
    except TimeoutError as exc:
        raise Refused(408, f"the body did not arrive within {settings.body_timeout_s:g} s") from exc
    return b"".join(chunks)


async def send_refusal(send: Send, refused: Refused) -> None:
    body = json.dumps({"error": refused.reason}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    if refused.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class HttpGuard:
    """Pure ASGI middleware around MLServer's REST app (see the module's docstring)."""

    def __init__(self, app: Callable, settings: GuardSettings | None = None) -> None:
        self.app = app
        self.settings = settings or GuardSettings()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            client = scope.get("client") or (None, None)
            refused = refusal(scope.get("path", ""), _header(scope, b"authorization"), self.settings, client[0])
            if refused:
                raise refused
            length = _header(scope, b"content-length")
            declared = None if length is None else byte_count(length)
            if length is not None and declared is None:
                raise Refused(400, f"content-length {length[:20]!r} is not a byte count")
            body = await read_body(receive, declared, self.settings)
            body = decode_body(body, _header(scope, b"content-encoding") or "", self.settings.max_body_bytes)
        except Refused as refused:
            await send_refusal(send, refused)
            return
        headers = [(k, v) for k, v in scope.get("headers", [])
                   if k.lower() not in (b"content-encoding", b"content-length")]
        inner = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await self._call_with_deferred_log(inner, _replay(body, receive), send)

    async def _call_with_deferred_log(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Decisions a runtime records during the call are written once a 200 has been sent."""
        status = {}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                status["sent"] = True

        with deferred() as pending:
            await self.app(scope, receive, watch)
            if status.get("code") == 200 and status.get("sent"):
                pending.commit()


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the app the checked body once, then waits for the disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def raw_contents_problem(request) -> str | None:
    """The V2 rule for raw_input_contents: one per input, and then no input carries typed contents."""
    raw = list(getattr(request, "raw_input_contents", None) or [])
    if not raw:
        return None
    inputs = list(request.inputs)
    if len(raw) != len(inputs):
        return f"raw_input_contents has {len(raw)} entries for {len(inputs)} inputs"
    typed = [inp.name for inp in inputs if inp.HasField("contents")]
    if typed:
        return f"inputs {typed[:5]} carry contents as well as raw_input_contents: send one or the other"
    for inp, data in zip(inputs, raw, strict=True):
        count = 1
        for dim in inp.shape:
            count *= max(dim, 0)
        found = _raw_values(inp.datatype, data)
        if found is not None and found != count:
            return (f"raw contents of input {inp.name!r} hold {found if found >= 0 else 'no whole'} "
                    f"{inp.datatype} values for shape {list(inp.shape)}")
    return None


RAW_SIZES = {"BOOL": 1, "UINT8": 1, "INT8": 1, "UINT16": 2, "INT16": 2, "FP16": 2, "UINT32": 4, "INT32": 4,
             "FP32": 4, "UINT64": 8, "INT64": 8, "FP64": 8}


def _raw_values(datatype: str, data: bytes) -> int | None:
    """How many values raw V2 contents of fixed-size values hold, -1 when they do not divide into
    whole values; None for BYTES, which `serving.raw_tensors` counts where it parses them (once:
    counting them here too cost 4 ms for a batch of 1,000 messages)."""
    if datatype == "BYTES":
        return None
    if datatype in RAW_SIZES:
        size = RAW_SIZES[datatype]
        return len(data) // size if len(data) % size == 0 else -1
    return -1


def grpc_peer_address(peer: str) -> str:
    """The IP address in a gRPC peer string ('ipv4:127.0.0.1:5000', 'ipv6:[::1]:5000'); a Unix
    socket is this host."""
    kind, _, rest = peer.partition(":")
    if kind == "unix":
        return "localhost"
    if kind == "ipv6":
        return rest.rsplit("]", 1)[0].lstrip("[")
    return rest.rsplit(":", 1)[0]


def grpc_guard(settings: GuardSettings):
    """A grpc.aio server interceptor: the repository service refused unless enabled, the token
    checked on every method but the health probes, and inference decisions logged once answered."""
    import grpc

    codes = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}

    def refusing(handler, refused: Refused):
        async def abort(request_or_iterator, context):
            await context.abort(codes[refused.status], refused.reason)

        kinds = {(False, False): grpc.unary_unary_rpc_method_handler,
                 (False, True): grpc.unary_stream_rpc_method_handler,
                 (True, False): grpc.stream_unary_rpc_method_handler,
                 (True, True): grpc.stream_stream_rpc_method_handler}
        make = kinds[(handler.request_streaming, handler.response_streaming)]
        return make(abort, request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer)

    class Undecodable:
        """What a request that is not the method's protobuf becomes (grpc would answer UNKNOWN)."""

        def __init__(self, exc: Exception) -> None:
            self.reason = f"the request is not a valid protobuf of this method: {exc}"

    def tolerant(deserialize):
        def parse(raw: bytes):
            try:
                return deserialize(raw) if deserialize else raw
            except Exception as exc:  # noqa: BLE001 (any parse failure is the caller's)
                return Undecodable(exc)

        return parse

    def checked(handler, infer: bool):
        """A unary handler that refuses undecodable requests with INVALID_ARGUMENT and, for
        inference, raw tensor contents that break the V2 rules; decisions logged once answered."""
        inner = handler.unary_unary

        async def behaviour(request, context):
            if isinstance(request, Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            problem = raw_contents_problem(request) if infer else None
            if problem:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
            with deferred() as pending:
                response = await inner(request, context)
                pending.commit()
                return response

        return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=tolerant(handler.request_deserializer),
                                                   response_serializer=handler.response_serializer)

    def local_only(handler):
        inner = handler.unary_unary

        async def behaviour(request, context):
            refused = refusal(REPOSITORY_PREFIXES[1], None, settings, grpc_peer_address(context.peer()))
            if refused:
                await context.abort(codes[refused.status], refused.reason)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)

    class Guard(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, details):
            handler = await continuation(details)
            if handler is None:
                return None
            if details.method.startswith(REPOSITORY_PREFIXES) and settings.repository_api and handler.unary_unary:
                return local_only(handler)  # the peer is known only once the call runs
            metadata = dict(details.invocation_metadata or ())
            refused = refusal(details.method, metadata.get("authorization"), settings, None)
            if refused:
                return refusing(handler, refused)
            if handler.unary_unary is not None:
                return checked(handler, infer=details.method.endswith("/ModelInfer"))
            return handler

    return Guard()
