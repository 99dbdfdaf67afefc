"""MDL-004: signals counted as their definitions say and read only from the past, labels that mark
what is new (a block event, a listing), a model that ranks the units of an unseen world better
than a weak scorer, warnings counted as defined, a file that loads back to the same answers, a
service that refuses what it cannot read, and the twin's list-import scenario."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.delivery.models.mdl004_domain_reputation import model as rm
from adaptive_delivery.delivery.models.mdl004_domain_reputation import service
from adaptive_delivery.delivery.models.mdl004_domain_reputation import signals as sg
from adaptive_delivery.delivery.models.mdl004_domain_reputation import training as tr
from adaptive_delivery.platform.requests import RequestError
from adaptive_delivery.platform.spec import get

START = pd.Timestamp("2026-03-02", tz="UTC")
IPS = pd.DataFrame({"sending_ip": ["192.0.2.10", "192.0.2.11"], "sending_domain": ["a.example", "a.example"]})


def at(hour: float) -> pd.Timestamp:
    return START + pd.Timedelta(hours=hour)


def log(messages: list[tuple], hours: int = 72, listed_days: tuple[int, ...] = ()) -> sg.HourlyCounts:
    """(message, ip, provider, send hour, final status, bounce class, reason, complained, opened)
    -> the IP unit's hourly counts; `listed_days`: days a blocklist lists the first IP."""
    sends = pd.DataFrame([{"message_id": m[0], "sending_ip": m[1], "sending_domain": "a.example", "provider": m[2],
                           "send_ts": at(m[3])} for m in messages])
    outcomes = pd.DataFrame([{"message_id": m[0], "attempt": 1, "event_ts": at(m[3] + 0.01), "status": m[4],
                              "bounce_class": m[5], "reason": m[6]} for m in messages])
    complaints = pd.DataFrame([{"message_id": m[0], "event_ts": at(m[3] + 1)} for m in messages if m[7]],
                              columns=["message_id", "event_ts"])
    opens = pd.DataFrame([{"message_id": m[0], "event_ts": at(m[3] + 2)} for m in messages if m[8]],
                         columns=["message_id", "event_ts"])
    days = hours // 24 + 1
    public = pd.DataFrame([{"sending_ip": ip, "day": d, "listed": ip == "192.0.2.10" and d in listed_days,
                            "postmaster": 4, "snds": 3} for ip in IPS["sending_ip"] for d in range(days)])
    return sg.hourly_counts("ip", START, hours, IPS, sends, outcomes, complaints, opens, public)


def batch(prefix: str, n: int, hour: float, status: str = "accepted", bounce=None, reason=None, provider="gmail",
          ip="192.0.2.10", complained: int = 0, opened: int = 0) -> list[tuple]:
    return [(f"{prefix}{i}", ip, provider, hour, status, bounce, reason, i < complained, i < opened) for i in range(n)]


def test_signals_are_their_definitions_shrunk_towards_a_typical_sender():
    messages = (batch("a", 80, 10.0, opened=20, complained=1) + batch("h", 10, 10.0, "bounced", "hard", "userunknown")
                + batch("b", 8, 11.0, "blocked", reason="blocked") + batch("c", 2, 11.0, "blocked", reason="spamdetected")
                + batch("x", 5, 11.0, "blocked", reason="authfailure"))
    c = log(messages)
    row = sg.snapshot_frame(c, np.array([24])).set_index("unit").loc["192.0.2.10"]
    final, k = 105, sg.PRIOR_MESSAGES
    assert row["log_sent_24h"] == pytest.approx(np.log1p(105))
    assert row["hard_rate_24h"] == pytest.approx((10 + k * sg.TYPICAL["hard"]) / (final + k))
    # refusals for the sender count; the content's and authentication's do not
    assert row["block_rate_24h"] == pytest.approx((8 + k * sg.TYPICAL["block"]) / (final + k))
    assert row["content_block_rate_7d"] == pytest.approx((2 + k * sg.TYPICAL["content_block"]) / (final + k))
    assert row["complaint_rate_7d"] == pytest.approx((1 + k * sg.TYPICAL["complaint"]) / (80 + k))
    assert row["open_rate_7d"] == pytest.approx((20 + k * sg.TYPICAL["open"]) / (80 + k))
    assert row["worst_provider_block_24h"] == pytest.approx(8 / 105)
    assert row["log_hours_since_sent"] == pytest.approx(np.log1p(24 - 1 - 11))
    assert row["postmaster"] == 1.0 and row["snds"] == pytest.approx(2 / 3)
    quiet = sg.snapshot_frame(c, np.array([24])).set_index("unit").loc["192.0.2.11"]
    assert quiet["log_sent_24h"] == 0 and quiet["hard_rate_24h"] == pytest.approx(sg.TYPICAL["hard"])


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=40))
def test_a_snapshot_reads_only_the_hours_before_it(t, extra):
    """Mail sent at or after hour t changes nothing in the features at t."""
    base = batch("a", 50, 5.0) + batch("h", 5, 5.0, "bounced", "hard", "userunknown")
    later = batch("z", extra, float(t), "blocked", reason="blocked") + batch("y", extra, t + 3.0, "bounced", "hard")
    before = sg.snapshot_frame(log(base), np.array([t]))
    after = sg.snapshot_frame(log(base + later), np.array([t]))
    pd.testing.assert_frame_equal(before, after)


