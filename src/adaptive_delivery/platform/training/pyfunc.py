"""The MLflow pyfunc flavour of a trained model: what the registry stores and `mlflow models
serve` / the MLServer MLflow runtime load. It wraps the joblib bundle as an artifact."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from adaptive_delivery.platform.bundle import TrainedModel

BUNDLE_ARTIFACT = "bundle"
# What the model needs at load time; listed explicitly (inferring them costs seconds per model).
RUNTIME_LIBRARIES = ("numpy", "pandas", "scikit-learn", "xgboost", "lightgbm", "torch", "joblib", "mlflow-skinny")


class BundlePyfunc(mlflow.pyfunc.PythonModel):
    """Raw feature rows in, a probability per class (and the action, where the spec has one) out."""

    def load_context(self, context) -> None:
        self.bundle = TrainedModel.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.bundle.predict_frame(pd.DataFrame(model_input))


def pip_requirements(libraries: tuple[str, ...] = RUNTIME_LIBRARIES) -> list[str]:
    """Pinned to what trained the model; the adaptive-delivery package itself comes with the image."""
    pins = []
    for lib in libraries:
        try:
            pins.append(f"{lib}=={metadata.version(lib)}")
        except metadata.PackageNotFoundError:
            pins.append(lib)
    return pins


def log_bundle(bundle_path: str | Path, example: pd.DataFrame, name: str = "model"):
    """Log the bundle as a pyfunc model in the active run, with its signature; returns ModelInfo."""
    from mlflow.models import infer_signature

    bundle = TrainedModel.load(bundle_path)
    sample = example[bundle.inputs].head(50).reset_index(drop=True)
    signature = infer_signature(sample, bundle.predict_frame(sample))
    return mlflow.pyfunc.log_model(name=name, python_model=BundlePyfunc(), artifacts={BUNDLE_ARTIFACT: str(bundle_path)},
                                   signature=signature, pip_requirements=pip_requirements())
