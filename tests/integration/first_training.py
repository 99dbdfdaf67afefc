"""What every pipeline test checks first about the run its module trained: it finished, and its
challenger is the registry's first version; the metrics that version logged are what it asserts on.
And what the supervised models' tests share after it: a second run by the retraining DAG, gated
against the first, and the challenger served by MLServer."""

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


def retrain_against_champion(trained, spec: ModelSpec) -> tuple:
    """Its retraining DAG run once more in `airflow dags test` (the pipeline's steps in the task's
    process) after the fixture's first training: (registry client, the second version, its run's
    tags), asserting the run succeeded, gated against version 1, and moved the champion only on a
    pass."""
    from datetime import date

    from adaptive_delivery.cli.main_job import airflow_dags_test, airflow_env
    from adaptive_delivery.platform.training.registry import CHAMPION

    root, result = trained
    assert result.exit_code == 0, result.output
    uri = default_tracking_uri(root / "mlflow")
    env = airflow_env(root / "airflow", {"AD_PROFILE": "local", "AD_HOME": str(root), "AD_TRACKING_URI": uri,
                                         "AD_TRAINING_PROFILE": "smoke", "AD_PIPELINE_RUNNER": "in-process"})
    dag_id = f"ad_retrain_{spec.model_id.lower().replace('-', '_')}"
    log = root / "logs" / f"{dag_id}.log"
    code = airflow_dags_test(dag_id, date(2026, 3, 15), env, conf={"reason": "integration test", "holdout_days": 2},
                             log=log)
    out = log.read_text()
    assert code == 0 and "state=success" in out, out[-4000:]
    client = Tracking(uri).client()
    second = client.get_model_version(spec.registered_name, "2")
    tags = client.get_run(second.run_id).data.tags
    # the version's gate tag is the run's verdict (the DAG records it; nothing else moves the alias)
    assert second.tags["gate"] == ("passed" if tags["promoted"] == "true" else "failed"), tags["verdict"]
    assert "champion" in tags["verdict"] and "no champion yet" not in tags["verdict"]  # judged against version 1
    champion, _ = alias_metrics(client, spec, CHAMPION)
    assert champion == ("2" if second.tags["gate"] == "passed" else "1")
    return client, second, tags


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


def infer(server, name: str, body: dict):
    """A V2 REST inference request for model `name` on a test server."""
    import requests

    return requests.post(f"{server.url}/v2/models/{name}/infer", json=body, timeout=60)


def answers_as_registered(server, folder, name: str, frame, body: dict, outputs) -> dict[str, list]:
    """The served answer to `frame` (sent as the V2 `body`), output by output equal to what the
    registered pyfunc in `folder` predicts offline (text and flags exactly, numbers within 1e-9);
    returns the served outputs by name."""
    import mlflow.pyfunc
    import pytest

    r = infer(server, name, body)
    assert r.status_code == 200, r.text
    got = {o["name"]: o["data"] for o in r.json()["outputs"]}
    want = mlflow.pyfunc.load_model(str(folder)).predict(frame)
    assert list(got) == list(outputs)
    for col in outputs:
        expected = want[col].tolist()
        assert got[col] == (expected if want[col].dtype in (object, bool) else pytest.approx(expected, abs=1e-9)), col
    return got


def train_smoke(root, spec: ModelSpec):
    """`adaptive-delivery model train MODEL --profile smoke --runner in-process` into `root` (its
    world and MLflow there): the `(root, CliRunner result)` a pipeline test's fixture returns."""
    from typer.testing import CliRunner

    from adaptive_delivery.cli import app

    result = CliRunner().invoke(app, ["model", "train", spec.model_id, "--profile", "smoke", "--runner", "in-process",
                                      "--world", str(root / "world"), "--mlflow-home", str(root / "mlflow")])
    return root, result


def grpc_answers_as_rest(server, name: str, body: dict, folder, raw: bool = False) -> None:
    """The gRPC client's answer to a V2 request body equals the REST answer, output by output
    (text and flags exactly, numbers approximately)."""
    import pytest

    rest = {o["name"]: o["data"] for o in infer(server, name, body).json()["outputs"]}
    reply = grpc_outputs(server, name, body, folder, raw=raw)
    assert reply.keys() == rest.keys()
    for output, values in rest.items():
        got = [v.decode() if isinstance(v, bytes) else v for v in reply[output]]
        assert got == (values if isinstance(values[0], str | bool) else pytest.approx(values)), output


def monitor_on_logs(trained, spec: ModelSpec, lake) -> tuple[dict, object, object]:
    """The monitoring job (`jobs.monitor`, what the ad_monitor DAG runs) on the fixture's first
    version as champion, with `lake` as the deployment's logs, for the day 2026-03-13 (the twelve-day
    world's last): (the report it wrote, the deployment, the registry client)."""
    import json
    from datetime import UTC, datetime

    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.platform.training.registry import CHAMPION

    root, client, _ = first_challenger(trained, spec)
    if CHAMPION not in client.get_model_version(spec.registered_name, "1").aliases:
        client.set_registered_model_alias(spec.registered_name, CHAMPION, "1")  # whatever its smoke gate said
    home = root / "deployment"
    home.mkdir(exist_ok=True)
    if not (home / "lake").exists():
        (home / "lake").symlink_to(lake, target_is_directory=True)
    dep = jobs.deployment({"AD_PROFILE": "local", "AD_HOME": str(home),
                           "AD_TRACKING_URI": default_tracking_uri(root / "mlflow")})
    jobs.monitor(dep, spec.model_id, datetime(2026, 3, 13, tzinfo=UTC), datetime(2026, 3, 14, tzinfo=UTC))
    report = json.loads((dep.reports / "monitor" / spec.model_id / "2026-03-14T0000" / "monitor.json").read_text())
    return report, dep, client
