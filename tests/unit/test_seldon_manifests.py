"""Seldon Core v2 manifests generated from the rollout state validate against the CRD schemas."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from adaptive_delivery.platform.image import SERVING_IMAGE
from adaptive_delivery.platform.rollout.controller import Action, Verdict, apply, start
from serving.guard import REPOSITORY_ENV, TOKEN_ENV
from serving.seldon import (
    MLSERVER_COMMAND,
    TOKEN_SECRET,
    ServedVersion,
    manifests,
    server_config,
    to_yaml,
)

CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crds" / "seldon-core-v2"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
CONTROL = ServedVersion("3", "gs://models/mdl-001/3")
CANDIDATE = ServedVersion("4", "gs://models/mdl-001/4")


@pytest.fixture(scope="module")
def schemas():
    if not CRDS.exists():
        pytest.skip(f"the Seldon Core v2 CRDs are not beside this checkout ({CRDS}); they ship with the shared data")
    out = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        out[crd["spec"]["names"]["kind"]] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return out


def _validate(docs, schemas):
    for doc in docs:
        jsonschema.validate(doc, schemas[doc["kind"]])


def _advance(exp, to_index):
    while exp.stage_index < to_index:
        apply(exp, Verdict(Action.ADVANCE, "test", exp.stage.name, [], 0, 0), T0 + timedelta(days=exp.stage_index + 1))


def test_every_stage_produces_valid_resources_with_the_right_split(schemas):
    exp = start("r1", "MDL-001", "3", "4", T0)
    docs = manifests(exp, CONTROL, CANDIDATE)
    _validate(docs, schemas)
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ServerConfig", "Server", "Model", "Model", "Experiment"]
    assert docs[1]["spec"]["serverConfig"] == docs[0]["metadata"]["name"]
    shadow = docs[-1]["spec"]
    assert shadow["mirror"] == {"name": "mdl-001-v4", "percent": 100} and shadow["default"] == "mdl-001-v3"
    for index, weight in ((1, 5), (2, 25), (3, 50)):
        _advance(exp, index)
        docs = manifests(exp, CONTROL, CANDIDATE)
        _validate(docs, schemas)
        split = {c["name"]: c["weight"] for c in docs[-1]["spec"]["candidates"]}
        assert split == {"mdl-001-v3": 100 - weight, "mdl-001-v4": weight} and "mirror" not in docs[-1]["spec"]
    assert yaml.safe_load_all(to_yaml(docs))


def test_after_the_decision_only_the_winner_is_served(schemas):
    promoted = start("r2", "MDL-001", "3", "4", T0)
    apply(promoted, Verdict(Action.PROMOTE, "test", "ramp-50", [], 0, 0), T0)
    docs = manifests(promoted, CONTROL, CANDIDATE)
    _validate(docs, schemas)
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Model"] == ["mdl-001-v4"]
    rolled = start("r3", "MDL-001", "3", "4", T0)
    apply(rolled, Verdict(Action.ROLLBACK, "test", "canary", [], 0, 0), T0)
    assert [d["metadata"]["name"] for d in manifests(rolled, CONTROL, CANDIDATE) if d["kind"] == "Model"] == ["mdl-001-v3"]


def test_the_schema_check_really_rejects_a_broken_resource(schemas):
    doc = manifests(start("r4", "MDL-001", "3", "4", T0), CONTROL, CANDIDATE)[-1]
    doc["spec"]["candidates"][0]["weight"] = "half"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schemas["Experiment"])
    del doc["spec"]["candidates"]
    with pytest.raises(jsonschema.ValidationError, match="candidates"):
        jsonschema.validate(doc, schemas["Experiment"])


def test_the_server_pods_mlserver_runs_behind_the_guard_with_the_token_from_a_secret(schemas):
    """In a cluster the token is the same one setting: ADAPTIVE_DELIVERY_TOKEN, read from a Secret
    (never written in a manifest); MLServer listens on the pod's loopback, so callers reach it only
    through Seldon's agent, and the repository API answers only that agent."""
    config = server_config()
    _validate([config], schemas)
    containers = {c["name"]: c for c in config["spec"]["podSpec"]["containers"]}
    mlserver = containers["mlserver"]
    assert mlserver["image"] == SERVING_IMAGE and mlserver["command"] == MLSERVER_COMMAND
    env = {e["name"]: e for e in mlserver["env"]}
    assert env[TOKEN_ENV] == {"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": "token"}}}
    assert env["MLSERVER_HOST"]["value"] == "127.0.0.1" and env[REPOSITORY_ENV]["value"] == "1"
    from k8s.cluster import Cluster

    knowledge = env["AD_KNOWLEDGE_URL"]["valueFrom"]["secretKeyRef"]  # MDL-003's rails read the knowledge base
    assert (knowledge["name"], knowledge["key"]) == (Cluster().postgres_secret, "knowledge-uri") and knowledge["optional"]
    from serving.local import SERVING_ENV

    assert {k: env[k]["value"] for k in SERVING_ENV} == SERVING_ENV  # the local server's native settings
    agent = {e["name"]: e.get("value") for e in containers["agent"]["env"]}
    assert (agent["SELDON_SERVER_HTTP_PORT"], agent["SELDON_SERVER_GRPC_PORT"]) == (
        env["MLSERVER_HTTP_PORT"]["value"], env["MLSERVER_GRPC_PORT"]["value"])
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):  # the kubelet cannot reach loopback
        assert "httpGet" not in mlserver[probe] and "127.0.0.1" in " ".join(mlserver[probe]["exec"]["command"])
