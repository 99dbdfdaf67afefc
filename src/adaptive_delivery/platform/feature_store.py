"""The Feast feature store, opened on a profile: apply the definitions in `feature_repo/`,
materialise into the online store, retrieve point-in-time training sets, read online.

Profiles (`feature_repo/feature_store.yaml` and `feature_repo/profiles/*.yaml`):
- `local`: file offline store, SQLite online store (the embedded default);
- `redis-local`: file offline store, Redis online store (how the cluster's online path is tested);
- `cluster`: Spark offline store, Redis online store, SQL registry.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

PROFILES = ("local", "redis-local", "cluster")
# What `configure` writes into the environment (with any extra `env` it is given), for those who
# must put it back
SETTINGS = ("AD_FEAST_HOME", "AD_FEATURE_DATA", "AD_FEAST_PROFILE", "AD_FEAST_PROJECT")
DEFINITION_MODULES = ("entities", "sources", "feature_views", "feature_services")


def feature_repo_path() -> Path:
    """Where the Feast definitions live (AD_FEATURE_REPO overrides, e.g. in a container image)."""
    env = os.environ.get("AD_FEATURE_REPO")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "feature_repo"


def profile_yaml(profile: str) -> Path:
    if profile not in PROFILES:
        raise ValueError(f"unknown feature-store profile {profile!r}; choose one of {PROFILES}")
    repo = feature_repo_path()
    return repo / "feature_store.yaml" if profile == "local" else repo / "profiles" / f"{profile}.yaml"


def configure(home: str | Path, data: str | Path, profile: str = "local", project: str = "adaptive_delivery",
              **env: str) -> None:
    """Point the definitions and the profile at a store home (registry, online DB) and feature data."""
    Path(home).mkdir(parents=True, exist_ok=True)
    os.environ["AD_FEAST_HOME"] = str(Path(home).resolve())
    os.environ["AD_FEATURE_DATA"] = str(data if "://" in str(data) else Path(data).resolve())
    os.environ["AD_FEAST_PROFILE"] = "cluster" if profile == "cluster" else "local"
    os.environ["AD_FEAST_PROJECT"] = project
    os.environ.update(env)


def open_store(home: str | Path, data: str | Path, profile: str = "local", project: str = "adaptive_delivery",
               **env: str):
    """A FeatureStore for `profile`, with the registry and online store under `home`; `project`
    namespaces everything it writes (registry entries, online keys)."""
    from feast import FeatureStore

    configure(home, data, profile, project, **env)
    return FeatureStore(repo_path=str(feature_repo_path()), fs_yaml_file=profile_yaml(profile))


def open_online_store(home: str | Path, data: str | Path, profile: str = "local", project: str = "adaptive_delivery",
                      **env: str):
    """The same store for online reads only (a decision service): the profile's registry and online
    store, with Feast's built-in file offline store in place of the profile's (DuckDB, Spark), which
    a reader never touches and whose engines the serving environment does not install."""
    import yaml
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    configure(home, data, profile, project, **env)
    raw = yaml.safe_load(os.path.expandvars(profile_yaml(profile).read_text()))
    raw["offline_store"] = {"type": "file"}
    config = RepoConfig(**raw)
    config.repo_path = feature_repo_path()
    return FeatureStore(config=config)


def _load_definition_module(name: str):
    """Execute feature_repo/NAME.py afresh under its bare name, as `feast apply` does: the later
    definition files import the earlier ones by that name (loaded in DEFINITION_MODULES' order)."""
    path = feature_repo_path() / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load the feature definitions in {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def definitions() -> dict[str, object]:
    """Every Feast object in the repo, imported fresh so the current data path and profile apply."""
    modules = {name: _load_definition_module(name) for name in DEFINITION_MODULES}
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView
    from feast.data_source import DataSource

    kinds = (Entity, FeatureView, OnDemandFeatureView, FeatureService, DataSource)
    objects: dict[str, object] = {}
    for module in modules.values():
        for attr, value in vars(module).items():
            if isinstance(value, kinds) and not attr.startswith("_"):
                objects[f"{type(value).__name__}:{value.name}"] = value
    return objects


def apply(store) -> list[str]:
    """Register entities, sources, views and services; returns what was applied."""
    objs = definitions()
    store.apply(list(objs.values()))
    return sorted(objs)


def materialize(store, start: datetime, end: datetime, views: list[str] | None = None) -> None:
    """Load the latest value of every feature in [start, end] into the online store, and (on a
    Redis online store) the packed vectors the decision path reads beside it; `views`: those
    views only (default: every view whose table has been built)."""
    from adaptive_delivery.platform import packed_features

    views = views if views is not None else built_views(store)
    store.materialize(start_date=start, end_date=end, feature_views=views)
    packed_features.refresh(store, views)


def built_views(store) -> list[str]:
    """The views whose tables have been built: every product's views are registered together, and
    a deployment that runs one product has no tables for the other's (a cluster's Spark source is
    taken as built)."""
    import glob

    def built(view) -> bool:
        path = getattr(view.batch_source, "path", None)
        return path is None or "://" in path or bool(glob.glob(path))

    return [v.name for v in store.list_feature_views() if built(v)]


def push_latest(store, view, rows: pd.DataFrame) -> None:
    """Write rows (one per entity) to the online store as each entity's latest, what a push source
    does, and (on a Redis online store) their packed vectors. A row replaces the entity's row of
    the same event time too: pushed rows are recomputed from running counts, so a later push of the
    same minute or window is the newer one. Feast's `push` would re-read every view from the
    registry on each call (measured: most of its time); the caller reads `view` once."""
    from adaptive_delivery.platform import packed_features

    packed_features.write_latest(store, view, rows, lambda: store._get_provider().ingest_df(view, rows))


def teardown(store) -> None:
    """Remove the store's infrastructure (online rows, packed vectors included)."""
    from adaptive_delivery.platform import packed_features

    packed_features.teardown(store)
    store.teardown()


def service(store, model_id: str):
    """The feature service of a model id (MDL-001 …, MKT-002 …)."""
    product, _, number = model_id.partition("-")
    name = f"{product.lower()}_{number}_"
    matches = [s for s in store.list_feature_services() if s.name.startswith(name)]
    if not matches:
        raise KeyError(f"no feature service for {model_id}")
    return matches[0]


def historical(store, entity_df: pd.DataFrame, features) -> pd.DataFrame:
    """Point-in-time join: each row gets the latest feature values at or before its event_timestamp,
    within the view's TTL."""
    return store.get_historical_features(entity_df=entity_df, features=features, full_feature_names=True).to_df()


def online(store, features, entity_rows: list[dict]) -> dict[str, list]:
    return store.get_online_features(features=features, entity_rows=entity_rows, full_feature_names=True).to_dict()
