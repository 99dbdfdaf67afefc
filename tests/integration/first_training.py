"""What every pipeline test checks first about the run its module trained: it finished, and its
challenger is the registry's first version; the metrics that version logged are what it asserts on."""

from __future__ import annotations

from adaptive_delivery.platform.spec import ModelSpec
from adaptive_delivery.platform.training.registry import CHALLENGER, alias_metrics
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri


def first_challenger(trained, spec: ModelSpec):
    """(root, registry client, challenger metrics) of a `(root, CliRunner result)` training fixture."""
    root, result = trained
    assert result.exit_code == 0, result.output
    client = Tracking(default_tracking_uri(root / "mlflow")).client()
    version, metrics = alias_metrics(client, spec, CHALLENGER)
    assert version == "1"
    return root, client, metrics


def serve_challenger(trained, spec: ModelSpec, name: str):
    """(server, model folder): the fixture's challenger served as `name` by MLServer on 127.0.0.1
    (skips where the serving environment is not built); stop the server after."""
    import pytest

    from serving import local

    root, result = trained
    assert result.exit_code == 0, result.output
    if not local.SERVING_PYTHON.exists():
        pytest.skip("the serving environment is not built (make serving-env)")
    client = Tracking(default_tracking_uri(root / "mlflow")).client()
    return local.serve_alias(client, spec.registered_name, CHALLENGER, root, name, spec.runtime)


def grpc_outputs(server, model: str, body: dict, folder, raw: bool = False) -> dict[str, list]:
    """The outputs the gRPC client (`serving.grpc_client`, `--raw` for raw tensors) gets for a V2
    JSON request body, by name; the request is written under `folder`."""
    import json
    import subprocess

    from serving import local

    request = folder / "request.json"
    request.write_text(json.dumps(body))
    done = subprocess.run([str(local.SERVING_PYTHON), "-m", "serving.grpc_client", "--port", str(server.grpc_port),
                           "--model", model, *(["--raw"] if raw else []), str(request)], capture_output=True,
                          text=True, timeout=60, cwd=local.REPO)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    return {o["name"]: o["data"] for o in json.loads(done.stdout.strip().splitlines()[-1])["outputs"]}
