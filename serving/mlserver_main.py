"""`mlserver start FOLDER` with the serving guard (`serving.guard`) installed on both of MLServer's
servers: the REST app is wrapped in `HttpGuard`, and the gRPC server gets `grpc_guard` as its first
interceptor; raw gRPC tensor contents are packed with numpy (`serving.raw_tensors`), and a
raw-tensor request to one of the project's runtimes goes from its bytes to the runtime and back
(`serving.fast_infer`). Limits come from FOLDER/guard.json, the token from ADAPTIVE_DELIVERY_TOKEN. Runs in the
serving environment: `python -m serving.mlserver_main start FOLDER` (what `serving.local.start` runs).
"""

from __future__ import annotations

import sys
from pathlib import Path

from serving import fast_infer, raw_tensors
from serving.guard import GuardSettings, HttpGuard, grpc_guard


class _GuardedAio:
    """grpc.aio as MLServer's gRPC module sees it, whose server() puts the guard first."""

    def __init__(self, aio, interceptor) -> None:
        self._aio, self._interceptor = aio, interceptor

    def __getattr__(self, name: str):
        return getattr(self._aio, name)

    def server(self, *args, interceptors=(), **kwargs):
        return self._aio.server(*args, interceptors=[self._interceptor, *interceptors], **kwargs)


def install(settings: GuardSettings) -> None:
    """Wrap MLServer's app factory and gRPC server constructor; call before MLServer starts."""
    import mlserver.grpc.server as grpc_server
    import mlserver.rest.server as rest_server

    create_app = rest_server.create_app

    def guarded_app(*args, **kwargs):
        app = create_app(*args, **kwargs)
        app.add_middleware(HttpGuard, settings=settings)  # added last: the outermost layer
        return app

    rest_server.create_app = guarded_app
    grpc_server.aio = _GuardedAio(grpc_server.aio, grpc_guard(settings))
    raw_tensors.install()  # raw gRPC contents packed at numpy speed
    fast_infer.install()  # raw-tensor requests to columnar runtimes skip pydantic


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] != "start":
        raise SystemExit("usage: python -m serving.mlserver_main start FOLDER")
    install(GuardSettings.load(Path(argv[1])))
    from mlserver.cli.main import main as mlserver_main

    sys.argv = ["mlserver", *argv]
    mlserver_main()


if __name__ == "__main__":
    main(sys.argv[1:])
