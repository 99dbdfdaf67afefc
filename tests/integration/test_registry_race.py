"""Two trainings of one model registering and gating at the same time, in every order their steps
can interleave, on a real MLflow registry: the gate judges the version its own run registered
(never whatever `challenger` points at by then), so the champion is always a model that passed
its own gate with its own score, and a model trained on shuffled labels never becomes champion."""

from __future__ import annotations

import dataclasses
from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import get
from adaptive_delivery.platform.training.registry import CHAMPION, alias_metrics
from adaptive_delivery.platform.training.steps import evaluate_bundle, gate_step, register_step
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri

pytestmark = [pytest.mark.integration]
SPEC = get("MDL-001")
STEPS = ("register good", "gate good", "register shuffled", "gate shuffled")


def _orders() -> list[tuple[str, ...]]:
    """Every interleaving of the two runs' steps (each run registers before it gates)."""
    return sorted({o for o in permutations(STEPS)
                   if o.index("register good") < o.index("gate good")
                   and o.index("register shuffled") < o.index("gate shuffled")})


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A model that ranks the classes well, one trained on shuffled labels, and their holdout."""
    root = tmp_path_factory.mktemp("race")
    rng = np.random.default_rng(0)
    n = 1_500
    label = rng.integers(0, len(SPEC.classes), n)
    frame = pd.DataFrame({"x": label + rng.normal(0, 0.8, n), "noise": rng.normal(0, 1, n), "label": label,
                          "message_id": [f"m{i}" for i in range(n)]})
    train, holdout = frame.iloc[:1_000], frame.iloc[1_000:].reset_index(drop=True)
    paths = {}
    for name, column, y in (("good", "x", train.label.to_numpy()),
                            ("shuffled", "noise", rng.permutation(train.label.to_numpy()))):
        model = LogisticRegression(max_iter=500).fit(train[[column]].to_numpy(), y)
        paths[name] = TrainedModel(SPEC.model_id, SPEC.classes, [column], [], {}, model).save(root / f"{name}.pkl")
    holdout_path = root / "holdout.parquet"
    holdout.to_parquet(holdout_path)
    scores = {name: evaluate_bundle(SPEC, TrainedModel.load(p), holdout)[SPEC.primary_metric] for name, p in paths.items()}
    assert scores["good"] > 0.8 and scores["shuffled"] < 0.6  # what the gate's floor (0.70) separates
    return root, paths, holdout_path, scores


@pytest.mark.parametrize("order", _orders(), ids=lambda o: " > ".join(s.replace("register ", "r:").replace("gate ", "g:") for s in o))
def test_the_champion_passed_its_own_gate_with_its_own_score(bundles, order, tmp_path):
    root, paths, holdout_path, scores = bundles
    spec = dataclasses.replace(SPEC, name=f"race {'-'.join(s[0] + s[-1] for s in order)}")
    tracking = Tracking(default_tracking_uri(tmp_path / "mlflow"), "race")
    client = tracking.client()
    runs = {name: client.create_run(tracking.experiment_id(), run_name=name).info.run_id for name in paths}
    versions: dict[str, str] = {}
    for step in order:
        action, name = step.split()
        if action == "register":
            versions[name] = register_step(spec, tracking, runs[name], paths[name], holdout_path)
        else:
            gate_step(spec, tracking, runs[name], versions[name], holdout_path, drift_failures=[])
    for name, version in versions.items():
        tags = client.get_model_version(spec.registered_name, version).tags
        assert f"{SPEC.primary_metric} {scores[name]:.4f}" in tags["gate_reasons"], (name, tags)
        assert tags["gate"] == ("passed" if name == "good" else "failed"), (name, tags)
    champion, _ = alias_metrics(client, spec, CHAMPION)
    assert champion == versions["good"]


def _race(url: str, spec, movers: int, claims: bool) -> list[str]:
    """`movers` threads, each with its own client, move `champion` from v1 to their own version at
    once against the real tracking server; only our own alias read is slowed (patched to sleep after
    reading), so that every read happens before any write: the window a plain read-then-set leaves,
    made wide enough to hit every time. Returns the versions whose move reported success."""
    import threading
    import time
    from unittest import mock

    from mlflow import MlflowClient

    from adaptive_delivery.platform.training import registry

    client = MlflowClient(url, registry_uri=url)
    client.create_registered_model(spec.registered_name)
    experiment = client.create_experiment(spec.name)
    runs = [client.create_run(experiment).info.run_id for _ in range(movers + 1)]
    versions = [client.create_model_version(spec.registered_name, f"runs:/{r}/model", run_id=r).version for r in runs]
    client.set_registered_model_alias(spec.registered_name, CHAMPION, versions[0])
    read = registry.version_by_alias

    def slow_read(*args, **kwargs):
        got = read(*args, **kwargs)
        time.sleep(0.5)
        return got

    won: list[str] = []
    start = threading.Barrier(movers)

    def move(version: str) -> None:
        own = MlflowClient(url, registry_uri=url)
        start.wait()
        if claims:
            moved, _ = registry.move_alias(own, spec, CHAMPION, version, str(versions[0]))
        else:
            moved, _ = registry._compare_and_set(own, spec, CHAMPION, version, str(versions[0]))
        if moved:
            won.append(version)

    with mock.patch.object(registry, "version_by_alias", slow_read):
        threads = [threading.Thread(target=move, args=(str(v),)) for v in versions[1:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert str(client.get_registered_model(spec.registered_name).aliases[CHAMPION]) in won
    assert not [k for k in client.get_registered_model(spec.registered_name).tags if k.startswith("alias_claim")]
    return won


def test_on_a_tracking_server_exactly_one_of_concurrent_moves_wins(tracking_server):
    """Without claims, several movers that read `champion` at once all 'succeed', each believing it
    replaced v1 (the last write wins); with them, exactly one moves it and the others are refused."""
    plain = _race(tracking_server, dataclasses.replace(SPEC, name="race plain"), movers=4, claims=False)
    assert len(plain) > 1  # the window is real
    claimed = _race(tracking_server, dataclasses.replace(SPEC, name="race claims"), movers=4, claims=True)
    assert len(claimed) == 1, claimed
