# The MLServer image of Seldon's server pods (adaptive_delivery.platform.image.SERVING_IMAGE): the
# serving environment, the model runtimes and the serving guard. serving.seldon.server_config runs
# `python -m serving.mlserver_main start /mnt/agent/models` in it; tests/unit/test_platform_image.py
# checks it carries what that command imports.
# Build from the repository root:
#   docker build -f k8s/images/serving.Dockerfile -t ghcr.io/adaptive-delivery/serving:0.1.0 .
FROM python:3.11-slim
WORKDIR /opt/adaptive-delivery
COPY requirements/serving.lock requirements/serving.lock
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir torch==2.13.0 --index-url ${TORCH_INDEX} \
    && pip install --no-cache-dir -r requirements/serving.lock
COPY pyproject.toml README.md ./
COPY src src
COPY serving serving
COPY components components
COPY pipelines pipelines
RUN pip install --no-cache-dir --no-deps .
# Seldon's pods run as user 1000 (the ServerConfig's securityContext)
USER 1000
