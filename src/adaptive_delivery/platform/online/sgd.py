"""Online gradient descent for a served network between retrainings, and the watch that says when
a retraining is due.

- `LogisticHead`: a network's sigmoid output layer, updated by gradient descent on each batch of
  feedback (the outcomes of what was served). Only the outcomes a row observed count (a mask), and
  a proximal term pulls the weights back towards the trained ones, so a burst of odd feedback
  moves the model a little and never far: the trunk stays the retrained model's.
- `ErrorDrift`: ADWIN (river's adaptive windowing, Bifet & Gavaldà 2007) on the champion's errors
  (outcome minus predicted probability). The champion is the registered model, frozen: its errors
  move only when the world does, whereas the online-updated model's errors come back towards zero
  as it adapts, which would read as a second change. A detection is a reason to retrain."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LEARNING_RATE = 0.05
PROXIMAL = 1e-3  # weight of the pull towards the trained output layer
ADWIN_DELTA = 0.002  # river's default: the confidence a change must reach


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


@dataclass
class LogisticHead:
    """Output layer `sigmoid(h @ weight + bias)`, one column per outcome."""

    weight: np.ndarray  # (hidden, outcomes)
    bias: np.ndarray  # (outcomes,)
    learning_rate: float = LEARNING_RATE
    proximal: float = PROXIMAL
    anchor: tuple[np.ndarray, np.ndarray] = field(init=False)
    steps: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.weight = np.asarray(self.weight, dtype=np.float64).copy()
        self.bias = np.asarray(self.bias, dtype=np.float64).copy()
        self.anchor = (self.weight.copy(), self.bias.copy())

    def predict(self, hidden: np.ndarray) -> np.ndarray:
        return _sigmoid(hidden @ self.weight + self.bias)

    def step(self, hidden: np.ndarray, target: np.ndarray, observed: np.ndarray | None = None) -> float:
        """One gradient step on a batch; returns the batch's mean log loss before the step (over
        the observed outcomes)."""
        hidden = np.asarray(hidden, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        mask = np.ones_like(target) if observed is None else np.asarray(observed, dtype=np.float64)
        p = np.clip(self.predict(hidden), 1e-7, 1 - 1e-7)
        loss = float(-(mask * (target * np.log(p) + (1 - target) * np.log(1 - p))).sum() / max(mask.sum(), 1.0))
        # each outcome's mean gradient over the rows that observed it
        error = (p - target) * mask / np.maximum(mask.sum(axis=0), 1.0)
        self.weight -= self.learning_rate * (hidden.T @ error + self.proximal * (self.weight - self.anchor[0]))
        self.bias -= self.learning_rate * (error.sum(axis=0) + self.proximal * (self.bias - self.anchor[1]))
        self.steps += 1
        return loss


@dataclass
class ErrorDrift:
    """ADWIN over the champion's errors, one value per observed outcome."""

    delta: float = ADWIN_DELTA
    seen: int = 0
    detections: list[int] = field(default_factory=list)  # positions (errors seen) where a change was found

    def __post_init__(self) -> None:
        from river import drift

        self._adwin = drift.ADWIN(delta=self.delta)

    def update(self, errors: np.ndarray) -> bool:
        """Feed a batch's errors; True when a change was found in it."""
        found = False
        for e in np.asarray(errors, dtype=np.float64).reshape(-1):
            self._adwin.update(float(e))
            self.seen += 1
            if self._adwin.drift_detected:
                self.detections.append(self.seen)
                found = True
        return found

    @property
    def recent_mean(self) -> float:
        """The mean error over ADWIN's current window (what the champion misses by now)."""
        return float(self._adwin.estimation)