def test_a_block_event_is_new_and_needs_enough_mail_refused_at_one_provider():
    enough = batch("ok", 70, 30.0) + batch("bl", 30, 30.0, "blocked", reason="blocked")  # 30% of 100 at gmail
    too_few = batch("s", 10, 50.0) + batch("sb", 9, 50.0, "blocked", reason="blocked")  # 19 messages
    content = batch("k", 50, 60.0) + batch("kb", 50, 60.0, "blocked", reason="spamdetected")
    y = sg.labels(log(enough + too_few + content, hours=96)).set_index(["unit", "t"])["block_event"]
    ip = "192.0.2.10"
    assert y[(ip, 7)] == 1.0 and y[(ip, 30)] == 1.0  # the event at hour 30 lies in [t, t + 24)
    assert y[(ip, 6)] == 0.0  # hour 30 is past its 24 hours
    assert np.isnan(y[(ip, 31)]) and np.isnan(y[(ip, 54)])  # one is under way: nothing new to predict
    assert y[(ip, 55)] == 0.0  # neither the small hour nor the content's refusals are events
    assert np.isnan(y[(ip, 80)])  # the log ends before its 24 hours do


def test_a_listing_label_is_the_day_before_a_listing_begins():
    c = log(batch("a", 10, 1.0), hours=96, listed_days=(2, 3))
    y = sg.labels(c).set_index(["unit", "t"])["listing"]
    ip = "192.0.2.10"
    assert y[(ip, 23)] == 0.0 and y[(ip, 24)] == 1.0 and y[(ip, 47)] == 1.0
    assert np.isnan(y[(ip, 48)]) and np.isnan(y[(ip, 72)])  # listed: nothing new to predict
    assert y[("192.0.2.11", 30)] == 0.0
    x = sg.snapshot_frame(c, np.array([50, 96])).set_index(["unit", "t"])
    assert x.loc[(ip, 50), "listed_now"] == 1.0 and x.loc[(ip, 96), "listed_now"] == 0.0
    # listings begun on the days before (today's is listed_now's)
    assert x.loc[(ip, 50), "listings_30d"] == 0.0 and x.loc[(ip, 96), "listings_30d"] == 1.0
    assert x.loc[(ip, 96), "log_hours_since_listed"] == 0.0  # the listing ended as day 4 began
    assert x.loc[("192.0.2.11", 96), "log_hours_since_listed"] == pytest.approx(np.log1p(sg.MAX_HOURS_SINCE))


def test_warning_hours_count_the_unbroken_alert_before_a_listing():
    rows = pd.DataFrame({"unit": "ip", "t": np.arange(1, 31), "listed_now": [0.0] * 20 + [1.0] * 10})
    score = np.zeros(30)
    score[13:20] = 1.0  # hours 14..20 alert, the listing starts at hour 21
    score[10] = 1.0  # an earlier alert, broken before the run up to the listing
    assert tr.warning_hours(rows, score, 0.5) == [7.0]
    assert tr.warning_hours(rows, np.zeros(30), 0.5) == [0.0]


def test_categories_follow_postmaster_words_by_risk():
    got = rm.category_of(np.array([0.9, 0.5, 0.49, 0.2, 0.19, 0.05, 0.01]))
    assert list(got) == ["bad", "bad", "low", "low", "medium", "medium", "high"]


