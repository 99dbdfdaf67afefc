"""Cluster manifests: core kinds validate against Kubernetes' schemas, Spark jobs against the Spark
operator's CRDs, the committed files match the generator, and the Airflow values configure a
deployment the cluster profile accepts."""

import importlib.util
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from adaptive_delivery.delivery import jobs

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT.parent / "shared" / "data" / "crds" / "spark-operator"
K8S_VERSION = "1.30.0"


def _generator():
    spec = importlib.util.spec_from_file_location("k8s_cluster", ROOT / "k8s" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster():
    return _generator()


def test_committed_manifests_match_the_generator(cluster, tmp_path):
    for path in cluster.write(tmp_path):
        if path.name in cluster.FROM_SPECS:  # written from the specs, not committed
            continue
        assert path.read_text() == (ROOT / "k8s" / "cluster" / path.name).read_text(), \
            f"k8s/cluster/{path.name} is stale: run python k8s/cluster.py"


def test_core_kinds_validate_against_kubernetes_schemas(cluster):
    checked = 0
    for docs in cluster.documents().values():
        for doc in docs:
            if doc["apiVersion"].startswith("sparkoperator"):
                continue
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            checked += 1
    assert checked >= 10


def test_spark_applications_validate_against_the_operator_crds(cluster):
    if not CRDS.exists():
        pytest.skip(f"the Spark operator CRDs are not beside this checkout ({CRDS}); they ship with the shared data")
    schemas = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        schemas[crd["spec"]["names"]["kind"]] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    docs = cluster.documents()["spark-features.yaml"]
    assert {d["kind"] for d in docs} == {"SparkApplication", "ScheduledSparkApplication"}
    for doc in docs:
        jsonschema.validate(doc, schemas[doc["kind"]])
    broken = {**docs[0], "spec": {k: v for k, v in docs[0]["spec"].items() if k != "mainApplicationFile"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schemas["SparkApplication"])


def test_spark_jobs_run_the_feature_job_with_the_hourly_tables(cluster):
    from adaptive_delivery.delivery.features import spark_jobs

    jobs_by_name = {d["metadata"]["name"]: d for d in cluster.documents()["spark-features.yaml"]}
    daily, hourly = jobs_by_name["features-daily"], jobs_by_name["features-hourly"]
    assert daily["spec"]["mainApplicationFile"].endswith("adaptive_delivery/delivery/features/spark_jobs.py")
    assert hourly["spec"]["template"]["arguments"][-1] == ",".join(spark_jobs.HOURLY_TABLES)
    campaigns = jobs_by_name["campaign-features-hourly"]["spec"]["template"]
    assert campaigns["mainApplicationFile"].endswith("adaptive_delivery/marketing/features.py")
    from adaptive_delivery.marketing import features

    parsed = features.parser().parse_args(campaigns["arguments"])  # the job's own parser takes them
    assert parsed.lake.endswith("/campaigns/lake") and parsed.out.endswith("/features")
    import pyspark

    assert daily["spec"]["sparkVersion"] == pyspark.__version__


def test_airflow_values_give_a_valid_cluster_deployment(cluster):
    values = cluster.airflow_values(cluster.Cluster())
    assert values["executor"] == "KubernetesExecutor"
    env = {e["name"]: e.get("value", "from-secret") for e in values["env"]}
    dep = jobs.deployment(env)
    assert dep.name == "cluster" and dep.kfp_host and not dep.spark_in_process
    assert dep.tracking_uri == cluster.Cluster().mlflow_uri


def test_one_pipeline_run_job_per_model_spec(cluster):
    from adaptive_delivery.platform.spec import all_specs

    runs = cluster.documents()["pipeline-runs.yaml"]
    commands = [r["spec"]["template"]["spec"]["containers"][0]["command"] for r in runs]
    assert sorted(c[-1] for c in commands) == sorted(s.model_id for s in all_specs())
    assert all(c[:4] == ["python", "-m", "pipelines.training", "submit"] for c in commands)


def _consumer_params(spec: dict, command: str) -> dict:
    """The options a consumer's container passes, parsed by its `adaptive-delivery stream` command
    (every option named exists, every value is of its type), with variables expanded as Kubernetes does."""
    import re

    import typer

    from adaptive_delivery.cli import app

    container = spec["template"]["spec"]["containers"][0]
    assert container["command"] == ["adaptive-delivery", "stream", command]
    env = {e["name"]: e.get("value", "from-the-cluster") for e in container["env"]}
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]
    consume = typer.main.get_command(app).commands["stream"].commands[command]
    return consume.make_context(command, list(args)).params


def test_stream_consumers_run_the_consumer_with_options_it_has(cluster):
    """The consumers' command line parses as `adaptive-delivery stream consume`'s (every option
    named exists, every value is of its type), with a stable name per consumer and the lake on the
    volume the Airflow workers mount."""



    all_docs = cluster.documents()["stream-consumers.yaml"]
    docs = {d["kind"]: d for d in all_docs if d["metadata"]["name"] in ("stream-consumer", cluster.HOME_CLAIM)}
    spec = docs["StatefulSet"]["spec"]
    params = _consumer_params(spec, "consume")
    assert params["profile"] == "cluster" and params["name"] == "from-the-cluster"
    assert str(params["lake"]).startswith(cluster.HOME_MOUNT)
    campaigns = next(d for d in all_docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "campaign-consumer")
    params = _consumer_params(campaigns["spec"], "consume-campaigns")
    assert str(params["lake"]).startswith(cluster.HOME_MOUNT) and params["name"] == "from-the-cluster"
    workers = cluster.airflow_values(cluster.Cluster())["workers"]
    claim = spec["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in workers["extraVolumes"]] == [claim]
    assert docs["PersistentVolumeClaim"]["metadata"]["name"] == claim
