"""The training pipelines, specialised per model spec. Supervised models: load → drift → tune →
train → evaluate → register → gate. Control policies learned in the simulator (MDL-003, MDL-009)
and models learned from a labelled corpus (MDL-007): train → evaluate (beside the baselines and
the oracle) → register + gate. Both run locally through
`kfp.local.SubprocessRunner(use_venv=False)` and compile to pipeline YAML for Kubeflow, where
steps of a model that needs a GPU ask for an `nvidia.com/gpu` on an A100 node and every other step
asks for CPU and memory only.

    python -m pipelines.training compile MDL-001 --out build/pipelines/
"""


import argparse
import inspect
import types
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kfp import compiler, dsl, kubernetes
from kfp.dsl import pipeline_task as _kfp_pipeline_task

from adaptive_delivery.platform.spec import PIPELINE_RUNNERS, ModelSpec, all_specs, get
from components.check_drift import check_drift
from components.evaluate import evaluate
from components.evaluate_policy import evaluate_policy
from components.gate import gate
from components.load_training_set import load_training_set
from components.register import register
from components.register_policy import register_policy
from components.train_model import train_model
from components.train_policy import train_policy
from components.tune import tune


def _frames_without_source(context: int = 1) -> list[inspect.FrameInfo]:
    """`inspect.stack()` for the caller, without reading each frame's source: KFP asks for the stack
    only for the calling method's name (for an error message), on every resource it sets; with the
    source, each call looks every frame's module up across `sys.modules`, which took 15-34 s to compile
    the pipelines inside a test worker or an Airflow task that has imported much."""
    return inspect.stack(0)[1:]


_kfp_pipeline_task.inspect = types.SimpleNamespace(stack=_frames_without_source)

# Where GPU steps run on the cluster: A100 nodes (GKE's accelerator label; other clouds relabel).
GPU_NODE_LABEL = ("cloud.google.com/gke-accelerator", "nvidia-tesla-a100")
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class StepResources:
    cpu: str
    memory: str
    gpu: bool = False


def step_resources(spec: ModelSpec) -> dict[str, StepResources]:
    """Requests per step: tuning and training get the GPU when the model has a network to train."""
    heavy = StepResources("8", "32G", gpu=spec.needs_gpu)
    return {"load": StepResources("2", "8G"), "drift": StepResources("1", "4G"), "tune": heavy, "train": heavy,
            "evaluate": StepResources("2", "8G"), "register": StepResources("1", "2G"), "gate": StepResources("2", "8G")}


