"""Kubeflow Pipelines components: one thin wrapper per file over one step of
`adaptive_delivery.platform.training.steps`. Each imports the package inside its body, because KFP ships
only the function's source to the container (the platform image holds the package)."""

# The image every component runs in on a cluster: the platform environment plus this package
# (built from docker/platform.Dockerfile).
PLATFORM_IMAGE = "ghcr.io/adaptive-delivery/platform-python3.11:0.1.0"
