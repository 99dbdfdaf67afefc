"""Feature discovery's statistics and the record of a person's decisions: a field that drives the
outcome is found, one the model already knows is not, noise is not suggested, and a decision is
written once, with its reviewer, into the file both the feature service and the model read."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from adaptive_delivery.platform import feature_adoption as fa
from adaptive_delivery.platform import feature_discovery as fd


def test_the_g_test_is_scipys_log_likelihood_ratio_and_sums_over_strata():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, 3_000), rng.integers(0, 3, 3_000)
    y = np.where(rng.random(3_000) < 0.2, x % 3, y)
    g, df = fd.g_test(x, y)
    table = np.zeros((4, 3))
    np.add.at(table, (x, y), 1)
    want, _, want_df, _ = chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert g == pytest.approx(want, rel=1e-9) and df == want_df
    s = rng.integers(0, 2, 3_000)
    g2, df2 = fd.g_test(x, y, s)
    parts = [fd.g_test(np.unique(x[s == k], return_inverse=True)[1], np.unique(y[s == k], return_inverse=True)[1])
             for k in (0, 1)]
    assert g2 == pytest.approx(sum(p[0] for p in parts)) and df2 == sum(p[1] for p in parts)


def test_benjamini_hochberg_matches_the_step_up_rule():
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.002])
    q = fd.benjamini_hochberg(p)
    # sorted 0.002 0.01 0.03 0.04 0.5 -> x5/1, x5/2, x5/3, x5/4, x5/5, then the running minimum from the top
    assert q == pytest.approx([0.025, 0.05, 0.05, 0.5, 0.01])
    assert np.all(q >= p)


def test_bins_keep_missing_values_apart_and_fold_rare_categories():
    codes = fd.bin_codes(np.array([1.0, 2.0, np.nan, 3.0, np.nan] * 40), "numeric")
    assert len(set(codes[[2, 4]])) == 1 and codes[2] not in set(codes[[0, 1, 3]])
    cats = fd.bin_codes([f"v{i}" for i in range(40)] + [None], "categorical")
    assert len(set(cats)) == fd.TOP_VALUES + 2  # the top values, the rest, missing
    with pytest.raises(ValueError, match="kind"):
        fd.bin_codes([1, 2], "ordinal")


def _world(seed: int, n: int = 6_000) -> tuple[pd.DataFrame, dict, dict]:
    """A known field the model reads (`known`), one it does not that moves the outcome (`hidden`),
    one that copies what the model knows (`echo`), and noise."""
    rng = np.random.default_rng(seed)
    known, hidden = rng.normal(size=n), rng.choice(["a", "b", "c"], n)
    logit = 1.5 * known + np.where(hidden == "a", 1.0, 0.0) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model_risk = 1 / (1 + np.exp(-(1.5 * known - 0.7)))  # the model knows `known`, not `hidden`
    frame = pd.DataFrame({"hidden": hidden, "echo": known + rng.normal(scale=0.01, size=n),
                          **{f"noise{i}": rng.normal(size=n) for i in range(10)},
                          "noise_cat": rng.choice(list("pqrst"), n)})
    return frame, {"outcome": y}, {"outcome": fd.risk_strata(model_risk)}


def test_a_field_the_model_lacks_is_found_and_one_it_already_knows_is_not():
    frame, outcomes, strata = _world(1)
    kinds = {"hidden": "categorical", "echo": "numeric", "noise_cat": "categorical",
             **{f"noise{i}": "numeric" for i in range(10)}}
    found = {a.field: a for a in fd.associations(frame, kinds, outcomes, strata)}
    assert found["hidden"].q < 1e-6 and found["hidden"].conditional_bits > fd.MIN_BITS
    echo = found["echo"]
    assert echo.bits > 20 * max(echo.conditional_bits, 1e-9)  # strongly associated, yet the model knows it
    assert not fd.strong(echo)
    weeks = [fd.associations(*_world(s)[:1], kinds, *_world(s)[1:]) for s in (1, 2)]
    assert fd.suggest(weeks, exclude=set()) == ["hidden"]
    assert fd.suggest(weeks, exclude={"hidden"}) == []
    assert fd.suggest(weeks[-1:], exclude=set()) == ["hidden"]  # the first week has none before it


def test_pure_noise_is_almost_never_suggested():
    rng = np.random.default_rng(3)
    false = 0
    for _ in range(20):
        n = 2_000
        frame = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(15)})
        weeks = [fd.associations(frame.sample(frac=1.0, random_state=k).reset_index(drop=True),
                                 {c: "numeric" for c in frame}, {"o": rng.integers(0, 2, n)}) for k in range(2)]
        false += len(fd.suggest(weeks, exclude=set()))
    assert false <= 1


def test_a_suggestion_must_hold_in_the_week_before_as_well():
    frame, outcomes, strata = _world(1)
    strong_week = fd.associations(frame, {"hidden": "categorical"}, outcomes, strata)
    quiet = frame.assign(hidden=np.random.default_rng(9).permutation(frame["hidden"].to_numpy()))
    quiet_week = fd.associations(quiet, {"hidden": "categorical"}, outcomes, strata)
    assert fd.suggest([quiet_week, strong_week], exclude=set()) == []
    assert fd.suggest([strong_week, strong_week], exclude=set()) == ["hidden"]


@pytest.fixture
def repo(tmp_path, monkeypatch):
    from adaptive_delivery.platform.feature_store import feature_repo_path

    copy = tmp_path / "feature_repo"
    shutil.copytree(feature_repo_path(), copy)
    (copy / fa.FILE_NAME).unlink(missing_ok=True)
    monkeypatch.setenv("AD_FEATURE_REPO", str(copy))
    return copy


def test_a_decision_is_recorded_once_with_its_reviewer_and_can_be_reversed(repo):
    assert fa.adopted("MDL-001") == {}
    with pytest.raises(fa.AdoptionError, match="--by"):
        fa.decide("MDL-001", "sending_ip", "categorical", True, by=" ")
    with pytest.raises(fa.AdoptionError, match="kind"):
        fa.decide("MDL-001", "sending_ip", "text", True, by="ana")
    d = fa.decide("mdl-001", "sending_ip", "categorical", True, by="ana", note="reputation per IP",
                  trial={"verdict": "helps"})
    assert d.by == "ana" and fa.adopted("MDL-001") == {"sending_ip": "categorical"}
    with pytest.raises(fa.AdoptionError, match="already adopted"):
        fa.decide("MDL-001", "sending_ip", "categorical", True, by="ana")
    fa.decide("MDL-001", "sending_ip", "categorical", False, by="bo", note="leaks the pool assignment")
    decided = fa.decisions("MDL-001")
    assert decided["adopted"] == [] and [x.by for x in decided["rejected"]] == ["bo"]
    saved = json.loads((repo / fa.FILE_NAME).read_text())
    assert saved["MDL-001"]["rejected"][0]["note"] == "leaks the pool assignment"


def test_an_adopted_feature_widens_the_feature_service_and_the_models_columns(repo):
    from adaptive_delivery.delivery.models.mdl001_deliverability import model as mdl
    from adaptive_delivery.platform import feature_store as st

    def service_features() -> set[str]:
        service = st.definitions()["FeatureService:mdl_001_deliverability"]
        return {f"{p.name_to_use()}__{f.name}" for p in service.feature_view_projections for f in p.features}

    before = service_features()
    assert "subscriber_features__client" not in before and mdl.model_columns()[0] == mdl.FEATURES
    fa.decide("MDL-001", "subscriber_features__client", "categorical", True, by="ana")
    fa.decide("MDL-001", "sender_ip_features__bounce_rate_24h", "numeric", True, by="ana")
    after = service_features()
    assert after - before == {"subscriber_features__client"}  # the whole sender_ip view was read already
    columns, categorical = mdl.model_columns()
    assert columns[:len(mdl.NUMERIC)] == mdl.NUMERIC and columns[-len(mdl.CATEGORICAL):] == mdl.CATEGORICAL
    assert set(columns) - set(mdl.FEATURES) == {"subscriber_features__client", "sender_ip_features__bounce_rate_24h"}
    assert "subscriber_features__client" in categorical
    assert "sender_ip_features__bounce_rate_24h" not in categorical