def _place(task: dsl.PipelineTask, res: StepResources) -> dsl.PipelineTask:
    task.set_cpu_request(res.cpu).set_memory_request(res.memory).set_memory_limit(res.memory)
    task.set_caching_options(False)  # retraining must see today's data, never a cached split
    if res.gpu:
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
        kubernetes.add_node_selector(task, label_key=GPU_NODE_LABEL[0], label_value=GPU_NODE_LABEL[1])
        kubernetes.add_toleration(task, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
    return task


def build_pipeline(spec: ModelSpec):
    """The pipeline function for one model (its id and resources are fixed at compile time)."""
    res = step_resources(spec)

    @dsl.pipeline(name=f"train-{spec.model_id.lower()}",
                  description=f"Tune, train, evaluate, register and gate {spec.model_id} {spec.name}.")
    def training_pipeline(lake: str, features: str, feast_home: str, tracking_uri: str, truth_dir: str = "",
                          profile: str = "quick", experiment: str = "adaptive-delivery", holdout_days: int = 0,
                          recalibration_days: int = 0, expected_drift: str = "") -> str:
        ids = {"model_id": spec.model_id, "tracking_uri": tracking_uri, "experiment": experiment}
        load = _place(load_training_set(profile=profile, lake=lake, features=features, feast_home=feast_home,
                                        holdout_days=holdout_days, recalibration_days=recalibration_days,
                                        expected_drift=expected_drift, **ids),
                      res["load"])
        run_id = load.outputs["Output"]
        train_set, holdout_set = load.outputs["train"], load.outputs["holdout"]
        drift = _place(check_drift(run_id=run_id, train=train_set, holdout=holdout_set, expected_drift=expected_drift,
                                   **ids), res["drift"])
        tuned = _place(tune(profile=profile, run_id=run_id, train=train_set, **ids), res["tune"])
        trained = _place(train_model(profile=profile, run_id=run_id, train=train_set,
                                     best_params=tuned.outputs["best_params"], recalibration_days=recalibration_days,
                                     **ids), res["train"])
        scored = _place(evaluate(run_id=run_id, truth_dir=truth_dir, model=trained.outputs["model"],
                                 holdout=holdout_set, **ids), res["evaluate"])
        registered = _place(register(run_id=run_id, model=trained.outputs["model"], holdout=holdout_set, **ids),
                            res["register"]).after(scored)
        verdict = _place(gate(run_id=run_id, version=registered.output, drift_failures=drift.outputs["Output"],
                              holdout=holdout_set, **ids), res["gate"])
        return verdict.output

    return training_pipeline


def build_policy_pipeline(spec: ModelSpec):
    """The pipeline of a model with its own trainer (a control policy learned in the simulator, a
    scorer learned from a corpus): train -> evaluate on held-out worlds or messages beside the
    baselines and the oracle -> register `challenger` and gate."""
    heavy = StepResources("8", "16G", gpu=spec.needs_gpu)

    @dsl.pipeline(name=f"train-{spec.model_id.lower()}",
                  description=f"Train {spec.model_id} {spec.name} ({spec.trainer}), evaluate, register and gate.")
    def policy_pipeline(tracking_uri: str, profile: str = "quick", seed: int = 0,
                        experiment: str = "adaptive-delivery") -> str:
        trained = _place(train_policy(model_id=spec.model_id, profile=profile, seed=seed), heavy)
        scored = _place(evaluate_policy(model_id=spec.model_id, profile=profile, policy=trained.outputs["policy"]),
                        StepResources("8", "16G"))
        verdict = _place(register_policy(model_id=spec.model_id, profile=profile, tracking_uri=tracking_uri,
                                         experiment=experiment, policy=trained.outputs["policy"],
                                         evaluation=scored.outputs["evaluation"]), StepResources("1", "4G"))
        return verdict.output

    return policy_pipeline


def pipeline_for(spec: ModelSpec):
    """Supervised models get the feature-table pipeline; models with their own trainer the policy one."""
    return build_pipeline(spec) if spec.trains_on_features else build_policy_pipeline(spec)


def compile_pipeline(spec: ModelSpec, out_dir: str | Path) -> Path:
    path = Path(out_dir) / f"train-{spec.model_id.lower()}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_for(spec), str(path))
    return path


def run_policy_local(spec: ModelSpec, *, tracking_uri: str, pipeline_root: Path, profile: str = "quick",
                     seed: int = 0, experiment: str = "adaptive-delivery") -> str:
    """Run a control policy's pipeline through KFP's local runner; returns the gate's verdict."""
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(Path(pipeline_root).resolve()),
               raise_on_error=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*base image.*", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        task = build_policy_pipeline(spec)(tracking_uri=tracking_uri, profile=profile, seed=seed, experiment=experiment)
    return str(task.output)


def run_local(spec: ModelSpec, *, lake: Path, features: Path, feast_home: Path, tracking_uri: str,
              pipeline_root: Path, truth_dir: Path | None = None, profile: str = "quick",
              experiment: str = "adaptive-delivery", holdout_days: int = 0, recalibration_days: int = 0,
              expected_drift: str = "") -> str:
    """Run the pipeline in this environment, one subprocess per step; returns the gate's verdict.
    A failing step raises RuntimeError (after marking the MLflow run FAILED with its reason)."""
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(Path(pipeline_root).resolve()),
               raise_on_error=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*base image.*", category=RuntimeWarning)
        # resources and accelerators are for the cluster; the local runner says so for every task
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        task = build_pipeline(spec)(lake=str(Path(lake).resolve()), features=str(Path(features).resolve()),
                                    feast_home=str(Path(feast_home).resolve()), tracking_uri=tracking_uri,
                                    truth_dir=str(Path(truth_dir).resolve()) if truth_dir else "", profile=profile,
                                    experiment=experiment, holdout_days=holdout_days,
                                    recalibration_days=recalibration_days, expected_drift=expected_drift)
    return str(task.output)


def _local_artifact(work: Path, kind, task: str, name: str):
    """An output where KFP's local runner puts it (<run>/<task>/<output>), so readers of a run's
    artifacts find them whichever runner wrote them."""
    (work / task).mkdir(parents=True, exist_ok=True)
    return kind(name=name, uri=str(work / task / name), metadata={})


def run_policy_in_process(spec: ModelSpec, *, tracking_uri: str, workdir: Path, profile: str = "quick", seed: int = 0,
                          experiment: str = "adaptive-delivery") -> str:
    """A policy pipeline's steps (train, evaluate, register + gate) in this process, on local
    artifacts laid out as KFP's; the same contract as `run_policy_local`. Returns the verdict."""
    work = Path(workdir).resolve()
    policy = _local_artifact(work, dsl.Model, "train-policy", "policy")
    evaluation = _local_artifact(work, dsl.Artifact, "evaluate-policy", "evaluation")
    ids = {"model_id": spec.model_id, "profile": profile}
    try:
        train_policy.python_func(seed=seed, policy=policy, **ids)
        evaluate_policy.python_func(policy=policy, evaluation=evaluation,
                                    metrics=_local_artifact(work, dsl.Metrics, "evaluate-policy", "metrics"), **ids)
        return register_policy.python_func(tracking_uri=tracking_uri, experiment=experiment, policy=policy,
                                           evaluation=evaluation, **ids)
    except Exception as exc:  # the same contract as run_policy_local: a failing step is a RuntimeError
        raise RuntimeError(f"{spec.model_id} pipeline stopped: {exc}") from exc


def run_in_process(spec: ModelSpec, *, lake: Path, features: Path, feast_home: Path, tracking_uri: str,
                   workdir: Path, truth_dir: Path | None = None, profile: str = "quick",
                   experiment: str = "adaptive-delivery", holdout_days: int = 0, recalibration_days: int = 0,
                   expected_drift: str = "") -> str:
    """The supervised pipeline's steps in this process, in the pipeline's order, calling the same
    component functions on local artifacts under `workdir`: for notebooks and debugging (a breakpoint
    stops in a step), with none of a subprocess per step. `run_local` is the Kubeflow run; both log
    the same MLflow runs and register the same way. Returns the gate's verdict."""
    work = Path(workdir).resolve()

    def artifact(kind, task: str, name: str):
        return _local_artifact(work, kind, task, name)

    ids = {"model_id": spec.model_id, "tracking_uri": tracking_uri, "experiment": experiment}
    train, holdout = artifact(dsl.Dataset, "load-training-set", "train"), artifact(dsl.Dataset, "load-training-set",
                                                                                  "holdout")
    best, model = artifact(dsl.Artifact, "tune", "best_params"), artifact(dsl.Model, "train-model", "model")
    try:
        run_id = load_training_set.python_func(
            profile=profile, lake=str(Path(lake).resolve()), features=str(Path(features).resolve()),
            feast_home=str(Path(feast_home).resolve()), train=train, holdout=holdout, holdout_days=holdout_days,
            recalibration_days=recalibration_days, expected_drift=expected_drift, **ids)
        failures = check_drift.python_func(run_id=run_id, train=train, holdout=holdout, expected_drift=expected_drift,
                                           report=artifact(dsl.HTML, "check-drift", "report"), **ids)
        tune.python_func(profile=profile, run_id=run_id, train=train, best_params=best, **ids)
        train_model.python_func(profile=profile, run_id=run_id, train=train, best_params=best, model=model,
                                recalibration_days=recalibration_days, **ids)
        evaluate.python_func(run_id=run_id, truth_dir=str(Path(truth_dir).resolve()) if truth_dir else "", model=model,
                             holdout=holdout, metrics=artifact(dsl.Metrics, "evaluate", "metrics"),
                             report=artifact(dsl.HTML, "evaluate", "report"), **ids)
        version = register.python_func(run_id=run_id, model=model, holdout=holdout, **ids)
        return gate.python_func(run_id=run_id, version=version, drift_failures=failures, holdout=holdout, **ids)
    except Exception as exc:  # the same contract as run_local: a failing step is a RuntimeError
        raise RuntimeError(f"{spec.model_id} pipeline stopped: {exc}") from exc


# Where a pipeline runs in this environment (a Kubeflow cluster is the deployment's `kfp_host`): the
# in-process runner is for notebooks, debugging, and runs where a Python start per step costs more
# than the step.
RUNNERS = PIPELINE_RUNNERS


def run_here(spec: ModelSpec, runner: str, *, pipeline_root: Path, **arguments) -> str:
    """A spec's pipeline in this environment by the runner's name (`RUNNERS`): the supervised one
    with `run_local`'s arguments, a policy one with `run_policy_local`'s; an in-process run's
    artifacts go where KFP's would (`<pipeline_root>/train-<model>-<time>/<task>/`)."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown pipeline runner {runner!r}; choose one of {', '.join(RUNNERS)}")
    if runner == "kfp-local":
        run = run_local if spec.trains_on_features else run_policy_local
        return run(spec, pipeline_root=pipeline_root, **arguments)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H-%M-%S-%f")
    run = run_in_process if spec.trains_on_features else run_policy_in_process
    return run(spec, workdir=Path(pipeline_root) / f"train-{spec.model_id.lower()}-{stamp}", **arguments)


# Run arguments a retraining request may set (the monitoring DAG's, answering an alarm); the
# policy pipelines train outside the feature table and take none of them.
WINDOW_ARGUMENTS = ("holdout_days", "recalibration_days", "expected_drift")


def pipeline_arguments(spec: ModelSpec, dep, window: dict[str, int] | None = None) -> dict[str, object]:
    """The run arguments of a spec's pipeline for a deployment (`adaptive_delivery.delivery.jobs.Deployment`),
    with a request's window arguments (`holdout_days`, `recalibration_days`: 0 or absent, the spec's;
    `expected_drift`: why the newest data is known to differ, empty when it is not)."""
    if not spec.trains_on_features:
        return {"tracking_uri": dep.tracking_uri, "profile": dep.training_profile}
    unknown = set(window or {}) - set(WINDOW_ARGUMENTS)
    if unknown:
        raise ValueError(f"unknown pipeline window arguments {sorted(unknown)}; known: {list(WINDOW_ARGUMENTS)}")
    truth = dep.truth if (dep.truth / "messages").is_dir() else None
    return {"lake": str(dep.lake), "features": str(dep.features), "feast_home": str(dep.feast_home),
            "tracking_uri": dep.tracking_uri, "truth_dir": str(truth) if truth else "", "profile": dep.training_profile,
            **{k: int((window or {}).get(k) or 0) for k in WINDOW_ARGUMENTS if k != "expected_drift"},
            "expected_drift": str((window or {}).get("expected_drift") or "")[:500]}


def submit(spec: ModelSpec, host: str, arguments: dict[str, object], *, experiment: str = "adaptive-delivery",
           timeout_s: int = 6 * 3600, client=None) -> str:
    """Submit a spec's pipeline to a Kubeflow Pipelines endpoint, wait for it, and fail on a failed
    run (an Airflow task then retries or alerts); returns the run's final state."""
    import kfp

    client = client or kfp.Client(host=host)
    run = client.create_run_from_pipeline_func(pipeline_for(spec), arguments={**arguments, "experiment": experiment},
                                               run_name=f"train-{spec.model_id.lower()}", experiment_name=experiment,
                                               enable_caching=False)
    done = client.wait_for_run_completion(run.run_id, timeout=timeout_s)
    state = str(getattr(done, "state", "UNKNOWN")).upper()
    if state != "SUCCEEDED":
        raise RuntimeError(f"Kubeflow run {run.run_id} of {spec.model_id} ended {state} (see the KFP UI at {host})")
    return state


