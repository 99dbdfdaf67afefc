"""The training pipeline compiles for a cluster: the YAML parses into KFP's pipeline and platform
protos, GPU steps ask for an nvidia.com/gpu on A100 nodes, and every other step for CPU only."""

import dataclasses

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from adaptive_delivery.platform.spec import get
from pipelines.training import GPU_NODE_LABEL, GPU_RESOURCE, compile_pipeline

STEPS = {"load-training-set", "check-drift", "tune", "train-model", "evaluate", "register", "gate"}


def _compiled(spec, tmp_path):
    docs = list(yaml.safe_load_all(compile_pipeline(spec, tmp_path).read_text()))
    pipeline = json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())  # strict: unknown fields fail
    platform = json_format.ParseDict(docs[1], pipeline_spec_pb2.PlatformSpec()) if len(docs) > 1 else None
    return docs, pipeline, platform


def test_mdl_001_pipeline_validates_and_requests_a_gpu_for_tuning_and_training(tmp_path):
    docs, pipeline, _ = _compiled(get("MDL-001"), tmp_path)
    assert pipeline.pipeline_info.name == "train-mdl-001"
    assert set(pipeline.root.dag.tasks) == STEPS
    executors = docs[0]["deploymentSpec"]["executors"]
    gpu = {name for name, ex in executors.items() if ex["container"]["resources"].get("accelerator")}
    assert gpu == {"exec-tune", "exec-train-model"}
    for name in gpu:
        acc = executors[name]["container"]["resources"]["accelerator"]
        assert acc["resourceType"] == GPU_RESOURCE and acc["resourceCount"] == "1"
    for name, ex in executors.items():
        assert ex["container"]["resources"]["cpuRequest"] > 0 and ex["container"]["resources"]["memoryLimit"] > 0, name
        assert "pip install" not in " ".join(ex["container"]["command"])  # the image carries the package
    k8s = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(k8s) == gpu
    for name in gpu:
        assert k8s[name]["nodeSelector"]["labels"] == {GPU_NODE_LABEL[0]: GPU_NODE_LABEL[1]}
        assert k8s[name]["tolerations"][0]["key"] == GPU_RESOURCE


def test_a_cpu_only_model_compiles_without_any_gpu_request(tmp_path):
    docs, _, platform = _compiled(dataclasses.replace(get("MDL-001"), needs_gpu=False), tmp_path)
    executors = docs[0]["deploymentSpec"]["executors"]
    assert not any(ex["container"]["resources"].get("accelerator") for ex in executors.values())
    assert platform is None or not platform.platforms


def test_pipeline_parameters_are_the_inputs_a_scheduler_passes(tmp_path):
    docs, _, _ = _compiled(get("MDL-001"), tmp_path)
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert {"lake", "features", "feast_home", "tracking_uri", "truth_dir", "profile", "experiment"} <= set(params)
    assert params["profile"]["defaultValue"] == "quick"
    # a retraining that answers a monitoring alarm moves the split and recalibrates; 0 keeps the spec's
    assert params["holdout_days"]["defaultValue"] == 0 and params["recalibration_days"]["defaultValue"] == 0
    assert params["expected_drift"]["defaultValue"] == ""


@pytest.mark.parametrize("component", ["check_drift", "evaluate", "gate", "load_training_set", "register", "train_model", "tune",
                                       "train_policy", "evaluate_policy", "register_policy"])
def test_components_are_thin_and_import_the_package_inside(component):
    import importlib
    import inspect

    comp = getattr(importlib.import_module(f"components.{component}"), component)
    source = inspect.getsource(comp.python_func)
    assert "from adaptive_delivery" in source and len(source.splitlines()) < 30


@pytest.mark.parametrize("model_id", ["MDL-003", "MDL-009"])
def test_a_simulator_trained_policy_gets_its_own_pipeline_on_cpu(model_id, tmp_path):
    docs, pipeline, platform = _compiled(get(model_id), tmp_path)
    assert pipeline.pipeline_info.name == f"train-{model_id.lower()}"
    assert set(pipeline.root.dag.tasks) == {"train-policy", "evaluate-policy", "register-policy"}
    executors = docs[0]["deploymentSpec"]["executors"]
    assert not any(ex["container"]["resources"].get("accelerator") for ex in executors.values())
    assert all(ex["container"]["resources"]["cpuRequest"] > 0 for ex in executors.values())
    assert {"tracking_uri", "profile", "seed", "experiment"} <= set(docs[0]["root"]["inputDefinitions"]["parameters"])
