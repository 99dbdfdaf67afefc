"""Cluster manifests for the parts that are not Seldon (serving/seldon.py writes those): the Spark
feature jobs for the Spark operator, the MLflow tracking server, Redis for Feast's online store,
the delivery events' stream consumers, one-off Kubeflow pipeline runs, and the Airflow Helm values
that run the DAGs with the cluster profile. Written from one set of settings so every part agrees on names and addresses.

    python k8s/cluster.py            # rewrites k8s/cluster/*.yaml

Tests validate core kinds against Kubernetes' schemas (kubernetes-validate) and SparkApplications
against the Spark operator's CRDs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyspark
import yaml

from adaptive_delivery.delivery.features.spark_jobs import HOURLY_TABLES
from adaptive_delivery.platform.image import IMAGE_ROOT, PLATFORM_IMAGE
from adaptive_delivery.platform.spec import all_specs

HERE = Path(__file__).resolve().parent
HOME_MOUNT = "/data/adaptive-delivery"  # AD_HOME of the cluster profile: the lake, the feature store's home
HOME_CLAIM = "adaptive-delivery-home"
@dataclass(frozen=True)
class Cluster:
    namespace: str = "adaptive-delivery"
    image: str = PLATFORM_IMAGE  # k8s/images/platform.Dockerfile
    bucket: str = "s3a://adaptive-delivery"
    spark_version: str = pyspark.__version__
    mlflow_port: int = 5000
    kfp_host: str = "http://ml-pipeline-ui.kubeflow:80"
    postgres_secret: str = "adaptive-delivery-postgres"  # keys: mlflow-uri, feast-registry-uri, knowledge-uri

    @property
    def mlflow_uri(self) -> str:
        return f"http://mlflow.{self.namespace}.svc:{self.mlflow_port}"

    @property
    def redis(self) -> str:
        return f"redis.{self.namespace}.svc:6379"

    def labels(self, component: str) -> dict[str, str]:
        return {"app.kubernetes.io/part-of": "adaptive-delivery", "app.kubernetes.io/component": component}

    def env(self) -> list[dict]:
        """The AD_* settings of the cluster profile (adaptive_delivery.delivery.jobs.deployment reads them)."""
        plain = {"AD_PROFILE": "cluster", "AD_HOME": HOME_MOUNT, "AD_TRACKING_URI": self.mlflow_uri,
                 "AD_SPARK_MASTER": "k8s://https://kubernetes.default.svc", "AD_KFP_HOST": self.kfp_host,
                 "AD_SPARK_IMAGE": self.image, "AD_NAMESPACE": self.namespace, "AD_FEAST_PROFILE": "cluster",
                 "AD_REDIS_CONNECTION": self.redis, "AD_FEAST_PROJECT": "adaptive_delivery",
                 "AD_FEATURE_DATA": f"{self.bucket}/features", "AD_TRAINING_PROFILE": "full",
                 "AD_PUSHGATEWAY": f"prometheus-pushgateway.{self.namespace}.svc:9091"}
        out = [{"name": k, "value": v} for k, v in plain.items()]
        out.append({"name": "AD_FEAST_REGISTRY_URL",
                    "valueFrom": {"secretKeyRef": {"name": self.postgres_secret, "key": "feast-registry-uri"}}})
        out.append({"name": "AD_KNOWLEDGE_URL",
                    "valueFrom": {"secretKeyRef": {"name": self.postgres_secret, "key": "knowledge-uri"}}})
        return out


def namespace(c: Cluster) -> list[dict]:
    meta = {"namespace": c.namespace, "labels": c.labels("platform")}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": c.namespace, "labels": c.labels("platform")}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "spark", **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "spark-driver", **meta},
         "rules": [{"apiGroups": [""], "resources": ["pods", "services", "configmaps", "persistentvolumeclaims"],
                    "verbs": ["create", "get", "list", "watch", "delete", "deletecollection", "patch", "update"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "spark-driver", **meta},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "spark-driver"},
         "subjects": [{"kind": "ServiceAccount", "name": "spark", "namespace": c.namespace}]},
    ]


DELIVERY_JOB = "delivery/features/spark_jobs.py"
CAMPAIGN_JOB = "marketing/features.py"


def _spark_spec(c: Cluster, tables: tuple[str, ...] | None, job: str = DELIVERY_JOB, lake: str = "lake") -> dict:
    args = ["--lake", f"{c.bucket}/{lake}", "--out", f"{c.bucket}/features"]
    if tables:
        args += ["--tables", ",".join(tables)]
    return {
        "type": "Python", "pythonVersion": "3", "mode": "cluster", "image": c.image, "imagePullPolicy": "IfNotPresent",
        "mainApplicationFile": f"local://{IMAGE_ROOT}/src/adaptive_delivery/{job}",
        "arguments": args, "sparkVersion": c.spark_version,
        "sparkConf": {"spark.sql.session.timeZone": "UTC", "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
                      "spark.hadoop.fs.s3a.aws.credentials.provider":
                          "com.amazonaws.auth.EnvironmentVariableCredentialsProvider"},
        "restartPolicy": {"type": "OnFailure", "onFailureRetries": 2, "onFailureRetryInterval": 60,
                          "onSubmissionFailureRetries": 2, "onSubmissionFailureRetryInterval": 30},
        "driver": {"cores": 1, "memory": "4g", "serviceAccount": "spark", "labels": c.labels("features")},
        "executor": {"cores": 2, "instances": 4, "memory": "8g", "labels": c.labels("features")},
        "timeToLiveSeconds": 86_400,
    }


def spark_jobs(c: Cluster) -> list[dict]:
    """The daily full build as a SparkApplication template, and the hourly sender/provider build and
    marketing's campaign build on the operator's own schedule (for clusters that run Spark without
    Airflow)."""
    meta = {"namespace": c.namespace, "labels": c.labels("features")}
    return [
        {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
         "metadata": {"name": "features-daily", **meta}, "spec": _spark_spec(c, None)},
        {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "ScheduledSparkApplication",
         "metadata": {"name": "features-hourly", **meta},
         "spec": {"schedule": "@hourly", "concurrencyPolicy": "Forbid", "successfulRunHistoryLimit": 3,
                  "failedRunHistoryLimit": 5, "template": _spark_spec(c, HOURLY_TABLES)}},
        {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "ScheduledSparkApplication",
         "metadata": {"name": "campaign-features-hourly", **meta},
         "spec": {"schedule": "@hourly", "concurrencyPolicy": "Forbid", "successfulRunHistoryLimit": 3,
                  "failedRunHistoryLimit": 5,
                  "template": _spark_spec(c, None, CAMPAIGN_JOB, lake="campaigns/lake")}},
    ]


def _container(c: Cluster, name: str, command: list[str], port: int | None = None, cpu: str = "500m",
               memory: str = "1Gi", env: list[dict] | None = None) -> dict:
    out = {"name": name, "image": c.image, "command": command, "env": env or [],
           "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}}
    if port:
        out["ports"] = [{"containerPort": port, "name": "http"}]
        out["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 10}
    return out


def _deployment(c: Cluster, name: str, container: dict, replicas: int = 1) -> dict:
    labels = {**c.labels(name), "app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": c.namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}


def _service(c: Cluster, name: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": c.namespace, "labels": c.labels(name)},
            "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": [{"port": port, "targetPort": port, "name": "tcp"}]}}


def mlflow_server(c: Cluster) -> list[dict]:
    """MLflow's tracking server and registry: PostgreSQL for runs, object storage for artifacts."""
    env = [{"name": "MLFLOW_BACKEND_STORE_URI",
            "valueFrom": {"secretKeyRef": {"name": c.postgres_secret, "key": "mlflow-uri"}}}]
    cmd = ["sh", "-c", f"mlflow server --backend-store-uri \"$MLFLOW_BACKEND_STORE_URI\" --artifacts-destination "
                       f"{c.bucket.replace('s3a://', 's3://')}/mlflow --host 0.0.0.0 --port {c.mlflow_port}"]
    return [_deployment(c, "mlflow", _container(c, "mlflow", cmd, c.mlflow_port, env=env), replicas=2),
            _service(c, "mlflow", c.mlflow_port)]


