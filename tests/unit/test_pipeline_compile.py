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


def test_kfp_still_names_the_method_that_set_a_resource_without_reading_any_source():
    """KFP looks the calling method's name up on the stack for its error message: the stack it gets
    is the real one, from its own frame up, with no source lines read (that was the slow part)."""
    from kfp.dsl import pipeline_task

    def ensure_container_spec_exists():  # stands in for KFP's own check, one frame below the setter
        return pipeline_task.inspect.stack()

    def set_cpu_request():
        return ensure_container_spec_exists()

    frames = set_cpu_request()
    assert [f.function for f in frames[:2]] == ["ensure_container_spec_exists", "set_cpu_request"]
    assert all(f.code_context is None for f in frames)


def test_a_resource_set_on_a_pipeline_used_as_a_step_is_refused_naming_the_setter():
    """The check KFP runs on every resource setter still refuses a pipeline used as a step, by name."""
    from kfp import dsl

    @dsl.component(base_image="python:3.11")
    def noop():
        pass

    @dsl.pipeline(name="inner")
    def inner():
        noop()

    refused = []

    @dsl.pipeline(name="outer")
    def outer():
        try:
            inner().set_cpu_request("1")
        except ValueError as e:
            refused.append(str(e))

    assert outer.pipeline_spec is not None
    assert refused and refused[0].startswith("set_cpu_request can only be used on single-step components")
