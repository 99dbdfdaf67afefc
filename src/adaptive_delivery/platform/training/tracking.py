"""MLflow bookkeeping for a training run that spans several processes (one per pipeline step).

The first step opens a parent run for the whole pipeline run; every step then opens a child run
under it (its own parameters, metrics, artifacts and duration), so the MLflow UI shows the run as a
tree: load → drift → tune (one grandchild per Optuna trial) → train → evaluate → register → gate.
The summary a reviewer compares — holdout metrics, the model, the reports — lives on the parent.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

STATUS_TAG = "stopped_reason"


def default_tracking_uri(home: str | Path) -> str:
    """A SQLite store under `home` (the embedded default)."""
    return f"sqlite:///{Path(home).resolve() / 'mlflow.db'}"


@dataclass(frozen=True)
class Tracking:
    """Where runs go: a tracking URI (SQLite file or server) and an experiment name."""

    uri: str
    experiment: str = "adaptive-delivery"

    def client(self):
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        return MlflowClient(self.uri, self.uri)

    def artifact_location(self) -> str | None:
        """Artifacts beside a SQLite store (never in the working directory); a server decides itself."""
        parsed = urlparse(self.uri)
        if parsed.scheme == "sqlite":
            return (Path(self.uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
        return None

    def experiment_id(self) -> str:
        client = self.client()
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(self.experiment, artifact_location=self.artifact_location())
        except Exception:  # another step created it first
            return client.get_experiment_by_name(self.experiment).experiment_id

    def start_parent(self, run_name: str, tags: dict[str, str], params: dict[str, object]) -> str:
        """Open the pipeline run's parent run (left RUNNING until the gate step closes it)."""
        run = self.client().create_run(self.experiment_id(), run_name=run_name, tags=tags)
        self.log_to(run.info.run_id, params=params)
        return run.info.run_id

    @contextlib.contextmanager
    def step(self, parent_run_id: str, name: str) -> Iterator[object]:
        """A child run for one pipeline step. If the step raises, the child and the parent are marked
        FAILED and the parent records which step stopped the run and why."""
        import mlflow

        self.client()
        start = time.perf_counter()
        with mlflow.start_run(experiment_id=self.experiment_id(), run_name=name, nested=True,
                              parent_run_id=parent_run_id, tags={"step": name}) as run:
            try:
                yield run
            except BaseException as exc:
                mlflow.set_tag(STATUS_TAG, str(exc)[:4900])
                mlflow.end_run(status="FAILED")
                self.fail_parent(parent_run_id, name, exc)
                raise
            finally:
                if mlflow.active_run() is not None:
                    mlflow.log_metric("step_seconds", time.perf_counter() - start)

    def log_to(self, run_id: str, params: dict[str, object] | None = None,
               metrics: dict[str, float] | None = None) -> None:
        """Log onto a run that is not this process's active run (the parent, from a step)."""
        from mlflow.entities import Metric, Param

        stamp = int(time.time() * 1000)
        self.client().log_batch(
            run_id, metrics=[Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()])

    def log_file(self, run_id: str | None, path: str | Path, artifact_path: str) -> None:
        """Log a file under a chosen name (KFP names its artifact files after the output, not the
        content); `run_id` None means this process's active run."""
        import shutil
        import tempfile

        import mlflow

        folder, _, name = artifact_path.rpartition("/")
        with tempfile.TemporaryDirectory() as tmp:
            named = Path(tmp) / name
            shutil.copyfile(path, named)
            if run_id is None:
                mlflow.log_artifact(str(named), folder or None)
            else:
                self.client().log_artifact(run_id, str(named), folder or None)

    def fail_parent(self, parent_run_id: str, step: str, exc: BaseException) -> None:
        client = self.client()
        client.set_tag(parent_run_id, "failed_step", step)
        client.set_tag(parent_run_id, STATUS_TAG, f"{type(exc).__name__}: {exc}"[:4900])
        client.set_terminated(parent_run_id, status="FAILED")

    def finish_parent(self, parent_run_id: str) -> None:
        self.client().set_terminated(parent_run_id, status="FINISHED")
