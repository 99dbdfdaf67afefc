"""The local stand-in for Seldon Core v2's experiment routing, in front of MLServer on 127.0.0.1.

It routes what the cluster's Experiment resource (`serving.seldon.experiment`, from the rollout
controller's state) tells Seldon to route, the way Seldon does it:
- a request to the model id's name (`mdl-001`) goes to one of the experiment's candidates, drawn
  at random by their weights (canary and ramp), or to the default (control) model in shadow;
- the mirror (shadow) gets a copy of every request; its answer is logged, never returned;
- a `seldon-model` header pins the request to the model it names (how the sending side keeps a
  subscriber on one model: it splits a batch by the FNV-1a bucket, `arms_of`, and pins each part);
- the response's `x-seldon-route` header says which model answered.
A pin or a model name must be one this router serves (`mdl-001` or `mdl-001-v<N>`); a body must
arrive whole within `body_timeout` and be at most MAX_BODY_BYTES; at most `max_connections`
connections are handled at once (the rest wait in the listen queue). With ADAPTIVE_DELIVERY_TOKEN
set, a request without `Authorization: Bearer <token>` gets 401 (`serving.guard`), and the router
sends the same token on to MLServer.
With no experiment running, the model id's name goes to the champion (`mdl-001`). The state is
re-read on every request, so a rollout decision changes the routing at once, as on a cluster.
Runs in either environment (stdlib HTTP server + requests).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import requests

from serving.edge import BoundedServer, GuardedHandler, start
from serving.guard import TOKEN_ENV, auth_headers

PIN_HEADER = "seldon-model"
ROUTE_HEADER = "x-seldon-route"
MAX_BODY_BYTES = 32 * 2**20


def choose(experiment: dict | None, pinned: str | None, rng: random.Random) -> tuple[str | None, str | None]:
    """(model that answers, model that gets a mirrored copy) for one request, as Seldon decides;
    (None, None) when there is no experiment and nothing pinned (the caller's default applies)."""
    if pinned:
        return pinned, None
    if experiment is None:
        return None, None
    spec = experiment["spec"]
    candidates = spec.get("candidates") or [{"name": spec["default"], "weight": 100}]
    names = [c["name"] for c in candidates]
    weights = [max(0, int(c.get("weight", 0))) for c in candidates]
    answer = rng.choices(names, weights=weights)[0] if sum(weights) else spec["default"]
    mirror = spec.get("mirror")
    copy = mirror["name"] if mirror and rng.random() * 100 < mirror.get("percent", 100) else None
    return answer, copy


def arms_of(subscriber_ids: list[str], experiment_id: str, share: float, control: str, candidate: str) -> list[str]:
    """The model each message must be pinned to: the controller's sticky FNV-1a assignment."""
    from adaptive_delivery.platform.rollout.assignment import in_treatment

    treated = in_treatment(subscriber_ids, experiment_id, share)
    return [candidate if t else control for t in treated]


class Router:
    """Routes V2 inference requests for `model_name` to MLServer at `backend`."""

    def __init__(self, backend: str, model_name: str, experiment: Callable[[], dict | None], seed: int | None = None):
        self.backend = backend.rstrip("/")
        self.model_name = model_name
        self.experiment = experiment
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.routed: Counter[str] = Counter()
        self.mirrored: Counter[str] = Counter()
        self.session = requests.Session()
        self.backend_headers = {"content-type": "application/json", **auth_headers()}

    def serves(self, name: str) -> bool:
        """The model id's name or one of its versions (`mdl-001-v3`), nothing else."""
        return re.fullmatch(rf"{re.escape(self.model_name)}(-v\d{{1,9}})?", name) is not None

    def handle(self, name: str, body: bytes, pinned: str | None) -> tuple[int, bytes, str]:
        """(status, body, model that answered)."""
        if not self.serves(name):
            return 404, json.dumps({"error": f"unknown model {name[:80]!r}; this router serves {self.model_name}"}).encode(), ""
        if pinned is not None and not self.serves(pinned):
            return 400, json.dumps({"error": f"{PIN_HEADER} {pinned[:80]!r} names no model this router serves "
                                             f"({self.model_name} or {self.model_name}-v<N>)"}).encode(), ""
        with self.lock:
            answer, copy = choose(self.experiment() if name == self.model_name else None, pinned, self.rng)
        answer = answer or name
        if copy:
            threading.Thread(target=self._mirror, args=(copy, body), daemon=True).start()
        try:
            r = self.session.post(f"{self.backend}/v2/models/{answer}/infer", data=body,
                                  headers=self.backend_headers, timeout=30)
        except requests.RequestException as exc:
            return 503, json.dumps({"error": f"model {answer} unreachable: {exc}"}).encode(), answer
        with self.lock:
            self.routed[answer] += 1
        return r.status_code, r.content, answer

    def _mirror(self, model: str, body: bytes) -> None:
        try:
            r = requests.post(f"{self.backend}/v2/models/{model}/infer", data=body,
                              headers=self.backend_headers, timeout=30)
            if r.status_code == 200:
                with self.lock:
                    self.mirrored[model] += 1
        except requests.RequestException:
            pass  # a mirror's failure never reaches the caller


def serve(router: Router, host: str = "127.0.0.1", port: int = 0, body_timeout: float = 10.0,
          max_connections: int = 64, token: str | None = None) -> BoundedServer:
    """Start the router's HTTP server in a background thread; returns it (server_address has the port).
    `token` (default: ADAPTIVE_DELIVERY_TOKEN) is what callers must send as a bearer token."""
    import os

    token = token if token is not None else os.environ.get(TOKEN_ENV)

    class Handler(GuardedHandler):
        timeout = body_timeout
        max_body_bytes = MAX_BODY_BYTES
        service = "this router"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            parts = self.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "v2" or parts[1] != "models" or parts[3] != "infer":
                self.reply_json(404, {"error": f"no route {self.path[:80]}; POST /v2/models/<name>/infer"})
                return
            body = self.guarded_body()
            if body is None:
                return
            status, answer, model = router.handle(parts[2], body, self.headers.get(PIN_HEADER))
            self.reply(status, answer, {ROUTE_HEADER: f":{model}:"} if model else None)

    Handler.token = token
    return start(Handler, host, port, max_connections)


def experiment_from_state(state: Path, model_id: str) -> Callable[[], dict | None]:
    """Reads the controller's state on each call: the running experiment's Seldon resource."""
    from adaptive_delivery.platform.rollout.controller import RolloutStore, Status
    from serving.seldon import experiment

    def current() -> dict | None:
        if not state.exists():
            return None
        running = [e for e in RolloutStore(state).list() if e.model_id == model_id and e.status == Status.RUNNING]
        return experiment(running[-1]) if running else None

    return current


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="http://127.0.0.1:8080", help="MLServer serving every version")
    parser.add_argument("--state", type=Path, default=Path("runs/rollouts"), help="the rollout controller's state")
    parser.add_argument("--model", default="MDL-001")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    router = Router(args.backend, args.model.lower(), experiment_from_state(args.state, args.model))
    server = serve(router, port=args.port)
    print(f"routing {args.model.lower()} at http://127.0.0.1:{server.server_address[1]}/v2/models/"
          f"{args.model.lower()}/infer to {args.backend} as {args.state} says; Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
