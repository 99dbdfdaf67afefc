"""Kubeflow Pipelines components: one thin wrapper per file over one step of
`adaptive_delivery.platform.training.steps`. Each imports the package inside its body, because KFP ships
only the function's source to the container (the platform image holds the package)."""

# The image every component runs in on a cluster (k8s/images/platform.Dockerfile): one name everywhere.
from adaptive_delivery.platform.image import PLATFORM_IMAGE

__all__ = ["PLATFORM_IMAGE"]
