# The one platform image (adaptive_delivery.platform.image.PLATFORM_IMAGE): Kubeflow components,
# Spark feature jobs, Airflow workers (DAGs baked in), the MLflow server and the pipeline-run Jobs all
# run it. tests/unit/test_cluster_manifests.py checks it carries every file the manifests run.
# Build from the repository root:
#   docker build -f k8s/images/platform.Dockerfile -t ghcr.io/adaptive-delivery/platform:0.1.0 .
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/adaptive-delivery
COPY requirements/platform.lock requirements/platform.lock
# torch first, from the CPU index on CPU nodes; GPU nodes use the CUDA build of the same version
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir torch==2.13.0 --index-url ${TORCH_INDEX} \
    && pip install --no-cache-dir -r requirements/platform.lock
COPY pyproject.toml README.md ./
COPY src src
# the adapters install with the package (pyproject.toml: components, pipelines, serving)
COPY components components
COPY pipelines pipelines
COPY serving serving
COPY feature_repo feature_repo
COPY dags dags
RUN pip install --no-cache-dir --no-deps .
ENV AD_FEATURE_REPO=/opt/adaptive-delivery/feature_repo \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/adaptive-delivery/dags
