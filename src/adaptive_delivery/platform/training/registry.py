"""Registering models in MLflow and the champion/challenger gate shared by every model.

A trained model is logged as a pyfunc, registered under the spec's name and given the alias
`challenger`; the gate compares it with the current `champion` on the spec's gates and, if it
passes, moves `champion` to it. Every verdict says why in words.

Two trainings may gate at once: a gate names the version its own run registered (never the moving
`challenger` alias), and `champion` moves only if it still points at the version the gate compared
with (compare-and-set), so a run never replaces a champion it was not judged against. The
compare-and-set is exclusive: under a file lock beside a SQLite store, and on a tracking server
(which has no lock to offer) by claims, one tag per mover on the registered model: a mover
compares and sets only when its claim is the only live one.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from adaptive_delivery.platform.spec import ModelSpec

CHAMPION = "champion"
CHALLENGER = "challenger"
# Tag on a version the gate promoted over an earlier champion: the version it replaced.
REPLACED_TAG = "replaced_champion"


@dataclass
class GateVerdict:
    passed: bool
    reasons: list[str]
    challenger_version: str
    champion_version: str | None

    def summary(self) -> str:
        head = "PROMOTE" if self.passed else "STOP"
        return f"{head}: " + "; ".join(self.reasons)


def evaluate_gates(spec: ModelSpec, challenger: dict[str, float], champion: dict[str, float] | None,
                   extra_failures: list[str] | None = None) -> tuple[bool, list[str]]:
    """Apply the spec's gates: absolute floors, and no relative drop beyond `max_drop` vs the champion."""
    reasons: list[str] = []
    ok = True
    for gate in spec.gates:
        value = challenger.get(gate.metric, float("nan"))
        if math.isnan(value):  # judged on every other gate too, so the verdict names every reason
            ok = False
            reasons.append(f"challenger has no {gate.metric}")
            continue
        if gate.floor is not None and ((value < gate.floor) if gate.higher_is_better else (value > gate.floor)):
            ok = False
            reasons.append(f"{gate.metric} {value:.4f} is past the floor {gate.floor}")
        if champion is None or math.isnan(champion.get(gate.metric, float("nan"))):
            reasons.append(f"{gate.metric} {value:.4f}; no champion yet")
            continue
        base = champion[gate.metric]
        change = (value - base) / abs(base) if base else 0.0
        drop = -change if gate.higher_is_better else change
        if drop > gate.max_drop:
            ok = False
            reasons.append(f"{gate.metric} {value:.4f} vs champion {base:.4f}: {drop:.1%} worse (> {gate.max_drop:.0%} allowed)")
        else:
            reasons.append(f"{gate.metric} {value:.4f} vs champion {base:.4f} ({change:+.1%})")
    for failure in extra_failures or []:
        ok = False
        reasons.append(failure)
    return ok, reasons


def register_challenger(client, spec: ModelSpec, run_id: str, artifact_name: str = "model",
                        model_uri: str | None = None, alias: str | None = CHALLENGER) -> str:
    """Register the run's model (or `model_uri`, a logged model) as a new version and point
    `alias` at it (`challenger`; None for a version crowned otherwise); returns the version."""
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # already registered
        client.create_registered_model(spec.registered_name, description=f"{spec.model_id} {spec.name}: {spec.label}")
    model_uri = model_uri or f"runs:/{run_id}/{artifact_name}"
    version = client.create_model_version(spec.registered_name, source=model_uri, run_id=run_id)
    if alias is not None:
        client.set_registered_model_alias(spec.registered_name, alias, version.version)
    return str(version.version)


def version_by_alias(client, spec: ModelSpec, alias: str):
    """The model version an alias points at (None: no such alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(spec.registered_name, alias)
    except MlflowException:
        return None


def alias_metrics(client, spec: ModelSpec, alias: str) -> tuple[str | None, dict[str, float] | None]:
    """The version behind an alias and the metrics its training run logged (None if no such alias)."""
    mv = version_by_alias(client, spec, alias)
    if mv is None:
        return None, None
    return str(mv.version), dict(client.get_run(mv.run_id).data.metrics)


def _sqlite_store(client) -> Path | None:
    """The SQLite file behind a registry client, None for a tracking server."""
    uri = str(getattr(client, "_registry_uri", None) or client.tracking_uri)
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def registry_lock(store: Path) -> Iterator[None]:
    """Serialise alias moves on a SQLite registry: an exclusive file lock beside it (every process
    on the machine). A tracking server has no lock to offer: `move_alias` takes claims there."""
    import fcntl

    with Path(f"{store}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


CLAIM_TAG = "alias_claim"  # registered-model tag prefix: alias_claim.<alias>.<mover id> = expiry (epoch s)
CLAIM_TTL_S = 120.0  # a mover that died holding a claim stops blocking others after this
CLAIM_ATTEMPTS = 25


@contextlib.contextmanager
def _alone(client, spec: ModelSpec, alias: str) -> Iterator[bool]:
    """Write this mover's claim, then read every claim: True when no other live one exists. Sound
    on any registry whose reads see committed writes: of two movers, the one that reads second
    sees the first's claim (it was written before the first read), so at most one is alone."""
    prefix = f"{CLAIM_TAG}.{alias}."
    key = prefix + uuid.uuid4().hex
    client.set_registered_model_tag(spec.registered_name, key, f"{time.time() + CLAIM_TTL_S:.3f}")
    try:
        tags = client.get_registered_model(spec.registered_name).tags or {}
        yield not [k for k, v in tags.items() if k.startswith(prefix) and k != key and _live(v)]
    finally:
        client.delete_registered_model_tag(spec.registered_name, key)