def feast_redis(c: Cluster) -> list[dict]:
    """Redis for Feast's online store, and the cluster profile's feature_store.yaml as a ConfigMap."""
    redis = {"name": "redis", "image": "redis:7.4-alpine", "args": ["--save", "", "--appendonly", "yes"],
             "ports": [{"containerPort": 6379, "name": "redis"}],
             "resources": {"requests": {"cpu": "500m", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
             "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10}}
    profile = (HERE.parent / "feature_repo" / "profiles" / "cluster.yaml").read_text()
    return [_deployment(c, "redis", redis), _service(c, "redis", 6379),
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "feast-feature-store", "namespace": c.namespace, "labels": c.labels("feast")},
             "data": {"feature_store.yaml": profile}}]


def stream_consumers(c: Cluster, replicas: int = 2) -> list[dict]:
    """The delivery events' consumer group (`adaptive-delivery stream consume`) and marketing's
    campaign reports' (`stream consume-campaigns`): StatefulSets, so each consumer keeps its name
    across restarts (a restarted consumer takes back what it left pending, and a subscriber
    snapshot it claimed), writing the lakes under AD_HOME on the shared volume the Airflow workers
    mount; delivery's consumers also write the outcome store on PostgreSQL and the online store
    through the push sources."""
    name = "stream-consumer"
    env = [*c.env(), {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "AD_OUTCOME_STORE", "valueFrom": {"secretKeyRef": {"name": c.postgres_secret,
                                                                         "key": "outcome-store-uri"}}}]
    args = ["--lake", "$(AD_HOME)/lake", "--redis-address", "$(AD_REDIS_CONNECTION)", "--name", "$(POD_NAME)",
            "--outcome-store", "$(AD_OUTCOME_STORE)", "--feature-store", "$(AD_HOME)/feast",
            "--feature-data", "$(AD_FEATURE_DATA)", "--profile", "cluster"]
    container = {**_container(c, "consumer", ["adaptive-delivery", "stream", "consume"], cpu="1", memory="2Gi",
                              env=env), "args": args,
                 "volumeMounts": [{"name": "home", "mountPath": HOME_MOUNT}]}
    campaign_args = ["--lake", "$(AD_HOME)/campaigns/lake", "--redis-address", "$(AD_REDIS_CONNECTION)",
                     "--name", "$(POD_NAME)"]
    campaigns = {**_container(c, "consumer", ["adaptive-delivery", "stream", "consume-campaigns"], cpu="1",
                              memory="2Gi", env=env[:-1]), "args": campaign_args,
                 "volumeMounts": [{"name": "home", "mountPath": HOME_MOUNT}]}
    return [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": HOME_CLAIM, "namespace": c.namespace, "labels": c.labels("platform")},
         "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "500Gi"}}}},
        *_consumer_set(c, name, container, replicas),
        *_consumer_set(c, "campaign-consumer", campaigns, 1),  # marketing's campaign reports
    ]


def _consumer_set(c: Cluster, name: str, container: dict, replicas: int) -> list[dict]:
    """A consumer group's headless Service and StatefulSet (stable names across restarts)."""
    labels = {**c.labels(name), "app.kubernetes.io/name": name}
    volume = {"name": "home", "persistentVolumeClaim": {"claimName": HOME_CLAIM}}
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": c.namespace, "labels": c.labels(name)},
         "spec": {"clusterIP": "None", "selector": {"app.kubernetes.io/name": name}}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": name, "namespace": c.namespace, "labels": labels},
         "spec": {"serviceName": name, "replicas": replicas, "podManagementPolicy": "Parallel",
                  "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"terminationGracePeriodSeconds": 60, "containers": [container],
                                        "volumes": [volume]}}}},
    ]


