"""Kubeflow pipelines assembled from `components/`."""
