"""The cluster image carries what its manifests run: one image name in the Dockerfile, the Kubeflow
components, the generated manifests and the Airflow values; every file or module a manifest runs is
copied into the image; what a manifest runs from the locked environment is in the lock file."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
import yaml

from adaptive_delivery.platform.image import IMAGE_ROOT, PLATFORM_IMAGE
from adaptive_delivery.platform.spec import all_specs

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "k8s" / "images" / "platform.Dockerfile"


@dataclass(frozen=True)
class Image:
    """What a Dockerfile puts where: its WORKDIR, copied paths (image path -> repository path), the
    tag it documents building under, and its environment."""

    workdir: str
    copies: dict[str, str]
    tag: str
    env: dict[str, str]

    def carries(self, image_path: str) -> bool:
        """True when the image path lies in something copied from the repository, and that exists."""
        target = PurePosixPath(image_path)
        for dest, src in self.copies.items():
            dest_path = PurePosixPath(dest)
            if target == dest_path or dest_path in target.parents:
                return (ROOT / src / target.relative_to(dest_path)).exists()
        return False


def read_dockerfile(text: str) -> Image:
    """Parse the instructions this project's Dockerfile uses (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", text)
    workdir, copies, env = "/", {}, {}
    tag = re.search(r"docker build .* -t (\S+) \.", text)
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "WORKDIR":
            workdir = parts[1]
        elif parts[0] == "COPY" and not any(p.startswith("--from") for p in parts):
            *sources, dest = parts[1:]
            base = PurePosixPath(workdir) / dest
            for src in sources:
                copies[str(base / src if dest.endswith("/") and len(sources) > 1 else base)] = src
        elif parts[0] == "ENV":
            env |= dict(kv.split("=", 1) for kv in parts[1:])
    return Image(workdir=workdir, copies=copies, tag=tag.group(1) if tag else "", env=env)


@pytest.fixture(scope="module")
def image() -> Image:
    return read_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def cluster():
    spec = importlib.util.spec_from_file_location("k8s_cluster_image", ROOT / "k8s" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _images(node) -> list[str]:
    """Every `image` value anywhere in a manifest."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "image" and isinstance(v, str)] + \
            [i for v in node.values() for i in _images(v)]
    if isinstance(node, list):
        return [i for v in node for i in _images(v)]
    return []


def _locked(name: str) -> bool:
    lock = (ROOT / "requirements" / "platform.lock").read_text().lower()
    return re.search(rf"^{re.escape(name.lower())}==", lock, re.MULTILINE) is not None


def test_the_dockerfile_builds_the_one_image_name_into_the_repository_root(image):
    assert image.tag == PLATFORM_IMAGE
    assert image.workdir == IMAGE_ROOT
    assert image.env["AD_FEATURE_REPO"] == f"{IMAGE_ROOT}/feature_repo" and image.carries(image.env["AD_FEATURE_REPO"])


def test_every_manifest_runs_the_platform_image_or_a_named_third_party_one(cluster):
    third_party = {"redis:7.4-alpine"}
    seen = set()
    for name, docs in cluster.documents().items():
        for img in _images(docs):
            assert img == PLATFORM_IMAGE or img in third_party, f"{name} runs {img}"
            seen.add(img)
    assert PLATFORM_IMAGE in seen
    values = cluster.airflow_values(cluster.Cluster())
    airflow = values["images"]["airflow"]
    assert f"{airflow['repository']}:{airflow['tag']}" == PLATFORM_IMAGE
    env = {e["name"]: e.get("value") for e in values["env"]}
    assert env["AD_SPARK_IMAGE"] == PLATFORM_IMAGE


def test_the_image_carries_every_file_the_manifests_run(cluster, image):
    docs = cluster.documents()
    for app in docs["spark-features.yaml"]:
        spec = app["spec"].get("template", app["spec"])
        path = spec["mainApplicationFile"].removeprefix("local://")
        assert image.carries(path), f"the Spark job runs {path}, which the image does not carry"
    dags = cluster.airflow_values(cluster.Cluster())["config"]["core"]["dags_folder"]
    assert image.carries(dags) and image.env.get("AIRFLOW__CORE__DAGS_FOLDER") == dags
    assert all(image.carries(f"{dags}/{p.name}") for p in (ROOT / "dags").glob("*.py"))
    for job in docs["pipeline-runs.yaml"]:
        command = job["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[:2] == ["python", "-m"]
        module = f"{IMAGE_ROOT}/{command[2].replace('.', '/')}.py"
        assert image.carries(module), f"the pipeline Job runs {command[2]}, which the image does not carry"
    for mlflow in docs["mlflow.yaml"]:
        if mlflow["kind"] == "Deployment":
            assert "mlflow server" in " ".join(mlflow["spec"]["template"]["spec"]["containers"][0]["command"])
    assert _locked("mlflow") and _locked("apache-airflow") and _locked("pyspark") and _locked("kfp")


def test_every_compiled_pipeline_step_runs_the_platform_image_with_its_components(tmp_path, image):
    from pipelines.training import compile_pipeline

    for spec in all_specs():
        doc = next(yaml.safe_load_all(compile_pipeline(spec, tmp_path).read_text()))
        executors = doc["deploymentSpec"]["executors"]
        assert executors
        for name, ex in executors.items():
            assert ex["container"]["image"] == PLATFORM_IMAGE, f"{spec.model_id} {name}"
    assert image.carries(f"{IMAGE_ROOT}/components/__init__.py") and image.carries(f"{IMAGE_ROOT}/src/adaptive_delivery")


def test_the_check_fails_on_an_image_that_leaves_the_dags_out(cluster):
    broken = read_dockerfile(DOCKERFILE.read_text().replace("COPY dags dags\n", ""))
    dags = cluster.airflow_values(cluster.Cluster())["config"]["core"]["dags_folder"]
    assert not broken.carries(dags)
    assert not read_dockerfile(DOCKERFILE.read_text()).carries(f"{IMAGE_ROOT}/no_such_folder/x.py")


def test_the_serving_image_carries_the_guarded_mlserver_and_every_runtime_the_server_config_runs():
    """Seldon's server pods run `serving.mlserver_main` from the serving image: the image carries the
    module, the guard and every model's runtime, and installs the serving lock file."""
    from adaptive_delivery.platform.image import SERVING_IMAGE
    from serving.seldon import MLSERVER_COMMAND, server_config

    dockerfile = (ROOT / "k8s" / "images" / "serving.Dockerfile").read_text()
    serving = read_dockerfile(dockerfile)
    assert serving.tag == SERVING_IMAGE and serving.workdir == IMAGE_ROOT
    assert "pip install --no-cache-dir -r requirements/serving.lock" in dockerfile
    mlserver = next(c for c in server_config()["spec"]["podSpec"]["containers"] if c["name"] == "mlserver")
    assert mlserver["image"] == SERVING_IMAGE and mlserver["workingDir"] == IMAGE_ROOT
    module = f"{IMAGE_ROOT}/{MLSERVER_COMMAND[2].replace('.', '/')}.py"
    assert MLSERVER_COMMAND[:2] == ["python", "-m"] and serving.carries(module)
    assert serving.carries(f"{IMAGE_ROOT}/serving/guard.py")
    runtimes = {spec.runtime for spec in all_specs() if spec.runtime}
    assert runtimes
    for runtime in runtimes:  # a dotted class path inside the package under src/
        path = f"{IMAGE_ROOT}/src/{runtime.rsplit('.', 1)[0].replace('.', '/')}.py"
        assert serving.carries(path), f"the serving image lacks {runtime}"
