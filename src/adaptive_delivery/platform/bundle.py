"""A trained model together with everything needed to use it on raw feature rows: the feature
columns it was trained on, the categorical vocabularies, the classes, and the spec's action policy.

Training, evaluation, the MLflow pyfunc and the serving runtimes all predict through this one
object, so a feature is encoded the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adaptive_delivery.platform.training.dataset import encode


@dataclass
class TrainedModel:
    model_id: str
    classes: tuple[str, ...]
    features: list[str]
    categorical: list[str]
    categories: dict[str, list[str]]
    model: Any  # has predict_proba(X) on the encoded matrix
    params: dict = field(default_factory=dict)
    trained_rows: int = 0
    trained_until: str = ""
    # Per-segment probability offsets fitted on the newest days (training.recalibration); the
    # segment is a raw feature column (MDL-001: provider). Empty: the model's own probabilities.
    segment: str = ""
    offsets: dict[str, list[float]] = field(default_factory=dict)

    def __setstate__(self, state: dict) -> None:
        """Bundles pickled before a field existed load with that field's default."""
        self.__dict__.update({"segment": "", "offsets": {}, **state})

    @property
    def inputs(self) -> list[str]:
        """The raw columns a caller supplies: the features, with the element columns of an array
        feature (`name[k]`, `training.dataset.ELEMENT`) given as the array `name` once."""
        from adaptive_delivery.platform.training.dataset import ELEMENT

        out: dict[str, None] = {}
        for col in self.features:
            match = ELEMENT.match(col)
            out[match["base"] if match else col] = None
        return list(out)

    def encode(self, frame: pd.DataFrame | Mapping[str, np.ndarray]) -> pd.DataFrame:
        X, _ = encode(frame, self.features, self.categorical, self.categories)
        return X

    def predict_proba(self, frame: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities for raw feature rows (Feast's full feature names as columns; a frame
        or one array per column)."""
        proba = np.asarray(self.model.predict_proba(self.encode(frame)), dtype=float)
        if self.offsets and self.segment in frame:
            from adaptive_delivery.platform.training.recalibration import apply_segment_offsets

            proba = apply_segment_offsets(proba, np.asarray(frame[self.segment]), self.offsets)
        return proba

    def for_serving(self, tolerance: float = 1e-6) -> TrainedModel:
        """This bundle predicting through its model's fastest faithful form where the model has
        one (`model.compiled()`: numpy and XGBoost's inplace prediction, no pandas or torch per
        call) and `model.probe()` rows show it answers within `tolerance` of the model itself;
        otherwise this bundle unchanged. Raises where the compiled form disagrees: a served model
        must be the registered one."""
        compile_model = getattr(self.model, "compiled", None)
        fast = compile_model() if compile_model is not None else None
        if fast is None:
            return self
        probe = self.model.probe()
        single = probe.head(16)  # also one row at a time: small batches may take another path
        got = [fast.predict_proba(probe.to_numpy()), *(fast.predict_proba(single.to_numpy()[i:i + 1])
                                                       for i in range(len(single)))]
        want = [self.model.predict_proba(probe), self.model.predict_proba(single)]
        gap = float(np.max(np.abs(np.vstack([np.asarray(g, dtype=float) for g in got])
                                  - np.vstack([np.asarray(w, dtype=float) for w in want]))))
        if not gap <= tolerance:
            raise ValueError(f"{self.model_id}: the compiled model differs from the registered one by {gap:.3g} "
                             f"(> {tolerance:g}) on probe rows, in one batch and one at a time")
        return replace(self, model=fast)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One column per class probability, and the action when the spec declares a policy."""
        from adaptive_delivery.platform.spec import get

        proba = self.predict_proba(frame)
        out = pd.DataFrame(proba, columns=[f"p_{c}" for c in self.classes])
        decide = get(self.model_id).decide
        if decide is not None:
            out["action"] = decide(proba, frame)
        return out

    def feature_importance(self) -> dict[str, float]:
        get_importance = getattr(self.model, "feature_importance", None)
        return get_importance() if get_importance else {}

    def save(self, path: str | Path) -> Path:
        import joblib

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path)
        return path

    @staticmethod
    def locate(uri: str | Path) -> Path:
        """The bundle file inside an MLflow pyfunc model folder (or the bundle file itself)."""
        import yaml

        path = Path(uri)
        if path.is_file():
            return path
        mlmodel = path / "MLmodel"
        if not mlmodel.exists():
            raise FileNotFoundError(f"{uri} is neither a model bundle nor an MLflow model folder")
        artifacts = yaml.safe_load(mlmodel.read_text())["flavors"]["python_function"]["artifacts"]
        return path / artifacts["bundle"]["path"]

    @staticmethod
    def load(path: str | Path) -> TrainedModel:
        import joblib

        obj = joblib.load(path)
        if not isinstance(obj, TrainedModel):
            raise TypeError(f"{path} does not hold a TrainedModel (got {type(obj).__name__})")
        return obj