def test_the_heuristic_puts_a_listed_ip_first_and_tuning_keeps_the_best_weights():
    frame = pd.DataFrame({"hard_rate_24h": [0.01, 0.08, 0.01], "complaint_rate_7d": [0.0005, 0.002, 0.0005],
                          "open_rate_7d": [0.2, 0.05, 0.2], "block_rate_24h": [0.01, 0.05, 0.01],
                          "listed_now": [0.0, 0.0, 1.0], "block_event": [0.0, 1.0, 1.0], "listing": [0.0, 1.0, np.nan]})
    risk = tr.heuristic_risk(frame)
    assert risk[2] > risk[1] > risk[0]
    weights, auc = tr.tune_heuristic([frame])
    assert auc == pytest.approx(1.0) and any(weights.values())


@pytest.fixture(scope="module")
def tiny():
    """A model from two tiny training worlds and an unseen world's unit-hours."""
    rows = pd.concat([tr.world_rows(tr.run_world(s, 16, 16_000)) for s in (100_401, 100_402)], ignore_index=True)
    model = rm.fit(rows, seed=0)
    frames = tr.world_frames(40_001, days=16, subscribers=16_000)
    return model, frames


def test_the_model_ranks_an_unseen_world_better_than_a_weak_scorer(tiny):
    model, (rows, hidden) = tiny
    got = tr.judge(model, rows, hidden)
    weak = tr.event_aucs(rows, rows["log_sent_24h"].to_numpy())  # more mail, more trouble
    assert got["block_event_auc_model"] > max(weak["block_event"], 0.6)
    assert got["listing_auc_model"] > max(weak["listing"], 0.6)
    assert got["spearman_model"] > 0.2
    quiet = rows["listing"].to_numpy() == 0
    assert 0 < got["false_alert_share_model"] < 0.5 and quiet.any()


def test_on_a_deployments_logs_block_events_are_judged_beside_the_heuristic_only_when_there_are_enough(tiny):
    from adaptive_delivery.delivery.models.mdl004_domain_reputation.monitoring import (
        MIN_EVENTS,
        window_metrics,
    )

    model, (rows, _) = tiny
    known = rows[rows["block_event"].notna()]
    metrics, labelled, alerts = window_metrics(model, rows)
    assert labelled == len(known) and known["block_event"].sum() >= MIN_EVENTS
    p_block = model.probabilities(known)["p_block_event"].to_numpy()
    assert metrics["block_event_auc_model"] == pytest.approx(tr.event_aucs(known, p_block)["block_event"])
    rule = tr.event_aucs(known, tr.heuristic_risk(known))["block_event"]
    assert metrics["block_event_auc_heuristic"] == pytest.approx(rule)
    assert any("heuristic ranks" in a for a in alerts) == (rule > metrics["block_event_auc_model"])
    few = pd.concat([known[known["block_event"] == 1].head(MIN_EVENTS - 1), known[known["block_event"] == 0]])
    none, _, said = window_metrics(model, few)
    assert none == {} and f"{MIN_EVENTS - 1} block event(s)" in said[0] and "not judged" in said[0]


def test_published_scores_read_only_the_hours_before_them(tiny, tiny_world, tmp_path):
    """The features MDL-004 publishes for other models cannot leak the future: scoring the lake as
    it stood at a cut gives every row up to the cut exactly as scoring the whole lake does."""
    import shutil

    from adaptive_delivery.delivery.models.mdl004_domain_reputation import scoring

    model, _ = tiny
    path = model.save(tmp_path / "model.json")
    cut = pd.Timestamp("2026-03-06", tz="UTC")
    shutil.copytree(tiny_world / "lake" / "dim", tmp_path / "lake" / "dim")
    for kind in ("sends", "outcomes", "complaints", "engagement"):
        for day in (tiny_world / "lake" / kind).glob("date=*"):
            if pd.Timestamp(day.name.split("=", 1)[1], tz="UTC") < cut:
                shutil.copytree(day, tmp_path / "lake" / kind / day.name)
    whole, before = scoring.score_lake(tiny_world / "lake", path), scoring.score_lake(tmp_path / "lake", path)
    def upto(frame: pd.DataFrame, key: str) -> pd.DataFrame:
        rows = frame[frame["event_timestamp"] <= cut]
        return rows.sort_values([key, "event_timestamp"]).reset_index(drop=True)

    for table, (key, _) in scoring.TABLES.items():
        assert len(upto(whole[table], key)) > 100 and len(whole[table]) > len(upto(whole[table], key))
        pd.testing.assert_frame_equal(upto(whole[table], key), upto(before[table], key))