def pipeline_runs(c: Cluster) -> list[dict]:
    """One Job per model spec that submits its Kubeflow pipeline once (Airflow's retraining DAGs do
    the same on schedule): for an ML engineer who wants a run now, without Airflow."""
    out = []
    for spec in all_specs():
        name = f"train-{spec.model_id.lower()}"
        container = _container(c, "submit", ["python", "-m", "pipelines.training", "submit", spec.model_id],
                               env=c.env(), memory="512Mi", cpu="250m")
        out.append({"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"generateName": f"{name}-", "namespace": c.namespace, "labels": c.labels("training")},
                    "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 8 * 3600, "ttlSecondsAfterFinished": 86_400,
                             "template": {"metadata": {"labels": c.labels("training")},
                                          "spec": {"restartPolicy": "Never", "containers": [container]}}}})
    return out


def airflow_values(c: Cluster) -> dict:
    """Values for the Apache Airflow Helm chart: KubernetesExecutor, this image, the cluster profile."""
    repo, tag = c.image.rsplit(":", 1)
    return {
        "executor": "KubernetesExecutor",
        "images": {"airflow": {"repository": repo, "tag": tag, "pullPolicy": "IfNotPresent"}},
        "env": c.env(),
        "config": {"core": {"dags_folder": f"{IMAGE_ROOT}/dags", "load_examples": "False", "parallelism": 16,
                            "dags_are_paused_at_creation": "True"},
                   "logging": {"remote_logging": "True", "remote_base_log_folder": f"{c.bucket.replace('s3a://', 's3://')}/airflow-logs"}},
        "dags": {"persistence": {"enabled": False}, "gitSync": {"enabled": False}},  # DAGs are baked into the image
        "workers": {"resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
                    "extraVolumes": [{"name": "home", "persistentVolumeClaim": {"claimName": HOME_CLAIM}}],
                    "extraVolumeMounts": [{"name": "home", "mountPath": HOME_MOUNT}]},
        "postgresql": {"enabled": False},
        "data": {"metadataSecretName": "airflow-metadata"},
    }


def documents(c: Cluster | None = None) -> dict[str, list[dict]]:
    """File name -> Kubernetes documents (the Airflow values are a single mapping, not a resource)."""
    c = c or Cluster()
    return {"namespace.yaml": namespace(c), "spark-features.yaml": spark_jobs(c), "mlflow.yaml": mlflow_server(c),
            "feast-redis.yaml": feast_redis(c), "stream-consumers.yaml": stream_consumers(c),
            "pipeline-runs.yaml": pipeline_runs(c)}


# Derived from the registered model specs (one Job per model): written with the others, never
# committed, so a new model changes no file outside its folder here
FROM_SPECS = ("pipeline-runs.yaml",)


def write(out: Path = HERE / "cluster", c: Cluster | None = None) -> list[Path]:
    c = c or Cluster()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, docs in documents(c).items():
        (out / name).write_text(f"# generated by k8s/cluster.py; do not edit\n{yaml.safe_dump_all(docs, sort_keys=False)}")
        paths.append(out / name)
    (out / "airflow-values.yaml").write_text("# generated by k8s/cluster.py; helm install airflow apache-airflow/airflow "
                                             f"-n {c.namespace} -f airflow-values.yaml\n"
                                             + yaml.safe_dump(airflow_values(c), sort_keys=False))
    return [*paths, out / "airflow-values.yaml"]


if __name__ == "__main__":
    for path in write():
        print(path)
