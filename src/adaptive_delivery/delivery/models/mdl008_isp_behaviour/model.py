"""MDL-008's model: groups of recipient domains that answer alike, and the test that says a
provider's answers moved.

Clustering: each profile (`profile.PROFILE_FEATURES`) goes into one space (shares on the logit
scale, latency on the log scale), standardised, and each feature weighted by how much of its
spread is the unit's own rather than week-to-week noise (its intra-class correlation over the
training windows, a label-free measure: a feature that moves more within a domain than between
domains says nothing about the domain). K-means in that space, the units weighted by the square
root of their messages.

Change: a provider's reference is its profile over a reference period (its own last weeks); each
trailing window's difference from it is measured, feature by feature, in how far such windows
stray where nothing changed (learned per provider on training worlds); a window more than
`change_threshold` of those scales away on any feature, on two windows running, flags the
provider. The threshold is set on other training worlds where nothing changed, for a chosen share
of falsely flagged provider-weeks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.models.mdl008_isp_behaviour.profile import (
    PROFILE_FEATURES,
    SHARE_FEATURES,
    DailyLog,
    windowed_profiles,
)

# What each feature's two ends say, for a cluster's name (low end, high end).
TRAIT_WORDS: dict[str, tuple[str, str]] = {
    "block_share": ("blocks little", "blocks often"),
    "content_block_share": ("lenient on content", "strict on content"),
    "deferral_share": ("rarely defers", "defers often"),
    "refusal_5xx_share": ("refuses with 4xx", "refuses with 5xx"),
    "spam_share": ("inboxes", "folders to spam"),
    "open_share": ("little of it is read", "much of it is read"),
    "latency_log_median": ("answers fast", "answers slowly"),
    "latency_log_iqr": ("steady latency", "erratic latency"),
}
MIN_SPREAD = 0.05  # floor of a null scale (space units): a steady feature is not infinitely sensitive
MIN_UNITS_RELATIVE = 3  # units needed before the units' median difference means "everyone"
PERSISTENCE = 2  # windows running over the threshold before a provider is flagged
FORMAT = 1


def to_space(profiles: pd.DataFrame) -> np.ndarray:
    """Profiles (PROFILE_FEATURES columns) as points: logit shares, log latency as it is."""
    x = profiles[list(PROFILE_FEATURES)].to_numpy(float).copy()
    shares = np.clip(x[:, :len(SHARE_FEATURES)], 1e-6, 1 - 1e-6)
    x[:, :len(SHARE_FEATURES)] = np.log(shares / (1 - shares))
    return x


def reliability(points: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per feature, the share of its variance that lies between groups (a unit's windows form one
    group): 1 a steady trait of the unit, 0 noise."""
    frame = pd.DataFrame(points)
    total = frame.var(ddof=0).to_numpy()
    within = frame.groupby(groups).var(ddof=0).mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        icc = np.where(total > 0, 1.0 - within / total, 0.0)
    return np.clip(np.nan_to_num(icc), 0.0, 1.0)


