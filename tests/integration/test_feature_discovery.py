"""Feature discovery on the session's main-job deployment, through the command line: the weekly
report against the registered champion, a shadow trial of one field, and a person's decision,
which the feature service and the model's next training set then read. The decisions go to a copy
of the feature repo: the checkout's stays as it is."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptive_delivery.cli import app
from adaptive_delivery.delivery.models.mdl001_deliverability.model import FEATURES
from adaptive_delivery.platform import feature_adoption as fa
from adaptive_delivery.platform import feature_store as st
from adaptive_delivery.platform.spec import get

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-001")


@pytest.fixture
def deployment(main_job, tmp_path, monkeypatch):
    assert main_job.result.returncode == 0, main_job.result.stdout[-3000:]
    repo = tmp_path / "feature_repo"
    shutil.copytree(st.feature_repo_path(), repo)
    (repo / fa.FILE_NAME).unlink(missing_ok=True)
    for name in st.SETTINGS:  # opening the store sets these: put them back afterwards
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AD_FEATURE_REPO", str(repo))
    monkeypatch.setenv("AD_PROFILE", "local")
    monkeypatch.setenv("AD_HOME", str(main_job.out))
    monkeypatch.setenv("AD_TRACKING_URI", main_job.tracking_uri)
    return main_job.out, repo


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_the_weekly_report_judges_every_field_the_champion_does_not_read(deployment):
    home, _ = deployment
    result = _run("features", "discover", "--model", "MDL-001", "--weeks", "2")
    assert result.exit_code == 0, result.output
    [folder] = sorted((home / "reports" / "discovery" / "MDL-001").glob("20*"))
    report = json.loads((folder / "report.json").read_text())
    assert (folder / "report.png").stat().st_size > 5_000
    assert report["model_version"] is not None  # judged within the champion's own predictions
    latest = report["weeks"][-1]
    fields = {a["field"] for a in latest["associations"]}
    assert fields == set(SPEC.discovery.candidates()) and not fields & set(FEATURES)
    assert {a["outcome"] for a in latest["associations"]} == {"accepted", "soft_bounce", "hard_bounce", "block", "spam"}
    for a in latest["associations"]:
        assert 0 <= a["p"] <= a["q"] <= 1
    assert set(report["suggestions"]) <= fields
    timeline = [json.loads(line) for line in (home / "timeline.jsonl").read_text().splitlines()]
    assert timeline[-1]["step"] == "discover"


def test_a_field_is_adopted_only_after_its_shadow_trial_and_a_named_approval(deployment):
    home, repo = deployment
    field = "sender_ip_features__bounce_rate_24h"
    refused = _run("features", "approve", "--feature", field, "--by", "ana")
    assert refused.exit_code == 2 and "no shadow trial" in refused.output
    unknown = _run("features", "trial", "--feature", "subscriber_id", "--profile", "smoke")
    assert unknown.exit_code == 2 and "not a candidate" in unknown.output

    trial = _run("features", "trial", "--feature", field, "--profile", "smoke", "--runs", "2")
    assert trial.exit_code == 0, trial.output
    result = json.loads((home / "reports" / "discovery" / "MDL-001" / "trials" / f"{field}.json").read_text())
    lo, hi = result["ci95"]
    assert lo <= result["difference"] <= hi and result["holdout_rows"] > 300
    assert all(0.5 < result[arm] < 1 for arm in ("without", "placebo", "with")) and result["seeds"] == [0, 1]

    args = ["features", "approve", "--feature", field, "--by", "ana", "--note", "bounces per IP"]
    if result["verdict"] != "helps":
        refused = _run(*args)
        assert refused.exit_code == 2 and "--despite-trial" in refused.output
        args.append("--despite-trial")
    approved = _run(*args)
    assert approved.exit_code == 0, approved.output
    assert fa.adopted("MDL-001") == {field: "numeric"}
    assert fa.decisions("MDL-001")["adopted"][0].trial["verdict"] == result["verdict"]

    # the next training set reads it; the one a model was trained on before does not change
    frame = pd.read_parquet(sorted((home / "kfp").rglob("holdout"))[0])
    assert field in SPEC.to_dataset(frame).X.columns

    rejected = _run("features", "reject", "--feature", field, "--by", "bo", "--note", "too noisy on small IPs")
    assert rejected.exit_code == 0 and fa.adopted("MDL-001") == {}
    listed = _run("features", "decisions")
    assert listed.exit_code == 0 and "rejected" in listed.output and "bo" in listed.output
    assert json.loads((repo / fa.FILE_NAME).read_text())["MDL-001"]["rejected"][0]["by"] == "bo"