def run_for(spec: ModelSpec, dep, *, experiment: str = "adaptive-delivery", window: dict[str, int] | None = None) -> str:
    """Run a spec's pipeline where the deployment says: a Kubeflow cluster, or here by the
    deployment's runner (`RUNNERS`).
    Returns the gate's verdict locally and the run's final state on a cluster (the verdict is in MLflow)."""
    args = pipeline_arguments(spec, dep, window)
    if dep.kfp_host:
        return submit(spec, dep.kfp_host, args, experiment=experiment)
    root = dep.home / "kfp"
    if not spec.trains_on_features:
        return run_here(spec, dep.pipeline_runner, tracking_uri=dep.tracking_uri, pipeline_root=root,
                        profile=dep.training_profile, experiment=experiment)
    return run_here(spec, dep.pipeline_runner, lake=dep.lake, features=dep.features, feast_home=dep.feast_home,
                    tracking_uri=dep.tracking_uri, pipeline_root=root,
                    truth_dir=Path(args["truth_dir"]) if args["truth_dir"] else None,
                    profile=dep.training_profile, experiment=experiment, **{k: args[k] for k in WINDOW_ARGUMENTS})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    comp = sub.add_parser("compile", help="write pipeline YAML for a cluster")
    comp.add_argument("model_id", nargs="?", help="one model (default: every registered spec)")
    comp.add_argument("--out", default="build/pipelines")
    run = sub.add_parser("submit", help="run one spec's pipeline where the AD_* deployment says (a cluster: Kubeflow)")
    run.add_argument("model_id")
    args = parser.parse_args()
    if args.command == "submit":
        from adaptive_delivery.delivery.jobs import deployment

        print(run_for(get(args.model_id), deployment()))
        return
    for spec in [get(args.model_id)] if args.model_id else all_specs():
        print(compile_pipeline(spec, args.out))


if __name__ == "__main__":
    main()
