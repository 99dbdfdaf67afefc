"""MDL-007 through the platform for real: `adaptive-delivery model train MDL-007 --profile smoke`
runs its pipeline (train on the corpus's time split, evaluate on the unseen block beside the TF-IDF
baseline, register + gate), its steps in this process (`--runner in-process`: KFP's local runner
runs the same policy-pipeline steps in MDL-003's test); the registered scorer is resolved by alias,
served by MLServer on 127.0.0.1 from the serving environment, and answers V2 requests (REST and
gRPC) exactly as the registered pyfunc does offline; bad requests get 400 with a reason.

The corpus is a tenth of the shared SpamAssassin corpus, every folder thinned evenly (the time
split still has every block), so the pipeline trains in about a minute."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from first_training import answers_as_registered, first_challenger, infer, serve_challenger
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.models.mdl007_content.corpus import HAM_FOLDERS, SPAM_FOLDERS
from adaptive_delivery.delivery.models.mdl007_content.service import OUTPUTS, example_request
from adaptive_delivery.delivery.models.mdl007_content.training import CORPUS_ENV
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import evaluate_gates
from serving import local

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-007")
EVERY = 10  # one file in ten of each folder


@pytest.fixture(scope="module")
def trained(spamassassin_corpus, tmp_path_factory):
    corpus = tmp_path_factory.mktemp("thin-corpus")
    for folder in HAM_FOLDERS + SPAM_FOLDERS:
        (corpus / folder).mkdir()
        for f in sorted(p for p in (spamassassin_corpus / folder).iterdir() if p.name != "cmds")[::EVERY]:
            shutil.copyfile(f, corpus / folder / f.name)
    root = tmp_path_factory.mktemp("mdl007")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CORPUS_ENV, str(corpus))
        result = CliRunner().invoke(app, ["model", "train", "MDL-007", "--profile", "smoke", "--runner", "in-process", "--world",
                                          str(root / "world"), "--mlflow-home", str(root / "mlflow")])
    return root, result


def test_train_runs_the_pipeline_and_registers_a_gated_challenger_beside_the_baseline(trained):
    root, client, metrics = first_challenger(trained, SPEC)
    assert {"f1", "precision", "recall", "fpr", "ece", "baseline_f1", "f1_vs_baseline",
            "suggestion_lowered_share"} <= set(metrics)
    assert metrics["f1_vs_baseline"] == pytest.approx(metrics["f1"] - metrics["baseline_f1"])
    assert metrics["f1"] > 0.6  # it learned spam from a few hundred messages, on a block it never saw
    mv = client.get_model_version(SPEC.registered_name, "1")
    passed, reasons = evaluate_gates(SPEC, metrics, None)
    assert mv.tags["gate"] == ("passed" if passed else "failed") and mv.tags["gate_reasons"] == "; ".join(reasons)
    run = client.get_run(mv.run_id)
    assert run.data.tags["trainer"] == "corpus" and run.data.params["profile"] == "smoke"
    logged = {a.path for a in client.list_artifacts(mv.run_id, "evaluation")}
    assert {"evaluation/content_eval.md", "evaluation/metrics.json"} <= logged


@pytest.fixture(scope="module")
def served(trained):
    server, folder = serve_challenger(trained, SPEC, "mdl-007")
    yield server, folder
    server.stop()


def _body(frame) -> dict:
    return {"inputs": [{"name": c, "shape": [len(frame)], "datatype": "BYTES", "data": frame[c].tolist()}
                       for c in frame.columns]}


def test_served_answers_equal_the_registered_pyfunc_offline(served):
    server, folder = served
    frame = example_request()
    got = answers_as_registered(server, folder, "mdl-007", frame, _body(frame), OUTPUTS)
    clean, pushy = json.loads(got["issues"][0]), json.loads(got["issues"][1])
    assert {i["code"] for i in pushy} >= {"no_unsubscribe"} and got["approved_for_send"][1] == 0.0
    assert "no_unsubscribe" not in {i["code"] for i in clean}
    assert got["spam_risk"][1] > got["spam_risk"][0]


@pytest.mark.parametrize("raw", [False, True])
def test_grpc_answers_as_rest(served, tmp_path, raw):
    """gRPC, with V2 tensors or raw contents (the platform's fast path), answers as REST JSON; the
    body is longer than the platform's default text limit, which MDL-007's runtime raises."""
    server, _ = served
    frame = example_request()
    frame.loc[0, "body"] = frame.loc[0, "body"] + "\nMore from the team this month." * 60
    body = _body(frame)
    rest = {o["name"]: o["data"] for o in infer(server, "mdl-007", body).json()["outputs"]}
    request = tmp_path / "request.json"
    request.write_text(json.dumps(body))
    done = subprocess.run([str(local.SERVING_PYTHON), "-m", "serving.grpc_client", "--port", str(server.grpc_port),
                           "--model", "mdl-007", *(["--raw"] if raw else []), str(request)], capture_output=True,
                          text=True, timeout=60,
                          cwd=local.REPO)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    reply = {o["name"]: o["data"] for o in json.loads(done.stdout.strip().splitlines()[-1])["outputs"]}
    assert reply.keys() == rest.keys()
    for name, values in rest.items():
        got = [v.decode() if isinstance(v, bytes) else v for v in reply[name]]
        assert got == (values if isinstance(values[0], str) else pytest.approx(values)), name


def test_a_whole_newsletter_is_read_and_an_oversized_body_refused(served):
    server, _ = served
    long = "Our spring collection is here, with notes from the team. " * 100  # about 5,800 characters
    r = infer(server, "mdl-007", {"inputs": [{"name": "subject", "shape": [1], "datatype": "BYTES", "data": ["Spring"]},
                                   {"name": "body", "shape": [1], "datatype": "BYTES", "data": [long]}]})
    assert r.status_code == 200, r.text
    huge = {"inputs": [{"name": "subject", "shape": [1], "datatype": "BYTES", "data": ["Spring"]},
                       {"name": "body", "shape": [1], "datatype": "BYTES", "data": ["x" * 100_000]}]}
    r = infer(server, "mdl-007", huge)
    assert r.status_code == 400 and "at most 80000" in r.text, r.text
    r = infer(server, "mdl-007", {"inputs": [{"name": "subject", "shape": [1], "datatype": "BYTES", "data": ["x" * 3_000]},
                                   {"name": "body", "shape": [1], "datatype": "BYTES", "data": ["x"]}]})
    assert r.status_code == 400 and "at most 2000" in r.text, r.text


@pytest.mark.parametrize(("inputs", "says"), [
    ({"body": ["hello"]}, "missing inputs: subject"),
    ({"subject": ["hi"]}, "body"),
    ({"subject": ["hi"], "body": ["a", "b"]}, "different lengths"),
    ({"subject": ["hi"], "body": ["x"], "sender_score": ["3"]}, "unknown inputs"),
])
def test_bad_requests_get_400_with_a_reason(served, inputs, says):
    server, _ = served
    body = {"inputs": [{"name": k, "shape": [len(v)], "datatype": "BYTES", "data": v} for k, v in inputs.items()]}
    r = infer(server, "mdl-007", body)
    assert r.status_code == 400, r.text
    assert says in r.text
