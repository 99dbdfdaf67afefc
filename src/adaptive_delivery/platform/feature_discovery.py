"""Feature discovery (spec §9.1): every week, how strongly each field a model does not read is
associated with its outcomes beyond what the model already predicts; the fields worth trying,
listed for a person to review; and the shadow trial that scores a model with the field beside the
model without it on the same messages before anyone approves it (`platform.feature_adoption`).

Association is the G-test of independence (a log-likelihood ratio; G / 2N is the mutual
information in nats), within strata of the model's own predicted risk: a field that only repeats
what the model knows is independent of the outcome within a stratum and scores nothing. Its null
is the field shuffled within the strata. Fields are
binned (numeric: quantiles, with missing values their own bin; text: the most frequent values),
and the p-values of every field and outcome are corrected together (Benjamini-Hochberg).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from adaptive_delivery.platform import feature_adoption

if TYPE_CHECKING:
    from adaptive_delivery.platform.bundle import TrainedModel
    from adaptive_delivery.platform.spec import ModelSpec

MAX_BINS = 8  # quantile bins of a numeric field
TOP_VALUES = 15  # distinct values of a text field kept; the rest share one bin
STRATA = 10  # bins of the model's predicted risk the association is measured within
# A field is suggested when, in the latest week and the week before it, its association within
# the model's strata is significant after the correction and at least this strong (in bits per
# message: a thousandth of a bit is about what the weakest of MDL-001's own features carry).
Q_MAX = 0.01
MIN_BITS = 0.001
WEEK = timedelta(days=7)
BOOTSTRAP = 200  # paired resamples of the shadow trial's messages
TRIAL_SEEDS = 3  # training runs per arm of a shadow trial
PERMUTATIONS = 30  # shuffles of a field within the strata: the null its association is judged against


@dataclass(frozen=True)
class Discovery:
    """How a model takes part in feature discovery; its spec carries it.

    `candidates`: the fields it could read and does not (column as the training frame names them,
    Feast's `view__feature` or a request field) -> "numeric" | "categorical".
    `outcomes`: a labelled frame -> outcome name -> class code per row (-1: not observed).
    `strata`: the model's class probabilities -> outcome name -> its predicted risk of that outcome."""

    candidates: Callable[[], dict[str, str]]
    outcomes: Callable[[pd.DataFrame], dict[str, np.ndarray]]
    strata: Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass
class Association:
    field: str
    outcome: str
    kind: str
    rows: int
    bins: int
    # mutual information of the binned field and the outcome, less what independence would show
    # (Miller-Madow: its degrees of freedom)
    bits: float
    # the same within the model's strata, less what the field shuffled within them shows: what
    # the field tells of the outcome that the model does not know
    conditional_bits: float
    g: float
    df: int
    p: float
    q: float = float("nan")


# ---- statistics ----------------------------------------------------------------------------------
def bin_codes(values: Sequence | np.ndarray, kind: str) -> np.ndarray:
    """Codes 0..k-1 of a field's bins; a missing value has a bin of its own."""
    if kind == "numeric":
        return _quantile_codes(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64), MAX_BINS)
    if kind == "categorical":
        s = pd.Series(values, dtype=object)
        present = s.notna().to_numpy()
        top = s[present].astype(str).value_counts().index[:TOP_VALUES]
        lookup = {v: i for i, v in enumerate(top)}
        codes = np.array([lookup.get(str(v), len(top)) if ok else -1 for v, ok in zip(s, present, strict=True)],
                         dtype=np.int64)
        return np.unique(codes, return_inverse=True)[1].astype(np.int64)
    raise ValueError(f"unknown field kind {kind!r}: numeric or categorical")


def risk_strata(risk: np.ndarray, n: int = STRATA) -> np.ndarray:
    """Codes of `n` quantile bins of a predicted risk (NaN: a stratum of its own)."""
    return _quantile_codes(np.asarray(risk, dtype=np.float64), n)


