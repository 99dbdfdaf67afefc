"""Seldon Core v2 manifests for a served model and its rollout, generated from the rollout
controller's state: the ServerConfig of the project's MLServer image, one Server of it, one Model
per served version, and an Experiment for the current stage (a mirror in shadow, weighted
candidates in canary and ramp; none once the candidate is promoted or rolled back).

The ServerConfig is Seldon's own `mlserver` one with the project's image in the mlserver container,
started through the serving guard (`serving.mlserver_main`): MLServer listens on the pod's loopback
only, so everything reaches it through Seldon's agent beside it; the token comes from the Secret
TOKEN_SECRET (key `token`) as ADAPTIVE_DELIVERY_TOKEN, so every inference must carry it; and the
repository API answers the agent (on the pod's loopback) and nobody else.

Seldon splits experiment traffic at random; the spec wants a subscriber to stay on one model, so
the sending side computes the FNV-1a bucket (`adaptive_delivery.platform.rollout.assignment`) and pins the
model with Seldon's `seldon-model` header, which Seldon honours inside an experiment.
"""

from dataclasses import dataclass

import yaml

from adaptive_delivery.platform.image import IMAGE_ROOT, SERVING_IMAGE
from adaptive_delivery.platform.rollout.controller import Experiment, Status
from serving.guard import REPOSITORY_ENV, TOKEN_ENV
from serving.local import SERVING_ENV

API = "mlops.seldon.io/v1alpha1"
SERVER = "adaptive-delivery-mlserver"
SERVER_CONFIG = "adaptive-delivery-mlserver"
CAPABILITY = "adaptive-delivery"  # the runtimes this server's image carries
TOKEN_SECRET = "adaptive-delivery-serving-token"  # kubectl create secret generic … --from-literal=token=…
SELDON_VERSION = "2.9.0"  # the agent and rclone images of the Seldon Core v2 release the CRDs are from
MODELS_DIR = "/mnt/agent/models"
HTTP_PORT, GRPC_PORT = 9000, 9500
MLSERVER_COMMAND = ["python", "-m", "serving.mlserver_main", "start", MODELS_DIR]


@dataclass(frozen=True)
class ServedVersion:
    version: str
    storage_uri: str  # the MLflow artifact location of the model version (object store)


# The cluster's PostgreSQL secret (k8s/cluster.py) and its key for the knowledge base's store.
KNOWLEDGE_SECRET = ("adaptive-delivery-postgres", "knowledge-uri")


def model_name(model_id: str, version: str) -> str:
    return f"{model_id.lower()}-v{version}"


def _probe(path: str, **timing) -> dict:
    """An exec probe: MLServer listens on the pod's loopback, where the kubelet's httpGet cannot reach."""
    check = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{HTTP_PORT}{path}', timeout=2)"
    return {"exec": {"command": ["python", "-c", check]}, **timing}


def _agent() -> dict:
    env = {"SELDON_SERVER_CAPABILITIES": f"mlserver,python,{CAPABILITY}", "SELDON_OVERCOMMIT_PERCENTAGE": "10",
           "SELDON_SERVER_HTTP_PORT": str(HTTP_PORT), "SELDON_SERVER_GRPC_PORT": str(GRPC_PORT),
           "SELDON_REVERSE_PROXY_HTTP_PORT": "9001", "SELDON_REVERSE_PROXY_GRPC_PORT": "9501",
           "SELDON_SCHEDULER_HOST": "seldon-scheduler", "SELDON_SCHEDULER_PORT": "9005", "SELDON_METRICS_PORT": "9006",
           "SELDON_SERVER_TYPE": "mlserver", "SELDON_ENVOY_HOST": "seldon-mesh", "SELDON_ENVOY_PORT": "80"}
    return {"name": "agent", "image": f"docker.io/seldonio/seldon-agent:{SELDON_VERSION}", "command": ["/bin/agent"],
            "args": ["--tracing-config-path=/mnt/tracing/tracing.json"],
            "env": [{"name": k, "value": v} for k, v in env.items()] + [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MEMORY_REQUEST", "valueFrom": {"resourceFieldRef": {"containerName": "mlserver",
                                                                              "resource": "requests.memory"}}}],
            "ports": [{"containerPort": 9501, "name": "grpc", "protocol": "TCP"},
                      {"containerPort": 9001, "name": "http", "protocol": "TCP"},
                      {"containerPort": 9006, "name": "metrics", "protocol": "TCP"}],
            "volumeMounts": [{"mountPath": "/mnt/agent", "name": "mlserver-models"},
                             {"name": "config-volume", "mountPath": "/mnt/config"},
                             {"name": "tracing-config-volume", "mountPath": "/mnt/tracing"}]}