@dataclass
class ClusterModel:
    """The served model: the space, the centroids, their names, and the change threshold."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weight: list[float]
    centroids: list[list[float]]
    names: list[str]
    change_threshold: float
    window_days: int
    change_scales: dict[str, list[float]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    format: int = FORMAT

    # ---- the space -------------------------------------------------------------------------
    def embed(self, profiles: pd.DataFrame) -> np.ndarray:
        """Profiles as weighted standardised points."""
        return (to_space(profiles) - np.asarray(self.mean)) / np.asarray(self.scale) * np.asarray(self.weight)

    def distances(self, profiles: pd.DataFrame) -> np.ndarray:
        """Each profile's distance to each centroid (rows x clusters)."""
        z = self.embed(profiles)
        return np.linalg.norm(z[:, None, :] - np.asarray(self.centroids)[None, :, :], axis=2)

    def assign(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """The nearest cluster, its name, the distance to it and to the next nearest."""
        d = self.distances(profiles)
        order = np.argsort(d, axis=1)
        nearest = order[:, 0]
        second = d[np.arange(len(d)), order[:, 1]] if d.shape[1] > 1 else np.full(len(d), np.inf)
        return pd.DataFrame({"cluster": nearest, "cluster_name": np.asarray(self.names, dtype=object)[nearest],
                             "distance": d[np.arange(len(d)), nearest], "next_distance": second},
                            index=profiles.index)

    # ---- files -----------------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> ClusterModel:
        raw = json.loads(Path(path).read_text())
        if raw.get("format") != FORMAT or raw.get("features") != list(PROFILE_FEATURES):
            raise ValueError(f"{path} is not an MDL-008 model of this version (format {raw.get('format')!r})")
        return cls(**raw)


def fit_clusters(profiles: pd.DataFrame, windows: pd.DataFrame, k: int, seed: int,
                 change_threshold: float = np.inf, window_days: int = 2) -> ClusterModel:
    """K-means on `profiles` (one per unit and world); `windows` (the same units' shorter windows,
    a `group` column naming the unit and world) say how reliable each feature is."""
    from sklearn.cluster import KMeans

    points = to_space(profiles)
    mean, scale = points.mean(axis=0), points.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    weight = np.sqrt(reliability((to_space(windows) - mean) / scale, windows["group"].to_numpy()))
    z = (points - mean) / scale * weight
    km = KMeans(n_clusters=k, n_init=20, random_state=seed).fit(z, sample_weight=np.sqrt(profiles["messages"]))
    names = cluster_names(km.cluster_centers_, weight)
    return ClusterModel(features=list(PROFILE_FEATURES), mean=mean.tolist(), scale=scale.tolist(),
                        weight=weight.tolist(), centroids=km.cluster_centers_.tolist(), names=names,
                        change_threshold=float(change_threshold), window_days=window_days,
                        meta={"k": k, "profiles": len(profiles), "seed": seed,
                              "reliability": dict(zip(PROFILE_FEATURES, (weight ** 2).round(3).tolist(), strict=True))})


def cluster_names(centroids: np.ndarray, weight: np.ndarray) -> list[str]:
    """A name per cluster from its two most distinctive weighted features ('blocks often, answers
    slowly'); a repeated name gets its cluster number."""
    names = []
    for c in np.asarray(centroids):
        top = np.argsort(-np.abs(c * (weight > 0)))[:2]
        names.append(", ".join(TRAIT_WORDS[PROFILE_FEATURES[i]][int(c[i] > 0)] for i in top))
    return [f"{n} ({i})" if names.count(n) > 1 else n for i, n in enumerate(names)]


# ---- change ----------------------------------------------------------------------------------
def window_differences(model: ClusterModel, log: DailyLog, cut_day: int, relative: bool = True) -> pd.DataFrame:
    """Each unit's trailing windows ending after `cut_day + window_days`, as differences (in the
    model's space) from the unit's profile over the days before `cut_day`: `unit`, `end_day` and
    one column per feature. `relative`: less the units' median difference for the same window, so
    that what moves every provider at once (the sender's own content, its volume) cancels and
    what remains is the provider's own."""
    before = log.profiles(0, cut_day)
    windows = windowed_profiles(log, model.window_days, 1)
    windows = windows[(windows["end_day"] - model.window_days >= cut_day) & windows["unit"].isin(before.index)]
    windows = windows.sort_values(["unit", "end_day"]).reset_index(drop=True)
    ref = pd.DataFrame(model.embed(before), index=before.index, columns=PROFILE_FEATURES)
    diff = pd.DataFrame(model.embed(windows) - ref.reindex(windows["unit"].to_numpy()).to_numpy(),
                        columns=PROFILE_FEATURES)
    if relative and windows["unit"].nunique() >= MIN_UNITS_RELATIVE:
        diff = diff - diff.groupby(windows["end_day"].to_numpy()).transform("median")
    return pd.concat([windows[["unit", "end_day"]], diff], axis=1)


def null_scales(differences: pd.DataFrame) -> dict[str, list[float]]:
    """Per unit and feature, how far a window strays from its reference where nothing changed
    (root mean square), with a '*' entry (the median over units) for a unit never seen."""
    rms = differences.groupby("unit")[list(PROFILE_FEATURES)].apply(lambda f: np.sqrt((f ** 2).mean()))
    rms = rms.clip(lower=MIN_SPREAD)
    scales = {unit: row.round(5).tolist() for unit, row in rms.iterrows()}
    scales["*"] = rms.median().round(5).tolist()
    return scales


def even_tails(model: ClusterModel, differences: pd.DataFrame, false_flag_share: float) -> dict[str, list[float]]:
    """The null scales stretched per feature so that each feature alone would flag the same share
    of unit-weeks: a heavy-tailed feature (content blocks come in bursts) then does not set the
    threshold for all."""
    scales = model.change_scales
    default = scales["*"]
    scale = np.array([scales.get(u, default) for u in differences["unit"]], dtype=float)
    z = np.abs(differences[list(PROFILE_FEATURES)].to_numpy()) / scale
    stretch = []
    for i in range(len(PROFILE_FEATURES)):
        peaks = week_peaks(differences.assign(score=z[:, i])).to_numpy()
        finite = peaks[np.isfinite(peaks)]
        stretch.append(float(np.quantile(finite, 1 - false_flag_share)) if finite.size else 1.0)
    factor = np.asarray(stretch) / np.median(stretch)
    return {u: (np.asarray(v) * factor).round(5).tolist() for u, v in scales.items()}


def change_scores(model: ClusterModel, differences: pd.DataFrame) -> pd.Series:
    """Per window difference: the largest, over the weighted features, of its size in the unit's
    null scale."""
    default = model.change_scales.get("*", [1.0] * len(PROFILE_FEATURES))
    scale = np.array([model.change_scales.get(u, default) for u in differences["unit"]], dtype=float)
    weighted = np.asarray(model.weight) > 0
    score = np.abs(differences[list(PROFILE_FEATURES)].to_numpy()) / scale
    return pd.Series(score[:, weighted].max(axis=1), index=differences.index)


def flagged(scores: pd.Series, threshold: float, persistence: int = PERSISTENCE) -> pd.Series:
    """Whether each of a unit's windows (in time order) closes a run of `persistence` windows over
    the threshold."""
    over = (scores > threshold).astype(int)
    return over.rolling(persistence, min_periods=persistence).sum().fillna(0) >= persistence


def week_peaks(scores: pd.DataFrame, persistence: int = PERSISTENCE) -> pd.Series:
    """Per unit-week (`world`, `unit`, `week`, `score` columns, windows in time order): the highest
    threshold that week's windows would still cross `persistence` times running."""
    return scores.groupby(["world", "unit", "week"])["score"].apply(
        lambda s: s.rolling(persistence, min_periods=persistence).min().max()).fillna(-np.inf)


def calibrate_threshold(scores: pd.DataFrame, false_flag_share: float, persistence: int = PERSISTENCE) -> float:
    """The least threshold at which at most `false_flag_share` of unit-weeks where nothing changed
    hold a flag."""
    peaks = week_peaks(scores, persistence).to_numpy()
    if not np.isfinite(peaks).any():
        raise ValueError("no unit-week has enough windows to calibrate the change threshold")
    return float(np.quantile(peaks[np.isfinite(peaks)], 1.0 - false_flag_share, method="higher"))


def change_flags(model: ClusterModel, log: DailyLog, change_day: int) -> pd.DataFrame:
    """Per provider: days after `change_day` until the end of the first window that completes a
    flag (NaN: never flagged), its windows after the change scored against its profile before."""
    diff = window_differences(model, log, change_day)
    diff = diff.assign(score=change_scores(model, diff), after=diff["end_day"] - change_day)
    rows = []
    for unit, frame in diff.groupby("unit"):
        hit = flagged(frame["score"], model.change_threshold)
        rows.append({"unit": unit, "days_after": float(frame.loc[hit, "after"].min()) if hit.any() else np.nan})
    return pd.DataFrame(rows, columns=["unit", "days_after"])
