"""The drift scenario's driver: the order it runs the DAGs in, and how it reacts to what they
record. The DAGs are stood in for by small functions that write what the real ones write (the
world advances for real; monitoring raises its alarm once the provider's change is in force)."""

from datetime import UTC, date, datetime, timedelta

from adaptive_delivery.delivery import jobs
from adaptive_delivery.delivery.scenarios import drift as sc
from adaptive_delivery.platform.rollout import controller as rc
from adaptive_delivery.twin import live

SCENARIO = sc.DriftScenario(subscribers=1_000, warmup_days=3, steady_days=2, max_days=12)


def fake_dags(dep: jobs.Deployment, calls: list, verdicts: list[rc.Action] | None = None):
    """`verdicts`: what each rollout's last stage decides, one per rollout (default: promote)."""
    store = rc.RolloutStore(dep.rollouts)
    verdicts = list(verdicts or [])

    def run_dag(dag_id: str, day: date, conf: dict | None) -> None:
        calls.append((dag_id, day, (conf or {}).get("reason", "")))
        if dag_id == "ad_world":
            live.advance_until(dep.home, day, dep.world)  # the real DAG also runs the arms; not needed here
        elif dag_id == "ad_monitor":
            changed = (live.status(dep.home)["change"] or {}).get("from")
            late = changed is not None and str(day - timedelta(days=1)) >= changed
            jobs.record(dep, "monitor", "check", retrain=["macro_roc_auc fell 4%"] if late else [])
        elif dag_id == "ad_retrain_mdl_001" and conf["reason"] != "first champion":
            now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            store.save(rc.start(f"exp-{day}", "MDL-001", "1", "2", now))
            jobs.record(dep, "retrain", "PROMOTE")
        elif dag_id == "ad_rollout":
            exp = [e for e in store.list() if e.status == rc.Status.RUNNING][0]
            now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            final = verdicts[0] if verdicts else rc.Action.PROMOTE
            action = final if exp.stage_index >= 1 else rc.Action.ADVANCE
            if action != rc.Action.ADVANCE and verdicts:
                verdicts.pop(0)
            rc.apply(exp, rc.Verdict(action, "test", exp.stage.name, [], 0, 0), now)
            store.save(exp)
            jobs.record(dep, "rollout", f"{action.value}")

    return run_dag


def test_the_loop_detects_retrains_once_and_follows_the_rollout_to_its_end(tmp_path):
    dep = jobs.deployment(SCENARIO.env(tmp_path))
    calls: list = []
    summary = sc.run(SCENARIO, dep, fake_dags(dep, calls), log=lambda _: None)
    first = [c[0] for c in calls[:3]]
    assert first == ["ad_world", "ad_features_daily", "ad_retrain_mdl_001"]
    change = date.fromisoformat(summary["change_day"])
    assert change == SCENARIO.start + timedelta(days=SCENARIO.warmup_days + SCENARIO.steady_days)
    assert summary["detected_on"] == str(change)  # the first day with the change in force
    retrains = [c for c in calls if c[0] == "ad_retrain_mdl_001"][1:]
    assert len(retrains) == 1 and retrains[0][2].startswith("monitor: macro_roc_auc fell")
    assert summary["rollout_ended"]["status"] == "promoted" and len(summary["rollouts"]) == 1
    rollout_days = [c[1] for c in calls if c[0] == "ad_rollout"]
    assert rollout_days and min(rollout_days) > retrains[0][1]  # judged from the day after it started
    day_order = [c[0] for c in calls if c[1] == rollout_days[0]]
    assert day_order[:2] == ["ad_world", "ad_rollout"] and day_order[-1] == "ad_monitor"
    assert (dep.home / "scenario.json").exists() and (dep.home / "scenario.png").exists()


def test_a_rolled_back_rollout_leaves_the_loop_running_and_the_next_alarm_retrains_again(tmp_path):
    dep = jobs.deployment(SCENARIO.env(tmp_path))
    calls: list = []
    summary = sc.run(SCENARIO, dep, fake_dags(dep, calls, [rc.Action.ROLLBACK]), log=lambda _: None)
    assert [r["status"] for r in summary["rollouts"]] == ["rolled_back", "promoted"]
    assert summary["rollouts"][0]["experiment"] != summary["rollouts"][1]["experiment"]
    retrains = [c[1] for c in calls if c[0] == "ad_retrain_mdl_001"][1:]
    assert len(retrains) == 2 and (retrains[1] - retrains[0]).days >= sc.RETRAIN_COOLDOWN_DAYS
    assert summary["rollout_ended"] == summary["rollouts"][-1]
