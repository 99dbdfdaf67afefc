"""Registering a model with its own trainer (MDL-003 throttle and MDL-009 warm-up, learned in the
simulator; MDL-007 content, learned from a labelled corpus) the way every model is registered: one
MLflow run with the training parameters, the held-out evaluation's metrics (the oracle's or the
baseline's beside them), the tables and plots; what is served (a policy's exported actor, the
trainer's own export) logged as a pyfunc model, registered as `challenger` and gated against
`champion` with the spec's gates (`registry`).

Where the learned policy does not beat the best rule and no champion passes the gates, the best rule
itself (its settings as a JSON artifact, which the model's runtime serves) is registered as
`champion`, so a sender is served the rule until a learned policy beats it.

These models do not train on the feature table, so they skip the supervised
pipeline's load/tune steps; registration, aliases and gates are the same code.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

import mlflow.pyfunc
import numpy as np
import pandas as pd

from adaptive_delivery.platform.rl.pyfunc import ACTOR_ARTIFACT, RULE_ARTIFACT, ActorPyfunc
from adaptive_delivery.platform.spec import ModelSpec, PolicyTrainer
from adaptive_delivery.platform.training.pyfunc import pip_requirements
from adaptive_delivery.platform.training.registry import (
    CHALLENGER,
    CHAMPION,
    GateVerdict,
    evaluate_gates,
    gate_and_promote,
    move_alias,
    register_challenger,
    version_by_alias,
)
from adaptive_delivery.platform.training.tracking import Tracking

RUNTIME_LIBRARIES = ("numpy", "pandas", "mlflow-skinny")


POLICY_KIND_TAG = "policy_kind"  # on each version: "learned" or "rule"


def log_policy(
    spec: ModelSpec,
    *,
    tracking: Tracking,
    artifact: tuple[str, Path],
    params: dict[str, object],
    metrics: dict[str, float],
    files: dict[str, Path],
    example: pd.DataFrame | None = None,
    python_model: mlflow.pyfunc.PythonModel | None = None,
    kind: str = "learned",
) -> tuple[str, str]:
    """Log one policy run with its (artifact key, file) as a pyfunc and register it, a learned one
    as `challenger`; returns (run id, version)."""
    import mlflow

    client = tracking.client()
    learned_by = "reinforcement" if spec.trainer == "simulator" else spec.trainer
    run = client.create_run(tracking.experiment_id(), run_name=f"{'train' if kind == 'learned' else kind} {spec.model_id}",
                            tags={"model_id": spec.model_id, "trainer": learned_by if kind == "learned" else kind})
    run_id = run.info.run_id
    tracking.log_to(run_id, params=params, metrics={k: float(v) for k, v in metrics.items() if np.isfinite(v)})
    for artifact_path, path in files.items():
        tracking.log_file(run_id, path, artifact_path)
    key, path = artifact
    with mlflow.start_run(run_id=run_id):
        signature = None
        if example is not None and python_model is not None:
            from mlflow.models import infer_signature

            # the model loads from the artifact it will be logged with, as MLflow would load it
            python_model.load_context(SimpleNamespace(artifacts={key: str(path)}, model_config={}))
            signature = infer_signature(example, python_model.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name="model", python_model=python_model or ActorPyfunc(), artifacts={key: str(path)},
            signature=signature, pip_requirements=pip_requirements(RUNTIME_LIBRARIES),
        )
    version = register_challenger(client, spec, run_id, model_uri=info.model_uri,
                                  alias=CHALLENGER if kind == "learned" else None)
    client.set_model_version_tag(spec.registered_name, version, POLICY_KIND_TAG, kind)
    return run_id, version


def register_policy(
    spec: ModelSpec,
    *,
    tracking: Tracking,
    actor_path: Path,
    params: dict[str, object],
    metrics: dict[str, float],
    files: dict[str, Path],
    example: pd.DataFrame | None = None,
    python_model: mlflow.pyfunc.PythonModel | None = None,
    artifact_key: str = ACTOR_ARTIFACT,
) -> tuple[str, GateVerdict]:
    """Log one learned policy (or scorer), register it as `challenger`, gate it; returns (run id, verdict)."""
    run_id, version = log_policy(spec, tracking=tracking, artifact=(artifact_key, actor_path), params=params,
                                 metrics=metrics, files=files, example=example, python_model=python_model)
    client = tracking.client()
    verdict = gate_and_promote(client, spec, version, metrics)
    client.set_tag(run_id, "gate", verdict.summary()[:4900])
    tracking.finish_parent(run_id)
    return run_id, verdict


def champion_to_replace(client, spec: ModelSpec) -> tuple[bool, str | None]:
    """(Should the rule take over, the champion now): yes with no champion, or with a learned one
    that its own logged metrics no longer pass the gates' floors with (a gate added since, say). A
    rule champion stays until a learned policy beats it."""
    mv = version_by_alias(client, spec, CHAMPION)
    if mv is None:
        return True, None
    if mv.tags.get(POLICY_KIND_TAG) == "rule":
        return False, str(mv.version)
    passed, _ = evaluate_gates(spec, dict(client.get_run(mv.run_id).data.metrics), None)
    return not passed, str(mv.version)


def crown_rule(spec: ModelSpec, tracking: Tracking, evaluation: Path, why: str,
               replacing: str | None) -> tuple[str | None, str]:
    """Register the best rule on the evaluation's worlds and make it `champion` if the champion is
    still `replacing` (compare-and-set); returns (its version if it became champion, rule name)."""
    trainer = trainer_of(spec)
    if trainer.best_rule is None:
        raise ValueError(f"{spec.model_id} cannot serve a rule as champion")
    settings, metrics = trainer.best_rule(evaluation)
    client = tracking.client()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{spec.model_id.lower()}_rule.json"
        path.write_text(json.dumps(settings, indent=2))
        run_id, version = log_policy(spec, tracking=tracking, artifact=(RULE_ARTIFACT, path),
                                     params={"rule": settings.get("name", "rule")}, metrics=metrics,
                                     files={f"evaluation/{METRICS_FILE}": evaluation / METRICS_FILE},
                                     example=trainer.example(), python_model=trainer.pyfunc(), kind="rule")
    moved, now = move_alias(client, spec, CHAMPION, version, replacing)
    if not moved:
        why = (f"not champion: v{now} became champion meanwhile" if now != replacing else
               "not champion: other gates kept moving the champion at the same time")
    client.set_model_version_tag(spec.registered_name, version, "gate", "rule champion" if moved else "failed")
    client.set_model_version_tag(spec.registered_name, version, "gate_reasons", why[:4900])
    tracking.finish_parent(run_id)
    return (version if moved else None), str(settings.get("name", "rule"))


# ---- the policy pipeline's steps (components/*_policy.py wrap these) -----------------------------
METRICS_FILE = "metrics.json"
REPORT_SUFFIXES = (".csv", ".md", ".png", ".json", ".jsonl", ".html")


def trainer_of(spec: ModelSpec) -> PolicyTrainer:
    if spec.policy_trainer is None:
        raise ValueError(f"{spec.model_id} has no trainer of its own (trainer={spec.trainer!r})")
    return spec.policy_trainer


def train_policy_step(spec: ModelSpec, profile: str, seed: int, dest: Path) -> Path:
    """Train the policy for the profile's step budget and write it to `dest` exactly."""
    import shutil

    trainer = trainer_of(spec)
    with tempfile.TemporaryDirectory() as tmp:
        trained = trainer.train(trainer.timesteps[profile], seed, Path(tmp))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(trained, dest)
    return dest