def _mlserver() -> dict:
    """The project's MLServer behind the guard, on the pod's loopback, with the token from a Secret."""
    env = {"MLSERVER_HOST": "127.0.0.1", "MLSERVER_HTTP_PORT": str(HTTP_PORT), "MLSERVER_GRPC_PORT": str(GRPC_PORT),
           "MLSERVER_MODELS_DIR": MODELS_DIR, "MLSERVER_PARALLEL_WORKERS": "0",
           "MLSERVER_LOAD_MODELS_AT_STARTUP": "false", "MLSERVER_GRPC_MAX_MESSAGE_LENGTH": str(32 * 2**20),
           REPOSITORY_ENV: "1", **SERVING_ENV}
    return {"name": "mlserver", "image": SERVING_IMAGE, "workingDir": IMAGE_ROOT, "command": MLSERVER_COMMAND,
            "env": [{"name": k, "value": v} for k, v in env.items()] + [
                {"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": "token"}}},
                # the knowledge base's store, whose limits MDL-003's rails read (optional: without it,
                # spec §6.2's defaults and the published limits)
                {"name": "AD_KNOWLEDGE_URL", "valueFrom": {"secretKeyRef": {
                    "name": KNOWLEDGE_SECRET[0], "key": KNOWLEDGE_SECRET[1], "optional": True}}}],
            "resources": {"requests": {"cpu": "0.5", "memory": "2G"}},
            "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "/bin/sleep 10"]}}},
            "livenessProbe": _probe("/v2/health/live", periodSeconds=10),
            "readinessProbe": _probe("/v2/health/ready", initialDelaySeconds=5, periodSeconds=5),
            "startupProbe": _probe("/v2/health/ready", failureThreshold=30, periodSeconds=10),
            "volumeMounts": [{"mountPath": "/mnt/agent", "name": "mlserver-models", "readOnly": True}]}


def server_config() -> dict:
    """Seldon's `mlserver` ServerConfig with the project's guarded MLServer in it."""
    rclone = {"name": "rclone", "image": f"docker.io/seldonio/seldon-rclone:{SELDON_VERSION}",
              "ports": [{"containerPort": 5572, "name": "rclone", "protocol": "TCP"}],
              "readinessProbe": {"tcpSocket": {"port": 5572}, "periodSeconds": 5},
              "volumeMounts": [{"mountPath": "/mnt/agent", "name": "mlserver-models"}]}
    pod = {"terminationGracePeriodSeconds": 30, "serviceAccountName": "seldon-server",
           "containers": [rclone, _agent(), _mlserver()],
           "securityContext": {"fsGroup": 2000, "runAsUser": 1000, "runAsNonRoot": True},
           "volumes": [{"name": "config-volume", "configMap": {"name": "seldon-agent"}},
                       {"name": "tracing-config-volume", "configMap": {"name": "seldon-tracing"}}]}
    claim = {"name": "mlserver-models",
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    return {"apiVersion": API, "kind": "ServerConfig", "metadata": {"name": SERVER_CONFIG},
            "spec": {"podSpec": pod, "volumeClaimTemplates": [claim]}}


def server(replicas: int = 2) -> dict:
    return {"apiVersion": API, "kind": "Server", "metadata": {"name": SERVER},
            "spec": {"serverConfig": SERVER_CONFIG, "replicas": replicas, "extraCapabilities": [CAPABILITY]}}


def model(model_id: str, served: ServedVersion, memory: str = "2Gi", replicas: int = 2) -> dict:
    return {"apiVersion": API, "kind": "Model", "metadata": {"name": model_name(model_id, served.version),
                                                             "labels": {"model-id": model_id.lower()}},
            "spec": {"storageUri": served.storage_uri, "requirements": [CAPABILITY], "server": SERVER,
                     "memory": memory, "replicas": replicas}}


def experiment(exp: Experiment) -> dict | None:
    """The Experiment resource for the current stage, or None when no split is running."""
    if exp.status != Status.RUNNING:
        return None
    control = model_name(exp.model_id, exp.control_version)
    candidate = model_name(exp.model_id, exp.candidate_version)
    stage = exp.stage
    spec: dict = {"default": control}
    if stage.mirror:
        spec["candidates"] = [{"name": control, "weight": 100}]
        spec["mirror"] = {"name": candidate, "percent": 100}
    else:
        weight = round(stage.traffic * 100)
        spec["candidates"] = [{"name": control, "weight": 100 - weight}, {"name": candidate, "weight": weight}]
    return {"apiVersion": API, "kind": "Experiment",
            "metadata": {"name": f"{exp.model_id.lower()}-{exp.experiment_id}",
                         "labels": {"model-id": exp.model_id.lower(), "stage": stage.name}},
            "spec": spec}


def manifests(exp: Experiment, control: ServedVersion, candidate: ServedVersion) -> list[dict]:
    """Everything the cluster needs for the experiment's current state."""
    docs = [server_config(), server()]
    if exp.status == Status.PROMOTED:
        docs.append(model(exp.model_id, candidate))
    elif exp.status == Status.ROLLED_BACK:
        docs.append(model(exp.model_id, control))
    else:
        docs += [model(exp.model_id, control), model(exp.model_id, candidate), experiment(exp)]
    return docs


def to_yaml(docs: list[dict]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)