def test_the_file_loads_back_to_the_same_answers_and_refuses_another_version(tiny, tmp_path):
    model, (rows, _) = tiny
    path = model.save(tmp_path / "m.json")
    again = rm.ReputationModel.load(path)
    pd.testing.assert_frame_equal(model.score(rows.head(200)), again.score(rows.head(200)))
    path.write_text(path.read_text().replace(rm.FORMAT, "mdl004-reputation/0"))
    with pytest.raises(ValueError, match="another version"):
        rm.ReputationModel.load(path)


def test_each_learner_alone_answers_its_part_of_the_ensemble(tiny):
    model, (rows, _) = tiny
    X = rm.matrix(rows.head(300))
    for name, head in model.heads.items():
        alone = [model.with_learners(k).heads[name].logit(X) for k in ("logistic", "lightgbm")]
        assert head.logit(X) == pytest.approx(0.5 * (alone[0] + alone[1])), name
        assert not np.allclose(alone[0], alone[1])


def test_the_service_answers_the_example_and_the_bought_list_looks_worse(tiny):
    model, _ = tiny
    frame = service.example_request()
    got = service.answer_rows(model, {c: frame[c].to_numpy() for c in frame.columns})
    assert list(got) == list(service.OUTPUTS)
    assert got["risk"][1] > got["risk"][0]
    assert got["health_score"][1] < got["health_score"][0]
    assert set(got["category"]) <= set(rm.CATEGORIES)
    assert "hard_rate_24h" in got["factors"][1] or "block" in got["factors"][1]


def test_the_service_accepts_every_signal_a_world_computes(tiny):
    """What `signals` computes from a log is always a valid request: the rows of an unseen world
    with the most extreme values of every signal, scored as the model scores them offline."""
    model, (rows, _) = tiny
    picks = {int(i) for f in sg.FEATURES for i in (rows[f].idxmin(), rows[f].idxmax())}
    frame = rows.loc[sorted(picks)].reset_index(drop=True)
    got = service.answer_rows(model, {"unit": frame["unit"].to_numpy(), **{f: frame[f].to_numpy() for f in sg.FEATURES}})
    assert got["risk"] == pytest.approx(model.score(frame)["risk"].to_numpy())


@pytest.mark.parametrize(("change", "says"), [
    (lambda f: f.drop(columns="unit"), "missing input 'unit'"),
    (lambda f: f.drop(columns="snds"), "missing input 'snds'"),
    (lambda f: f.assign(hard_rate_24h=[0.01, 1.5]), "'hard_rate_24h' must be finite and within [0, 1]"),
    (lambda f: f.assign(listed_now=[0.5, 0.0]), "'listed_now' must be whole numbers"),
    (lambda f: f.assign(mx_host=["a", "b"]), "unknown inputs"),
])
def test_the_service_refuses_what_it_cannot_read(tiny, change, says):
    model, _ = tiny
    frame = change(service.example_request())
    with pytest.raises(RequestError, match=says.replace("[", r"\[").replace("]", r"\]")):
        service.answer_rows(model, {c: frame[c].to_numpy() for c in frame.columns})


def test_the_served_inputs_are_what_a_sender_reads():
    spec = get("MDL-004")
    assert set(spec.served_inputs) == set(service.INPUTS)


def test_a_list_import_changes_nothing_before_its_day_and_bounces_on_it():
    from adaptive_delivery.twin.config import WorldConfig, default_senders
    from adaptive_delivery.twin.simulator import World

    plain = default_senders()
    bought = (plain[0].__class__(**{**plain[0].__dict__, "import_day": 2, "import_size": 0.5,
                                    "import_invalid_share": 0.3}),) + plain[1:]
    worlds = [World(WorldConfig(subscribers=3_000, days=3, seed=5, senders=s)) for s in (plain, bought)]
    days = [[w.step_day().events for _ in range(3)] for w in worlds]
    for d in range(2):
        pd.testing.assert_frame_equal(days[0][d]["sends"].to_pandas(), days[1][d]["sends"].to_pandas())
    sends = [days[k][2]["sends"].to_pandas() for k in range(2)]
    outcomes = [days[k][2]["outcomes"].to_pandas() for k in range(2)]
    acme = [s[s["sending_domain"] == plain[0].sending_domain]["message_id"] for s in sends]
    assert len(acme[1]) > 1.3 * len(acme[0])

    def hard_share(o: pd.DataFrame, ids: pd.Series) -> float:
        mine = o[o["message_id"].isin(ids)]
        return float((mine["bounce_class"] == "hard").sum() / max(ids.size, 1))

    assert hard_share(outcomes[1], acme[1]) > 3 * hard_share(outcomes[0], acme[0])
