"""MDL-010 on synthetic feature rows and on a tiny world's lake: the address checks (kept
libraries' rules), what the model learns (dead addresses come from some sources and from addresses
mail has not reached for long; a mailbox that bounced soft lately is still full), what it answers
(bounce risks, the check and the policy's action; bad requests refused with a reason), the policy's
invariants, the labels cut from the lake's final outcomes, and the twin's law that makes some
sources and some people's addresses likelier to be dead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.events.lake import EventsLake
from adaptive_delivery.delivery.models.mdl010_list_hygiene import model as mdl
from adaptive_delivery.delivery.models.mdl010_list_hygiene import policy, service
from adaptive_delivery.delivery.models.mdl010_list_hygiene.address import (
    ADDRESS_CHECKS,
    check_address,
    check_addresses,
)
from adaptive_delivery.delivery.models.mdl010_list_hygiene.spec import SPEC
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import profile
from adaptive_delivery.platform.training.evaluation import spec_report

SOURCES = ("signup_form", "checkout", "import", "co_registration")
S = mdl.SUBSCRIBER


@pytest.mark.parametrize(("address", "verdict"), [
    ("u00000001@gmail.com", "ok"), ("Jane.Doe@Example.co.uk", "ok"), ("josé@exämple.de", "ok"),
    ("someone@mailinator.com", "disposable"), ("x@YOPMAIL.COM", "disposable"),
    ("info@acme-corp.com", "role"), ("Sales@globex.com", "role"),
    ("no-at-sign.example.com", "invalid"), ("a@b", "invalid"), ("two..dots@gmail.com", "invalid"),
    ("with space@gmail.com", "invalid"), ("", "invalid"), (None, "invalid"), (42, "invalid")])
def test_the_address_check_reads_syntax_disposable_domains_and_role_accounts(address, verdict):
    assert check_address(address) == verdict
    assert verdict in ADDRESS_CHECKS


def test_addresses_are_checked_as_a_column_with_repeats_checked_once():
    out = check_addresses(["a@gmail.com", "bad@", "a@gmail.com", None])
    assert out.tolist() == ["ok", "invalid", "ok", "invalid"] and out.dtype == object


def test_verdicts_kept_across_calls_are_reused_and_equal_fresh_ones(monkeypatch):
    from adaptive_delivery.delivery.models.mdl010_list_hygiene import address

    known: dict[object, str] = {}
    first = check_addresses(["a@gmail.com", "info@acme.com"], known)
    checked: list[object] = []
    real = address.check_address
    monkeypatch.setattr(address, "check_address", lambda a: checked.append(a) or real(a))
    again = check_addresses(["info@acme.com", "a@gmail.com", "bad@"], known)
    assert checked == ["bad@"]  # only the address new to the list is checked
    assert again.tolist() == [first[1], first[0], "invalid"] == check_addresses(["info@acme.com", "a@gmail.com",
                                                                                 "bad@"]).tolist()


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Feature rows of a list's next sends: an address is dead with a chance that grows with the
    days since mail last reached it and with where it came from (co-registration worst), and dead
    for sure if it hard-bounced before; a live mailbox is full mostly where it bounced soft lately."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.gamma(2.0, 3.0, n) for c in mdl.NUMERIC})
    source = rng.choice(SOURCES, n, p=[0.55, 0.25, 0.15, 0.05])
    since_reached = rng.exponential(10.0, n)
    never = rng.random(n) < 0.1
    frame[mdl.SINCE_DELIVERY] = np.where(never, mdl.NEVER_DAYS, since_reached)
    frame[mdl.TENURE] = since_reached + rng.exponential(100.0, n)
    prior = pd.Series(source).map({"signup_form": 0.005, "checkout": 0.002, "import": 0.03, "co_registration": 0.08})
    p_dead = 1 - (1 - prior.to_numpy()) * (1 - 0.004) ** mdl.days_since(frame, mdl.SINCE_DELIVERY)
    hard_before = rng.random(n) < 0.01
    dead = hard_before | (rng.random(n) < p_dead)
    frame[mdl.HARD_TOTAL] = hard_before.astype(int)
    soft_lately = rng.random(n) < 0.02
    frame[mdl.SOFT_TOTAL] = soft_lately.astype(int) + rng.binomial(1, 0.05, n)
    frame[mdl.SINCE_BOUNCE] = np.where(soft_lately, rng.uniform(0, 3, n), mdl.NEVER_DAYS)
    full = ~dead & (rng.random(n) < np.where(soft_lately, 0.7, 0.008))
    frame["label"] = np.select([dead, full], [mdl.HARD, mdl.SOFT], mdl.REACHED)
    frame[mdl.ACQUISITION] = source
    frame["provider"] = rng.choice(["gmail", "yahoo", "outlook"], n)
    frame[f"{S}domain_category"] = "consumer"
    frame["email"] = [f"u{i:08d}@gmail.com" for i in range(n)]
    frame["event_timestamp"] = pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC")
    frame["message_id"] = [f"m{i}" for i in range(n)]
    frame["subscriber_id"] = [f"s{i}" for i in range(n)]
    return frame


def _bundle(data, model) -> TrainedModel:
    return TrainedModel(model_id="MDL-010", classes=mdl.CLASSES, features=list(data.X.columns),
                        categorical=list(data.categories), categories=data.categories, model=model)


@pytest.fixture(scope="module")
def trained() -> tuple[TrainedModel, pd.DataFrame]:
    data = mdl.dataset_from_frame(_frame(30_000, 0))
    return _bundle(data, mdl.fit(data, mdl.baseline_params(), profile("smoke"))), mdl.with_address_check(_frame(15_000, 1))


@pytest.mark.parametrize("learner", ["logistic", "lightgbm"])
def test_each_learner_finds_dead_addresses_the_bounce_and_sunset_rule_cannot(learner, trained):
    _, holdout = trained
    data = mdl.dataset_from_frame(_frame(30_000, 0))
    bundle = _bundle(data, mdl.fit(data, {"learner": learner}, profile("smoke")))
    first = holdout[mdl.HARD_TOTAL].to_numpy() == 0  # the bounces no "one hard bounce" rule can stop
    y = holdout["label"].to_numpy()
    ours = spec_report(SPEC, y[first], bundle.predict_proba(holdout)[first])
    rule = spec_report(SPEC, y[first], mdl.hygiene_rule_rates(holdout[first]))
    assert ours["hard_bounce_roc_auc"] > rule["hard_bounce_roc_auc"] + 0.1, (ours, rule)
    assert ours["soft_bounce_roc_auc"] > 0.7
    whole = spec_report(SPEC, y, bundle.predict_proba(holdout))
    assert whole["hard_bounce_roc_auc"] > 0.75 and whole["hard_bounce_ece"] < 0.01


def test_probabilities_are_the_three_classes_and_a_known_dead_address_is_dead(trained):
    bundle, holdout = trained
    proba = bundle.predict_proba(holdout)
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()
    bounced = holdout[mdl.HARD_TOTAL].to_numpy() > 0
    assert proba[bounced, mdl.HARD].mean() > 0.8 > 0.2 > proba[~bounced, mdl.HARD].mean()


def test_fit_refuses_unknown_parameters_and_learners():
    data = mdl.dataset_from_frame(_frame(500, 5))
    with pytest.raises(ValueError, match="unknown MDL-010 parameters"):
        mdl.fit(data, {"depth": 3}, profile("smoke"))
    with pytest.raises(ValueError, match="unknown MDL-010 learner"):
        mdl.fit(data, {"learner": "forest"}, profile("smoke"))


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.sampled_from(ADDRESS_CHECKS)), min_size=1, max_size=50),
       st.floats(1.0, 3.0))
@settings(max_examples=200, deadline=None)
def test_a_riskier_address_never_gets_a_milder_action(addresses, factor):
    hard, soft, check = (np.array(v, dtype=object if i == 2 else float) for i, v in enumerate(zip(*addresses, strict=True)))
    t = policy.HygieneThresholds()
    base = policy.decide(hard, soft, check, t)
    severity = {policy.SEND: 0, policy.HOLD: 1, policy.SUPPRESS: 2}
    for worse in (policy.decide(np.minimum(hard * factor, 1), soft, check, t),
                  policy.decide(hard, np.minimum(soft * factor, 1), check, t),
                  policy.decide(hard, soft, np.full(len(check), "invalid", dtype=object), t)):
        assert all(severity[w] >= severity[b] for w, b in zip(worse, base, strict=True))
    assert (base[check == "invalid"] == policy.SUPPRESS).all()
    assert (base[hard >= t.suppress_hard_bounce] == policy.SUPPRESS).all()


def test_thresholds_are_in_range_and_decide_wants_one_of_each_per_address():
    with pytest.raises(ValueError, match="hold_soft_bounce"):
        policy.HygieneThresholds(hold_soft_bounce=1.5)
    with pytest.raises(ValueError, match="one risk of each kind"):
        policy.decide(np.zeros(2), np.zeros(3), np.array(["ok", "ok"], dtype=object))


def _request(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    columns = {c: frame[c].to_numpy() for c in mdl.FEATURES if c != mdl.ADDRESS_CHECK}
    return columns | {"email": frame["email"].to_numpy(dtype=object),
                      "subscriber_id": frame["subscriber_id"].to_numpy(dtype=object)}


def test_the_service_answers_as_the_bundle_and_the_policy_do_and_refuses_bad_requests(trained):
    bundle, holdout = trained
    rows = holdout.head(40).drop(columns=mdl.ADDRESS_CHECK)
    rows.loc[rows.index[0], "email"] = "not an address"
    rows.loc[rows.index[1], "email"] = "info@globex.com"
    out = service.answer(bundle, _request(rows))
    proba = bundle.predict_proba(mdl.with_address_check(rows))
    assert np.allclose(out["p_hard_bounce"], proba[:, mdl.HARD]) and np.allclose(out["p_soft_bounce"], proba[:, mdl.SOFT])
    assert out["address_check"][:2].tolist() == ["invalid", "role"] and out["action"][0] == "suppress"
    assert out["subscriber_id"].tolist() == rows["subscriber_id"].tolist() and set(service.OUTPUTS) == set(out)
    strict = service.answer(bundle, {**_request(rows), "suppress_hard_bounce": np.array([1e-6])})
    assert (strict["action"] == "suppress").all()
    for bad, reason in (({"suppress_hard_bounce": np.array([2.0])}, "between"),
                        ({"hold_soft_bounce": np.array([0.1, 0.2])}, "one value"),
                        ({"email": np.array([1.0] * 40, dtype=object)}, "'email' must be one text"),
                        ({"email": np.array(["a@gmail.com"] * 39, dtype=object)}, "'email' must be one text"),
                        ({mdl.HARD_TOTAL: np.array(["x"] * 40, dtype=object)}, "must be numeric")):
        with pytest.raises(RequestError, match=reason):
            service.answer(bundle, {**_request(rows), **bad})
    missing = _request(rows)
    del missing["email"]
    with pytest.raises(RequestError, match="missing input 'email'"):
        service.answer(bundle, missing)


def test_labels_are_each_answered_messages_final_outcome(tiny_world):
    labels = mdl.labels_from_lake(tiny_world / "lake")
    lake = EventsLake(tiny_world / "lake")
    sends = lake.read("sends", columns=["message_id", "send_ts"]).to_pandas()
    assert labels["message_id"].is_unique and labels["send_ts"].max() <= sends["send_ts"].max() - mdl.ATTRIBUTION
    assert labels["email"].notna().all() and set(labels[mdl.ACQUISITION]) <= set(SOURCES)

    import pyarrow.dataset as ds

    truth = ds.dataset(tiny_world / "truth" / "messages", format="parquet", partitioning="hive").to_table(
        columns=["message_id", "true_class"]).to_pandas()
    joined = labels.merge(truth, on="message_id")
    assert len(joined) == len(labels)
    # no blocked message is a label; a bounce's class is the truth's
    assert not (joined["true_class"] == "block").any()
    assert ((joined["label"] == mdl.HARD) == (joined["true_class"] == "hard_bounce")).all()
    assert ((joined["label"] == mdl.SOFT) == (joined["true_class"] == "soft_bounce")).all()
    assert (labels["label"] == mdl.HARD).any() and (labels["label"] == mdl.SOFT).any()


def test_in_the_twin_sources_and_disengagement_make_dead_addresses_likelier():
    from adaptive_delivery.twin import population as popmod

    pop = popmod.Population(capacity=200_000)
    idx = pop.add(np.random.default_rng(0), 200_000, 0, 0, invalid_share=0.1, trap_share=0.01, tenure_days=None)
    dead = pop.invalid_from[idx] != popmod.NEVER
    source = pop.acquisition[idx]
    share = [dead[source == k].mean() for k in range(4)]
    assert share[1] < share[0] < share[2] < share[3]  # checkout < sign-up form < import < co-registration
    assert dead.mean() == pytest.approx(0.1, abs=0.01)  # the sender's share overall
    traps = [pop.trap[idx][source == k].mean() for k in range(4)]
    assert traps[3] > traps[2] > traps[0] > traps[1] and not (dead & pop.trap[idx]).any()
    hazard = popmod.stale_hazard(np.array([popmod.DISENGAGED_LOGIT - 1.0, 0.0]))
    assert hazard[0] > 3 * hazard[1]


def test_the_loop_benchmark_brings_a_morning_forward_and_finds_what_a_rule_needs():
    from mdl010_in_loop import FRESH, advance, rule_needs, soft_within

    morning = pd.DataFrame([FRESH, FRESH], index=["a", "b"]).astype(float)
    morning.loc["a", mdl.TENURE] = 30.0
    sends = pd.DataFrame({"subscriber_id": ["a", "b", "b"]})
    final = pd.DataFrame({"subscriber_id": ["a", "b", "b"], "status": ["accepted", "bounced", "bounced"],
                          "bounce_class": [None, "soft", "hard"]})
    nxt = advance(morning, sends, final, pd.Series(["a"]))
    assert nxt[f"{S}emails_received_total"].tolist() == [1, 2] and nxt[mdl.HARD_TOTAL].tolist() == [0, 1]
    assert nxt[mdl.SOFT_TOTAL].tolist() == [0, 1] and nxt[mdl.TENURE].tolist() == [31.0, 1.0]
    assert nxt[mdl.SINCE_DELIVERY].tolist() == [0.5, mdl.NEVER_DAYS]  # "never" stays never until it happens
    assert nxt[mdl.SINCE_BOUNCE].tolist() == [mdl.NEVER_DAYS, 0.5]
    assert nxt[f"{S}days_since_last_open"].tolist() == [0.5, mdl.NEVER_DAYS]
    later = advance(nxt, sends.iloc[:0], final.iloc[:0], pd.Series([], dtype=object))
    assert soft_within(later, 3).tolist() == [False, True] and not soft_within(later, 1).any()

    row = pd.Series({"rule_a_bounce_rate": 0.012, "rule_a_good_withheld": 10.0,
                     "rule_b_bounce_rate": 0.008, "rule_b_good_withheld": 300.0,
                     "rule_c_bounce_rate": 0.006, "rule_c_good_withheld": 200.0})
    rules = ["rule_a", "rule_b", "rule_c"]
    assert rule_needs(row, 0.009, rules) == 200.0 and rule_needs(row, 0.013, rules) == 10.0
    assert rule_needs(row, 0.001, rules) == float("inf")
