"""Seldon Core v2 manifests for a served model and its rollout, generated from the rollout
controller's state: one Server running the project's MLServer runtimes, one Model per served
version, and an Experiment for the current stage (a mirror in shadow, weighted candidates in canary
and ramp; none once the candidate is promoted or rolled back).

Seldon splits experiment traffic at random; the spec wants a subscriber to stay on one model, so
the sending side computes the FNV-1a bucket (`adaptive_delivery.platform.rollout.assignment`) and pins the
model with Seldon's `seldon-model` header, which Seldon honours inside an experiment.
"""

from dataclasses import dataclass

import yaml

from adaptive_delivery.platform.rollout.controller import Experiment, Status

API = "mlops.seldon.io/v1alpha1"
SERVER = "adaptive-delivery-mlserver"
CAPABILITY = "adaptive-delivery"  # the runtimes this server's image carries


@dataclass(frozen=True)
class ServedVersion:
    version: str
    storage_uri: str  # the MLflow artifact location of the model version (object store)


def model_name(model_id: str, version: str) -> str:
    return f"{model_id.lower()}-v{version}"


def server(replicas: int = 2) -> dict:
    return {"apiVersion": API, "kind": "Server", "metadata": {"name": SERVER},
            "spec": {"serverConfig": "mlserver", "replicas": replicas, "extraCapabilities": [CAPABILITY]}}


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
    docs = [server()]
    if exp.status == Status.PROMOTED:
        docs.append(model(exp.model_id, candidate))
    elif exp.status == Status.ROLLED_BACK:
        docs.append(model(exp.model_id, control))
    else:
        docs += [model(exp.model_id, control), model(exp.model_id, candidate), experiment(exp)]
    return docs


def to_yaml(docs: list[dict]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)