def _quantile_codes(x: np.ndarray, n: int) -> np.ndarray:
    """Codes of up to `n` quantile bins of the finite values, non-finite values a bin of their own;
    renumbered 0..k-1 over the bins present."""
    codes = np.full(len(x), n, dtype=np.int64)
    finite = np.isfinite(x)
    if finite.any():
        edges = np.unique(np.quantile(x[finite], np.linspace(0, 1, n + 1)[1:-1]))
        codes[finite] = np.searchsorted(edges, x[finite], side="right")
    return np.unique(codes, return_inverse=True)[1].astype(np.int64)


def g_test(x: np.ndarray, y: np.ndarray, strata: np.ndarray | None = None) -> tuple[float, int]:
    """(G, degrees of freedom) of the independence of codes `x` and `y`, summed over strata: 2 Σ
    O ln(O/E) per stratum's table, df (rows - 1)(columns - 1) of the rows and columns it has."""
    s = np.zeros(len(x), dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    nx, ny, ns = int(x.max(initial=0)) + 1, int(y.max(initial=0)) + 1, int(s.max(initial=0)) + 1
    table = np.bincount((s * nx + x) * ny + y, minlength=ns * nx * ny).reshape(ns, nx, ny).astype(np.float64)
    total = table.sum(axis=(1, 2), keepdims=True)
    expected = table.sum(axis=2, keepdims=True) * table.sum(axis=1, keepdims=True) / np.where(total > 0, total, 1)
    seen = table > 0
    g = 2.0 * float(np.sum(table[seen] * np.log(table[seen] / expected[seen])))
    rows = (table.sum(axis=2) > 0).sum(axis=1)
    cols = (table.sum(axis=1) > 0).sum(axis=1)
    df = int(np.sum(np.clip(rows - 1, 0, None) * np.clip(cols - 1, 0, None)))
    return max(g, 0.0), df


def benjamini_hochberg(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (the false-discovery rate at which each is significant)."""
    p = np.asarray(p, dtype=float)
    if not len(p):
        return p
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(q)
    out[order] = np.clip(q, 0, 1)
    return out


def associations(frame: pd.DataFrame, candidates: Mapping[str, str], outcomes: Mapping[str, np.ndarray],
                 strata: Mapping[str, np.ndarray] | None = None, seed: int = 0) -> list[Association]:
    """Every candidate field against every outcome (rows where it was observed), q-values set."""
    rng = np.random.default_rng(seed)
    out: list[Association] = []
    for name, kind in candidates.items():
        if name not in frame:
            continue
        codes = bin_codes(frame[name].to_numpy(), kind)
        for outcome, y in outcomes.items():
            seen = np.asarray(y) >= 0
            if seen.sum() < 2:
                continue
            x, yy = np.unique(codes[seen], return_inverse=True)[1], np.asarray(y)[seen].astype(np.int64)
            st = (np.zeros(len(x), dtype=np.int64) if strata is None
                  else np.unique(np.asarray(strata[outcome])[seen], return_inverse=True)[1])
            out.append(_associate(name, outcome, kind, x, yy, st, rng))
    for a, q in zip(out, benjamini_hochberg([a.p for a in out]), strict=True):
        a.q = float(q)
    return out


def _associate(name: str, outcome: str, kind: str, x: np.ndarray, y: np.ndarray, strata: np.ndarray,
               rng: np.random.Generator) -> Association:
    """The G-test of `x` and `y` within `strata`, judged against its own null: the field shuffled
    within each stratum PERMUTATIONS times. With rare classes most cells expect less than one
    message, where G is far from its chi-square law (measured: 0.12 bits "beyond the model" from a
    field with 0.02 bits in all); the shuffles' mean is subtracted from the effect, and the p-value
    is the chi-square's matched to their mean and variance (Satterthwaite)."""
    from scipy.stats import chi2

    n = len(x)
    g0, df0 = g_test(x, y)
    g, df = g_test(x, y, strata)
    grouped = np.argsort(strata, kind="stable")
    null = np.empty(PERMUTATIONS)
    for k in range(PERMUTATIONS):
        shuffled = np.lexsort((rng.random(n), strata))  # rows grouped by stratum, in random order
        xp = np.empty_like(x)
        xp[grouped] = x[shuffled]
        null[k] = g_test(xp, y, strata)[0]
    mean, var = float(null.mean()), float(null.var(ddof=1))
    if df == 0 or mean <= 0:
        p = 1.0
    elif var <= 0:
        p = 0.0 if g > mean else 1.0
    else:
        scale, dof = var / (2 * mean), 2 * mean * mean / var
        p = float(chi2.sf(g / scale, dof))
    return Association(name, outcome, kind, n, int(x.max(initial=0)) + 1, _bits(g0 - df0, n), _bits(g - mean, n),
                       g, df, p)


def _bits(excess_g: float, n: int) -> float:
    """Information in bits per message from a G statistic less its expectation under independence."""
    return max(excess_g, 0.0) / (2.0 * n * math.log(2)) if n else 0.0


def strong(a: Association, q_max: float = Q_MAX, min_bits: float = MIN_BITS) -> bool:
    return a.q < q_max and a.conditional_bits >= min_bits


def suggest(weeks: Sequence[Sequence[Association]], exclude: set[str], q_max: float = Q_MAX,
            min_bits: float = MIN_BITS) -> list[str]:
    """Fields strong on some outcome in the latest week and in the week before it (where there is
    one): one strong week is as likely a campaign as a feature. Strongest first; `exclude`d
    (already read, already decided) fields never."""
    if not weeks:
        return []
    recent = weeks[-2:]
    strongest: dict[str, float] = {}
    for a in recent[-1]:
        if a.field in exclude or not strong(a, q_max, min_bits):
            continue
        if all(any(b.field == a.field and strong(b, q_max, min_bits) for b in week) for week in recent):
            strongest[a.field] = max(strongest.get(a.field, 0.0), a.conditional_bits)
    return sorted(strongest, key=lambda f: -strongest[f])


# ---- the weekly report ---------------------------------------------------------------------------
@dataclass
class Report:
    model_id: str
    model_version: str | None
    until: str
    weeks: list[dict] = field(default_factory=list)  # {"from", "until", "rows", "associations": [...]}
    suggestions: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)  # field -> why it is not suggested

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def feature_refs(columns: Sequence[str]) -> list[str]:
    """Feast references ("view:feature") of the frame's `view__feature` columns."""
    return [c.replace("__", ":", 1) for c in columns if "__" in c]


def service_refs(store, service_name: str) -> list[str]:
    service = store.get_feature_service(service_name)
    return [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]


def discovery_frame(spec: ModelSpec, labels: pd.DataFrame, features_dir: str | Path, feast_home: str | Path,
                    project: str = "adaptive_delivery") -> pd.DataFrame:
    """Labels joined point-in-time with the model's feature service and every candidate field."""
    from adaptive_delivery.platform import feature_store as st

    fs = st.open_store(feast_home, features_dir, project=project)
    st.apply(fs)
    built = set(st.built_views(fs))  # a candidate whose table nobody has written yet is not a column
    candidates = [r for r in feature_refs(list(discovery_of(spec).candidates())) if r.split(":", 1)[0] in built]
    refs = list(dict.fromkeys(service_refs(fs, spec.feature_service) + candidates))
    frame = st.historical(fs, labels, refs)
    return frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def discovery_of(spec: ModelSpec) -> Discovery:
    if spec.discovery is None:
        raise ValueError(f"{spec.model_id} declares no feature discovery (ModelSpec.discovery)")
    return spec.discovery


def weekly_report(spec: ModelSpec, frame: pd.DataFrame, model: TrainedModel | None, until: datetime, weeks: int,
                  model_version: str | None = None, repo: str | Path | None = None) -> Report:
    """The associations of each of the last `weeks` weeks before `until` (within the strata of
    `model`'s predictions; without a model, plainly) and the suggestions for the latest."""
    disc = discovery_of(spec)
    decided = feature_adoption.decisions(spec.model_id, repo)
    reads = set(model.features) if model is not None else set()
    exclude = {**dict.fromkeys(reads, "the model reads it"),
               **{d.feature: f"adopted by {d.by} on {d.at[:10]}" for d in decided["adopted"]},
               **{d.feature: f"rejected by {d.by} on {d.at[:10]}" for d in decided["rejected"]}}
    candidates = {c: k for c, k in disc.candidates().items() if c not in reads and c in frame}
    ts = pd.to_datetime(frame["event_timestamp"], utc=True)
    end = pd.Timestamp(until)
    end = end.tz_convert("UTC") if end.tzinfo else end.tz_localize("UTC")
    report = Report(spec.model_id, model_version, end.isoformat())
    tables = []
    for k in range(weeks, 0, -1):
        lo, hi = end - k * WEEK, end - (k - 1) * WEEK
        week = frame[(ts >= lo) & (ts < hi)].reset_index(drop=True)
        if week.empty:
            continue
        strata = None
        if model is not None:
            strata = {o: risk_strata(r) for o, r in disc.strata(model.predict_proba(week)).items()}
        found = associations(week, candidates, disc.outcomes(week), strata)
        tables.append(found)
        report.weeks.append({"from": lo.isoformat(), "until": hi.isoformat(), "rows": len(week),
                             "associations": [asdict(a) for a in found]})
    report.suggestions = suggest(tables, set(exclude))
    report.excluded = {f: why for f, why in exclude.items() if f in disc.candidates()}
    return report


def plot_report(report: Report, path: Path) -> Path:
    """Each candidate's strongest association within the model's strata, week by week (bits per
    message), the suggested fields marked: what a reviewer reads first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = sorted({a["field"] for w in report.weeks for a in w["associations"]})
    grid = np.zeros((len(fields), len(report.weeks)))
    for j, week in enumerate(report.weeks):
        for a in week["associations"]:
            i = fields.index(a["field"])
            grid[i, j] = max(grid[i, j], a["conditional_bits"] if a["q"] < Q_MAX else 0.0)
    fig, ax = plt.subplots(figsize=(2 + 1.1 * max(len(report.weeks), 1), 1.5 + 0.25 * max(len(fields), 1)))
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(report.weeks)), [w["until"][:10] for w in report.weeks], rotation=30, ha="right")
    ax.set_yticks(range(len(fields)), [("★ " if f in report.suggestions else "") + f for f in fields], fontsize=7)
    ax.set_title(f"{report.model_id}: association beyond the model (bits/message, q < {Q_MAX})")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---- the shadow trial ----------------------------------------------------------------------------
def shadow_trial(spec: ModelSpec, train: pd.DataFrame, holdout: pd.DataFrame, feature: str, kind: str,
                 profile_name: str = "quick", seed: int = 0, repo: str | Path | None = None,
                 bootstrap: int = BOOTSTRAP, seeds: int = TRIAL_SEEDS) -> dict[str, object]:
    """Train the model with `feature` added, and with the same field shuffled across rows (its
    placebo: the same column, values and training randomness, no information), with the same
    parameters on the same rows, `seeds` times each; every model predicts the later `holdout`
    messages, none acts on them. The primary metric of each arm (its mean over the seeds) on their
    realised outcomes, and the difference with a 95% interval that counts both the messages
    (bootstrap, resampled together) and the training runs (their spread over the seeds). Measured
    on validation worlds: against the model without the column, adding any field at all moved the
    metric by about the same amount in the same world (up in world 1001, down in 1002), as large as a
    real effect would be; against its placebo that shift cancels."""
    return shadow_trials(spec, train, holdout, {feature: kind}, profile_name, seed, repo, bootstrap, seeds)[0]


def shadow_trials(spec: ModelSpec, train: pd.DataFrame, holdout: pd.DataFrame, features: Mapping[str, str],
                  profile_name: str = "quick", seed: int = 0, repo: str | Path | None = None,
                  bootstrap: int = BOOTSTRAP, seeds: int = TRIAL_SEEDS) -> list[dict[str, object]]:
    """`shadow_trial` of each field on its own; the model as it is (without the field) is scored
    too, for reference."""
    from adaptive_delivery.platform.training.evaluation import label_weights, macro_roc_auc

    if spec.to_dataset is None or spec.fit is None:
        raise ValueError(f"{spec.model_id} is not trained from a feature table")
    adopted = feature_adoption.adopted(spec.model_id, repo)
    y = holdout["label"].to_numpy(dtype=int)
    known, weight = label_weights(y, len(spec.classes), spec.partial_labels)
    y, weight = y[known], weight[known]
    runs = [seed + k for k in range(seeds)]

    def arm(extra: Mapping[str, str], tr: pd.DataFrame = train, ho: pd.DataFrame = holdout) -> list[np.ndarray]:
        return [_holdout_proba(spec, tr, ho, extra, profile_name, s)[known][:, :len(spec.classes)] for s in runs]

    as_is = arm(adopted)
    out = []
    for feature, kind in features.items():
        extra = {**adopted, feature: kind}
        placebo = arm(extra, _shuffled(train, feature, seed), _shuffled(holdout, feature, seed + 1))
        m0, m1, (lo, hi) = _compare_arms(y, weight, placebo, arm(extra), seed, bootstrap)
        verdict = "helps" if lo > 0 else "hurts" if hi < 0 else "no measurable change"
        out.append({"model_id": spec.model_id, "feature": feature, "kind": kind, "metric": "macro_roc_auc",
                    "placebo": m0, "with": m1, "difference": m1 - m0, "ci95": [lo, hi], "verdict": verdict,
                    "without": float(np.mean([macro_roc_auc(y, p, weight) for p in as_is])),
                    "train_rows": len(train), "holdout_rows": int(known.sum()), "profile": profile_name,
                    "seeds": runs, "holdout_from": str(holdout["event_timestamp"].min()),
                    "adopted_before": dict(adopted)})
    return out


def _shuffled(frame: pd.DataFrame, column: str, seed: int) -> pd.DataFrame:
    """`frame` with `column`'s values permuted across its rows: the placebo of that field."""
    values = frame[column].to_numpy(copy=True)
    np.random.default_rng(seed).shuffle(values)
    return frame.assign(**{column: values})


def _holdout_proba(spec: ModelSpec, train: pd.DataFrame, holdout: pd.DataFrame, extra: Mapping[str, str],
                   profile_name: str, seed: int) -> np.ndarray:
    """The holdout's probabilities from the model trained on `train` reading its features and `extra`."""
    from adaptive_delivery.platform.spec import profile

    params = {**(spec.baseline_params() if spec.baseline_params else {}), "seed": seed}
    data = spec.to_dataset(train, extra=extra)
    model = spec.fit(data, params, profile(profile_name))
    return np.asarray(model.predict_proba(spec.to_dataset(holdout, data.categories, extra=extra).X))


def _compare_arms(y: np.ndarray, weight: np.ndarray, control: Sequence[np.ndarray], treated: Sequence[np.ndarray],
                  seed: int, bootstrap: int) -> tuple[float, float, tuple[float, float]]:
    """Each arm's macro ROC-AUC averaged over its training runs, and a 95% normal interval of the
    difference whose variance adds the messages' (a paired bootstrap of the run-averaged
    difference) and the runs' (each arm's spread over its runs, divided by their number)."""
    from adaptive_delivery.platform.training.evaluation import macro_roc_auc

    def mean_auc(runs: Sequence[np.ndarray], rows: np.ndarray) -> float:
        return float(np.mean([macro_roc_auc(y[rows], p[rows], weight[rows]) for p in runs]))

    per_run = [np.array([macro_roc_auc(y, p, weight) for p in arm]) for arm in (control, treated)]
    m0, m1 = float(per_run[0].mean()), float(per_run[1].mean())
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(bootstrap):
        rows = rng.integers(0, len(y), len(y))
        diffs.append(mean_auc(treated, rows) - mean_auc(control, rows))
    runs_var = sum(a.var(ddof=1) / len(a) for a in per_run if len(a) > 1)
    se = float(np.sqrt(np.nanvar(diffs, ddof=1) + runs_var))
    return m0, m1, (m1 - m0 - 1.96 * se, m1 - m0 + 1.96 * se)