def _live(expiry: str) -> bool:
    try:
        return float(expiry) > time.time()
    except ValueError:
        return False


def _compare_and_set(client, spec: ModelSpec, alias: str, version: str, expected: str | None) -> tuple[bool, str | None]:
    mv = version_by_alias(client, spec, alias)
    now = None if mv is None else str(mv.version)
    if now != expected:
        return False, now
    client.set_registered_model_alias(spec.registered_name, alias, version)
    return True, now


def move_alias(client, spec: ModelSpec, alias: str, version: str, expected: str | None) -> tuple[bool, str | None]:
    """Point `alias` at `version` only if it still points at `expected` (None: at nothing), with no
    other mover in between. Returns (moved, the version the alias pointed at when checked); when
    other movers held claims every time it tried, (False, expected) and the caller judges again."""
    store = _sqlite_store(client)
    if store is not None:
        with registry_lock(store):
            return _compare_and_set(client, spec, alias, version, expected)
    for attempt in range(CLAIM_ATTEMPTS):
        with _alone(client, spec, alias) as alone:
            if alone:
                return _compare_and_set(client, spec, alias, version, expected)
        time.sleep(random.uniform(0.05, 0.2) * (1 + attempt % 5))  # both back off; one goes first
    return False, expected


_READ = object()  # gate_and_promote's default: compare with the champion it reads itself


def gate_and_promote(client, spec: ModelSpec, challenger_version: str, challenger_metrics: dict[str, float],
                     extra_failures: list[str] | None = None,
                     champion_metrics: dict[str, float] | None = None,
                     compared_with: str | None | object = _READ) -> GateVerdict:
    """Compare the challenger with the champion; move `champion` only when every gate passes and
    the champion is still the version compared with. `champion_metrics` are the champion's scores
    on the challenger's holdout where the caller could re-evaluate it (a fair comparison; then
    `compared_with` names that champion's version, None for none); otherwise the metrics its own
    training run logged."""
    read_version, logged = alias_metrics(client, spec, CHAMPION)
    expected = read_version if compared_with is _READ else (None if compared_with is None else str(compared_with))
    champion_version = None if expected == challenger_version else expected
    if champion_version is None or champion_version != read_version:  # its log is not what is compared
        logged = None
    champion_metrics = champion_metrics if champion_metrics is not None else logged
    ok, reasons = evaluate_gates(spec, challenger_metrics, champion_metrics, extra_failures)
    if ok:
        moved, now = move_alias(client, spec, CHAMPION, challenger_version, expected)
        if not moved:
            ok = False
            reasons.append(f"the champion moved to {'v' + now if now else 'nothing'} while this gate compared with "
                           f"{'v' + expected if expected else 'no champion'}: judge again" if now != expected else
                           "other gates kept moving the champion at the same time: judge again")
    if ok and champion_version is not None:  # a rollout compares the two on live traffic (rollout.live)
        client.set_model_version_tag(spec.registered_name, challenger_version, REPLACED_TAG, champion_version)
    client.set_model_version_tag(spec.registered_name, challenger_version, "gate", "passed" if ok else "failed")
    client.set_model_version_tag(spec.registered_name, challenger_version, "gate_reasons", "; ".join(reasons)[:4900])
    return GateVerdict(ok, reasons, challenger_version, champion_version)


def latest_training_run(tracking_uri: str, spec: ModelSpec) -> dict[str, object]:
    """The newest training run of a spec: id, status, primary metric beside the oracle's, registered
    version and the gate's verdict (empty when it never trained)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, f"tags.model_id = '{spec.model_id}'",
                              order_by=["attributes.start_time DESC"], max_results=1) if experiments else []
    if not runs:
        return {}
    run = runs[0]
    m, tags = run.data.metrics, run.data.tags
    out: dict[str, object] = {"run_id": run.info.run_id, "status": run.info.status,
                              "version": tags.get("registered_version"), "promoted": tags.get("promoted") == "true",
                              "verdict": tags.get("verdict") or tags.get("stopped_reason", "")}
    for name in (spec.primary_metric, f"oracle_{spec.primary_metric}"):
        if name in m:
            out[name] = round(float(m[name]), 4)
    return out