def evaluate_policy_step(spec: ModelSpec, policy: Path, out: Path, profile: str) -> dict[str, float]:
    """Evaluate on held-out worlds; the metrics also land in OUT/metrics.json for the next step."""
    out.mkdir(parents=True, exist_ok=True)
    metrics = trainer_of(spec).evaluate(policy, out, profile)
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return metrics


def register_policy_step(spec: ModelSpec, tracking: Tracking, policy: Path, evaluation: Path,
                         params: dict[str, object] | None = None) -> GateVerdict:
    """Export what is served (a PPO policy's actor, or the trainer's own export), log the run with
    the evaluation's files, register `challenger`, gate."""
    metrics_file = evaluation / METRICS_FILE
    if not metrics_file.exists():
        raise FileNotFoundError(f"{metrics_file} is missing: evaluate the policy first")
    trainer = trainer_of(spec)
    with tempfile.TemporaryDirectory() as tmp:
        files = {f"evaluation/{f.name}": f for f in sorted(evaluation.iterdir()) if f.suffix in REPORT_SUFFIXES}
        if trainer.export is None:
            served = _export_actor(spec, policy, Path(tmp))
            files[f"policy/{spec.model_id.lower()}_ppo.zip"] = policy
        else:
            served = trainer.export(policy, Path(tmp))
        _, verdict = register_policy(spec, tracking=tracking, actor_path=served, params=params or {},
                                     metrics=json.loads(metrics_file.read_text()), files=files,
                                     example=trainer.example(), python_model=trainer.pyfunc(),
                                     artifact_key=trainer.artifact)
    if verdict.passed or trainer.best_rule is None:
        return verdict
    replace, champion = champion_to_replace(tracking.client(), spec)
    if replace:
        why = f"learned v{verdict.challenger_version} did not beat it: " + "; ".join(verdict.reasons)
        version, rule = crown_rule(spec, tracking, evaluation, why, replacing=champion)
        if version is not None:
            verdict.reasons.append(f"the best rule ({rule}) is champion as v{version}")
    return verdict


def _export_actor(spec: ModelSpec, policy: Path, folder: Path) -> Path:
    """A PPO policy's actor as the numpy file its runtime serves."""
    from stable_baselines3 import PPO

    from adaptive_delivery.platform.rl.policy_export import save_actor

    return save_actor(PPO.load(str(policy), device="cpu"), folder / f"{spec.model_id.lower()}_actor.npz")


def served_file(tracking_uri: str, spec: ModelSpec, version: str, dest: Path) -> Path:
    """The file a registered version of a model with its own trainer serves (the pyfunc artifact
    logged under its trainer's `artifact` key), downloaded under `dest`."""
    import mlflow.artifacts
    import yaml

    folder = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{spec.registered_name}/{version}",
        dst_path=str(Path(dest) / f"{spec.registered_name}-v{version}"), tracking_uri=tracking_uri))
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    artifacts = meta.get("flavors", {}).get("python_function", {}).get("artifacts", {})
    key = trainer_of(spec).artifact
    if key not in artifacts:
        raise FileNotFoundError(f"{spec.model_id} version {version} logged no {key!r} artifact "
                                f"(it holds {sorted(artifacts) or 'none'})")
    return folder / artifacts[key]["path"]
