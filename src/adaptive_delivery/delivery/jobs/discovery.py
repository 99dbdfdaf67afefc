"""Feature discovery on the deployment (spec §9.1): the weekly report of the fields a model does not
read, the shadow trial of a suggested one, and a person's decision, each recorded on the timeline.

Reports and trials go under AD_HOME/reports/discovery/MODEL/; decisions into the feature repo's
`adopted_features.json` (`platform.feature_adoption`), which the next training run reads.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from adaptive_delivery.delivery.jobs.deployment import Deployment, record
from adaptive_delivery.platform import feature_adoption
from adaptive_delivery.platform import feature_discovery as fdisc

WEEKS = 4  # weeks of history in a report


class DiscoveryError(ValueError):
    """A discovery step cannot run as asked (no such field, no trial); the message says what to do."""


def folder(dep: Deployment, model_id: str) -> Path:
    return dep.reports / "discovery" / model_id.upper()


def _champion(dep: Deployment, spec):
    """(version, bundle) of the model's champion, or (None, None) before the first one."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from adaptive_delivery.platform.training.registry import CHAMPION, alias_metrics
    from adaptive_delivery.platform.training.steps import registered_bundle

    mlflow.set_tracking_uri(dep.tracking_uri)
    mlflow.set_registry_uri(dep.tracking_uri)
    client = MlflowClient(dep.tracking_uri, registry_uri=dep.tracking_uri)
    version, _ = alias_metrics(client, spec, CHAMPION)
    if version is None:
        return None, None
    return version, registered_bundle(client, spec, f"models:/{spec.registered_name}/{version}")


def _utc(moment: datetime | str) -> pd.Timestamp:
    t = pd.Timestamp(moment)
    return t.tz_convert("UTC") if t.tzinfo else t.tz_localize("UTC")


def _labels(dep: Deployment, spec) -> pd.DataFrame:
    labels = spec.labels(dep.lake)
    if labels.empty:
        raise DiscoveryError(f"no labelled outcomes in {dep.lake}: nothing to associate")
    return labels


def _candidate_kind(spec, feature: str) -> str:
    """The kind of a candidate field of the model; a DiscoveryError for anything else."""
    kinds = fdisc.discovery_of(spec).candidates()
    if feature not in kinds:
        raise DiscoveryError(f"{feature!r} is not a candidate field of {spec.model_id}; the report lists them")
    return kinds[feature]


def discover(dep: Deployment, model_id: str, until: datetime | None = None, weeks: int = WEEKS) -> dict:
    """The weekly report: associations of every candidate field in each of the last `weeks` weeks
    (within the strata of the champion's predictions), and the suggested fields. Writes
    report.json and report.png into a folder named after the week's end."""
    from adaptive_delivery.platform.spec import get

    spec = get(model_id)
    labels = _labels(dep, spec)
    ts = pd.to_datetime(labels["event_timestamp"], utc=True)
    end = _utc(until) if until is not None else ts.max().ceil("D")
    labels = labels[((ts >= end - weeks * fdisc.WEEK) & (ts < end)).to_numpy()]
    frame = fdisc.discovery_frame(spec, labels.reset_index(drop=True), dep.features, dep.feast_home)
    version, bundle = _champion(dep, spec)
    report = fdisc.weekly_report(spec, frame, bundle, end.to_pydatetime(), weeks, version)
    out = folder(dep, spec.model_id) / f"{end:%Y-%m-%d}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.as_dict(), indent=2, default=str))
    fdisc.plot_report(report, out / "report.png")
    summary = (f"{spec.model_id}: {len(report.suggestions)} field(s) suggested"
               + (f" ({', '.join(report.suggestions[:5])})" if report.suggestions else "")
               + f" from {len(fdisc.discovery_of(spec).candidates())} candidates, {len(report.weeks)} week(s)")
    record(dep, "discover", summary, model_id=spec.model_id, version=version, report=str(out),
           suggestions=report.suggestions)
    return {**report.as_dict(), "folder": str(out)}


def trial(dep: Deployment, model_id: str, feature: str, profile_name: str = "quick", seed: int = 0,
          runs: int = fdisc.TRIAL_SEEDS) -> dict:
    """The shadow trial of one candidate field on the deployment's data: the model trained with the
    field and with the field shuffled (its placebo), `runs` times each, all scoring the spec's
    holdout days. Writes trials/FEATURE.json."""
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.training.dataset import time_split

    spec = get(model_id)
    kind = _candidate_kind(spec, feature)
    frame = fdisc.discovery_frame(spec, _labels(dep, spec), dep.features, dep.feast_home)
    holdout = time_split(frame, spec.holdout_days)
    result = fdisc.shadow_trial(spec, frame[~holdout].reset_index(drop=True), frame[holdout].reset_index(drop=True),
                                feature, kind, profile_name, seed, seeds=runs)
    path = folder(dep, spec.model_id) / "trials" / f"{feature}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    lo, hi = result["ci95"]
    record(dep, "feature-trial", f"{spec.model_id} + {feature}: {result['verdict']} (macro AUC "
                                 f"{result['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}])",
           model_id=spec.model_id, feature=feature, trial=str(path))
    return {**result, "path": str(path)}


def decide(dep: Deployment, model_id: str, feature: str, adopt: bool, by: str, note: str = "",
           despite_trial: bool = False) -> feature_adoption.Decision:
    """A person's decision on a field. Adopting needs its shadow trial, and a trial that found no
    gain needs `despite_trial` (said on purpose); rejecting needs neither."""
    from adaptive_delivery.platform.spec import get

    spec = get(model_id)
    kind = _candidate_kind(spec, feature)
    path = folder(dep, spec.model_id) / "trials" / f"{feature}.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    if adopt and not result:
        raise DiscoveryError(f"no shadow trial of {feature} yet: run `adaptive-delivery features trial "
                             f"--model {spec.model_id} --feature {feature}` first")
    if adopt and result.get("verdict") != "helps" and not despite_trial:
        raise DiscoveryError(f"the shadow trial of {feature} found {result.get('verdict')!r}: approve it only on "
                             "purpose (--despite-trial)")
    decision = feature_adoption.decide(spec.model_id, feature, kind, adopt, by, note, result)
    verb = "adopted" if adopt else "rejected"
    record(dep, "feature-decision", f"{spec.model_id}: {feature} {verb} by {decision.by}",
           model_id=spec.model_id, feature=feature, adopted=adopt, by=decision.by,
           file=str(feature_adoption.adoptions_path()))
    return decision
