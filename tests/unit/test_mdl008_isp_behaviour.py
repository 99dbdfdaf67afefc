"""MDL-008: answer profiles computed as their definitions say, windows that add up, groups that
match the providers' hidden classes better than the catalogue's categories do, a provider change
flagged and the unchanged providers left alone, and a service that refuses what it cannot read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.models.mdl008_isp_behaviour import model as mm
from adaptive_delivery.delivery.models.mdl008_isp_behaviour import service
from adaptive_delivery.delivery.models.mdl008_isp_behaviour import training as tr
from adaptive_delivery.delivery.models.mdl008_isp_behaviour.profile import (
    LATENCY_BIN,
    PROFILE_FEATURES,
    PSEUDO_MESSAGES,
    TYPICAL_RATE,
    behaviour_profiles,
    daily_log,
    histogram_quantile,
)
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.spec import get

SUBSCRIBERS = 8_000  # tiny worlds: every provider answers a few hundred messages a day


def outcome_rows(rows: list[tuple]) -> pd.DataFrame:
    """(message, attempt, day, status, code, reason, latency, placement, recipient) -> log rows."""
    frame = pd.DataFrame(rows, columns=["message_id", "attempt", "day", "status", "smtp_code", "reason", "latency_ms",
                                        "placement", "recipient"])
    frame["event_ts"] = pd.Timestamp("2026-03-02", tz="UTC") + pd.to_timedelta(frame.pop("day") * 24 + 14, unit="h")
    frame["provider"] = np.where(frame["recipient"].str.endswith("gmail.com"), "gmail", "yahoo")
    frame["sending_ip"] = "192.0.2.10"
    return frame


LOG = outcome_rows([
    ("m1", 1, 0, "accepted", 250, None, 300.0, "inbox", "a@gmail.com"),
    ("m2", 1, 0, "deferred", 421, "speeding", 500.0, None, "b@gmail.com"),
    ("m2", 2, 0, "accepted", 250, None, 320.0, "spam", "b@gmail.com"),
    ("m3", 1, 1, "blocked", 550, "spamdetected", 280.0, None, "c@gmail.com"),
    ("m4", 1, 1, "blocked", 421, "blocked", 400.0, None, "d@gmail.com"),
    ("m5", 1, 1, "accepted", 250, None, 450.0, None, "e@yahoo.com"),
])


def test_a_profile_is_its_definition_shrunk_towards_a_typical_log():
    p = behaviour_profiles(LOG, "domain", opened=np.array(["m1"])).loc["gmail.com"]
    assert p["messages"] == 4  # four first attempts

    def shrunk(k: float, n: float, feature: str) -> float:
        return (k + PSEUDO_MESSAGES * TYPICAL_RATE[feature]) / (n + PSEUDO_MESSAGES)

    assert p["block_share"] == pytest.approx(shrunk(2, 4, "block_share"))
    assert p["content_block_share"] == pytest.approx(shrunk(1, 4, "content_block_share"))
    assert p["deferral_share"] == pytest.approx(shrunk(1, 4, "deferral_share"))
    # refusals and deferrals: 421 (defer), 550 (block), 421 (block): one in three worded 5xx
    assert p["refusal_5xx_share"] == pytest.approx(shrunk(1, 3, "refusal_5xx_share"))
    assert p["spam_share"] == pytest.approx(shrunk(1, 2, "spam_share"))  # the panel saw two placements
    assert p["open_share"] == pytest.approx(shrunk(1, 2, "open_share"))  # two accepted, one opened
    latencies = np.log([300.0, 500.0, 320.0, 280.0, 400.0])
    assert p["latency_log_median"] == pytest.approx(np.median(latencies), abs=LATENCY_BIN)


def test_profiles_of_days_equal_profiles_of_their_rows_and_windows_add_up():
    log = daily_log(LOG, "provider")
    second_day = log.profiles(1, 2)
    rows = LOG[LOG["event_ts"].dt.day == 3]
    pd.testing.assert_frame_equal(second_day, behaviour_profiles(rows, "provider"), check_dtype=False)
    assert log.profiles(0, 2)["messages"].sum() == LOG["attempt"].eq(1).sum()


def test_histogram_quantiles_find_the_median_within_a_bin():
    rng = np.random.default_rng(3)
    values = rng.normal(6.0, 0.4, 5_000)
    hist = np.bincount((values / LATENCY_BIN).astype(int), minlength=1_400)[None, :].astype(float)
    assert histogram_quantile(hist, 0.5)[0] == pytest.approx(np.median(values), abs=LATENCY_BIN)
    assert histogram_quantile(hist, 0.75)[0] > histogram_quantile(hist, 0.25)[0]


def test_machine_opens_are_not_people_reading():
    from adaptive_delivery.delivery.features.definitions import human_opens

    engagement = pd.DataFrame({"message_id": ["m1", "m2", "m3", "m3"], "event_type": ["open", "open", "click", "open"],
                               "machine_open": [False, True, False, False],
                               "event_ts": pd.to_datetime(["2026-03-02 10:00", "2026-03-02 10:01", "2026-03-02 10:02",
                                                           "2026-03-02 10:03"], utc=True)})
    opened = human_opens(engagement)
    assert sorted(opened["message_id"]) == ["m1", "m3"]
    assert opened.set_index("message_id")["event_ts"]["m3"] == pd.Timestamp("2026-03-02 10:03", tz="UTC")


@pytest.fixture(scope="module")
def trained() -> mm.ClusterModel:
    """Clusters and a change test learned from four tiny training worlds of two weeks."""
    logs = tr.training_logs(tr.training_seeds(0)[:4], 14, SUBSCRIBERS)
    return tr.fit_from_logs(logs, seed=0)


def test_the_groups_match_the_hidden_classes_better_than_the_catalogue_does(trained):
    from sklearn.metrics import adjusted_rand_score

    logs = tr.world_logs(1001, 14, "domain", SUBSCRIBERS)
    domains = logs["domain"].profiles()
    truth = tr.hidden_classes(list(domains.index))
    ours = adjusted_rand_score(truth, trained.assign(domains)["cluster"])
    category = adjusted_rand_score(truth, tr.rule_groups(list(domains.index), "category"))
    assert ours > category
    # the domains of one provider answer by the same rules: most land together
    providers = tr.provider_of_units(list(domains.index), "domain")
    together = pd.Series(trained.assign(domains)["cluster"].to_numpy()).groupby(providers).nunique()
    assert (together == 1).mean() >= 0.5


def test_a_tightened_filter_is_flagged_within_a_week_and_the_others_mostly_are_not(trained):
    logs = tr.world_logs(1002, 21, "provider", SUBSCRIBERS, change_day=14, change_provider="gmail", inbox_shift=-2.5)
    flags = mm.change_flags(trained, logs["provider"], 14).set_index("unit")["days_after"]
    assert flags["gmail"] <= 7
    assert flags.drop("gmail").notna().mean() <= 0.5
    # without the change, gmail's same days raise no flag
    same = tr.world_logs(1002, 21, "provider", SUBSCRIBERS)
    assert np.isnan(mm.change_flags(trained, same["provider"], 14).set_index("unit")["days_after"]["gmail"])


def test_the_monitor_alerts_with_the_provider_whose_answers_moved_and_not_without_a_change(trained):
    from adaptive_delivery.delivery.models.mdl008_isp_behaviour.monitoring import moved_providers

    changed = tr.world_events(1002, 21, SUBSCRIBERS, change_day=14, change_provider="gmail", inbox_shift=-2.5)
    origin = pd.to_datetime(changed[0]["event_ts"], utc=True).min().normalize()
    moved, alerts = moved_providers(trained, *changed, origin, 14)
    assert moved["gmail"] <= 7 and len(alerts) == 1 and "gmail (" in alerts[0]
    same = tr.world_events(1002, 21, SUBSCRIBERS)
    assert "gmail" not in moved_providers(trained, *same, origin, 14)[0]


def test_the_model_file_round_trips_and_refuses_another_version(trained, tmp_path):
    path = trained.save(tmp_path / tr.MODEL_FILE)
    back = mm.ClusterModel.load(path)
    profiles = service.example_request()[list(PROFILE_FEATURES)].assign(messages=1000)
    pd.testing.assert_frame_equal(back.assign(profiles), trained.assign(profiles))
    path.write_text(path.read_text().replace('"format": 1', '"format": 0'))
    with pytest.raises(ValueError, match="not an MDL-008 model of this version"):
        mm.ClusterModel.load(path)


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: frame[c].to_numpy() for c in frame.columns}


def test_the_service_flags_the_provider_whose_answers_moved(trained):
    answer = service.answer_rows(trained, _columns(service.example_request()))
    assert list(answer) == list(service.OUTPUTS) == list(get("MDL-008").serving_signature)
    assert answer["over_threshold"].tolist() == [True, False, False]
    without = service.answer_rows(trained, _columns(service.example_request().drop(columns=list(service.REFERENCE))))
    assert np.isnan(without["change_score"]).all() and not without["over_threshold"].any()
    np.testing.assert_array_equal(without["cluster"], answer["cluster"])


@pytest.mark.parametrize(("change", "says"), [
    (lambda f: f.drop(columns="unit"), "missing input 'unit'"),
    (lambda f: f.assign(unit=["gmail", "", "yahoo"]), "'unit' must be non-empty text"),
    (lambda f: f.assign(spam_share=[0.2, 1.4, 0.1]), "'spam_share' must be finite and within [0, 1]"),
    (lambda f: f.assign(messages=[0, 10, 10]), "'messages' must be finite and >= 1"),
    (lambda f: f.drop(columns="reference_open_share"), "needs every reference_* input"),
    (lambda f: f.assign(mx_host=["a", "b", "c"]), "unknown inputs ['mx_host']"),
])
def test_the_service_refuses_what_it_cannot_read(trained, change, says):
    with pytest.raises(RequestError) as err:
        service.answer_rows(trained, _columns(change(service.example_request())))
    assert says in str(err.value)


@settings(max_examples=40, deadline=None)
@given(delta=st.floats(-1.0, 1.0), feature=st.sampled_from(["block_share", "spam_share", "open_share",
                                                             "latency_log_median"]))
def test_what_moves_every_provider_at_once_is_no_provider_change(trained, delta, feature):
    """The sender's own content or volume moves every provider's profile alike (the same step on
    the model's scale): with three units or more in a window, no score changes."""
    base = service.example_request()
    if feature == "latency_log_median":
        moved = base.assign(**{feature: base[feature] + delta})
    else:
        logit = np.log(base[feature] / (1 - base[feature]))
        moved = base.assign(**{feature: 1 / (1 + np.exp(-(logit + delta)))})
    before = service.answer_rows(trained, _columns(base))["change_score"]
    after = service.answer_rows(trained, _columns(moved))["change_score"]
    assert after == pytest.approx(before, abs=1e-6)


def test_the_knowledge_base_records_each_providers_group_and_the_change(trained):
    """MDL-008's verdict as knowledge: every provider gets its group; of the last week's changes,
    the tightened filter is the one recorded."""
    from datetime import UTC, datetime

    from adaptive_delivery.delivery.knowledge.behaviour import (
        RECENT_DAYS,
        REFERENCE_DAYS,
        behaviour_facts,
    )

    outcomes, opens = tr.world_events(1002, REFERENCE_DAYS + RECENT_DAYS, SUBSCRIBERS, change_day=REFERENCE_DAYS,
                                      change_provider="gmail", inbox_shift=-2.5)
    facts = behaviour_facts(trained, outcomes, opens, datetime.now(UTC), "7")
    assert set(facts) == set(outcomes["provider"].unique())
    for provider, known in facts.items():
        assert known["behaviour_group"].value["name"] in trained.names, provider
        assert known["behaviour_change"].evidence["model_version"] == "7"
    assert facts["gmail"]["behaviour_change"].value["flagged"]
    assert facts["gmail"]["behaviour_change"].value["days_after_reference"] <= RECENT_DAYS
    assert np.mean([k["behaviour_change"].value["flagged"] for p, k in facts.items() if p != "gmail"]) <= 0.5


def test_the_knowledge_window_learns_the_same_with_mdl008s_verdict_beside_it(trained, tiny_world, tmp_path):
    """With MDL-008's champion the lake is read once over three weeks; the window's own facts are
    what reading the window alone teaches, and each provider gets its group besides."""
    from adaptive_delivery.delivery.knowledge.learn import learn_window
    from adaptive_delivery.delivery.knowledge.store import KnowledgeBase

    alone, joined = f"sqlite:///{tmp_path / 'alone.db'}", f"sqlite:///{tmp_path / 'joined.db'}"
    learn_window(tiny_world / "lake", alone, days=3)
    learn_window(tiny_world / "lake", joined, days=3, behaviour=(trained, "1"))
    for provider in KnowledgeBase(alone).providers():
        a, j = KnowledgeBase(alone).current(provider), KnowledgeBase(joined).current(provider)
        assert set(j) - set(a) == {"behaviour_group"}, provider
        for name in ("block_patterns", "safe_max_rate_per_hour", "content_sensitivity"):
            assert a[name].value == j[name].value and a[name].evidence == j[name].evidence, (provider, name)
