"""The one container image everything on a cluster runs: Kubeflow components, Spark feature jobs,
Airflow workers, the MLflow server and the pipeline-run Jobs. Built from
`k8s/images/platform.Dockerfile`; a test reads that Dockerfile and every generated manifest and
fails when a manifest names another image or runs a file the image does not carry."""

PLATFORM_IMAGE = "ghcr.io/adaptive-delivery/platform:0.1.0"
# Where the Dockerfile puts the repository inside the image (its WORKDIR).
IMAGE_ROOT = "/opt/adaptive-delivery"
# The MLServer image of Seldon's server pods (`serving.seldon.server_config`): the serving environment,
# the model runtimes and the serving guard. Built from `k8s/images/serving.Dockerfile`.
SERVING_IMAGE = "ghcr.io/adaptive-delivery/serving:0.1.0"
