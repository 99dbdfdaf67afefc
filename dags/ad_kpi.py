"""The whole system against spec §11, every week (`adaptive-delivery kpi`, unattended): each world's
history is simulated, its learned parts trained on it by their own pipelines (the deployment's
runner), and its future run by a business-as-usual, an adaptive and an oracle sender (and the
adaptive sender less each learned part it ships, and with each challenger) side by side, one task per world; then the report
(KPI_FOLDER/<logical date>/kpi.json and kpi.html) and a line on the timeline.

Validation worlds by default; `sealed: true` claims this version's sealed worlds once, in the
deployment's sealed ledger. An MDL-007 scorer file (`content_scorer`) adds the content gate."""

from __future__ import annotations

from datetime import timedelta

from ad_common import DEFAULT_ARGS, START, deployment
from airflow.sdk import Param, dag, get_current_context, task

KPI_FOLDER = "kpi"


def _settings(params: dict):
    from pathlib import Path

    from adaptive_delivery.delivery.kpi.harness import KpiSize
    from adaptive_delivery.delivery.kpi.senders import Rules

    size = KpiSize(subscribers=int(params["subscribers"]), history_days=int(params["history_days"]),
                   days=int(params["days"]), change_provider=params["change_provider"] or None)
    scorer = Path(params["content_scorer"]) if params.get("content_scorer") else None
    return size, Rules(), scorer


def _profile(params: dict) -> str:
    """The training profile: the run's, else the deployment's."""
    return params["profile"] or deployment().training_profile


def _out():
    context = get_current_context()
    return deployment().home / KPI_FOLDER / context["logical_date"].strftime("%Y-%m-%dT%H%M")


@task
def choose_worlds() -> list[int]:
    """The worlds of this run: validation seeds, or this version's sealed ones (claimed once)."""
    from adaptive_delivery.delivery.kpi import harness
    from adaptive_delivery.platform import protocol

    params = get_current_context()["params"]
    size, rules, scorer = _settings(params)
    n = int(params["worlds"])
    if not params["sealed"]:
        return list(protocol.VALIDATION_SEEDS[:n])
    _, seeds = harness.claim_sealed(size, _profile(params), rules, scorer, n,
                                    command=f"airflow: ad_kpi {get_current_context()['run_id']}")
    return seeds


@task(execution_timeout=timedelta(hours=4))
def run_world(seed: int) -> dict:
    """One world: history, its models, every sender's future (resumes where an earlier try stopped)."""
    from adaptive_delivery.delivery.kpi import harness
    from adaptive_delivery.delivery.kpi import senders as sd
    from pipelines.training import run_here

    params = get_current_context()["params"]
    size, rules, scorer = _settings(params)
    runner = deployment().pipeline_runner
    gate = harness.content_check(scorer, size)
    return harness.run_world(_out() / f"world-{seed}", seed, size, sd.designs(bool(params["ablations"]), gate is not None),
                             lambda spec, **kw: run_here(spec, runner, **kw), _profile(params), rules, gate)


@task
def report(results: list[dict]) -> dict:
    """Spec §11's table, the ablations and the breakdowns over the worlds; recorded on the timeline."""
    from dataclasses import asdict

    from adaptive_delivery.delivery.jobs import record
    from adaptive_delivery.delivery.kpi import report as kpi_report

    params = get_current_context()["params"]
    size, rules, _ = _settings(params)
    summary = kpi_report.summarise(list(results), size=asdict(size), rules=asdict(rules),
                                   seeds_kind="sealed" if params["sealed"] else "validation")
    json_file, html_file = kpi_report.write(summary, _out())
    met = {m: {n: line[n]["met"] for n in kpi_report.MAIN if n in line}
           for m, line in summary["section_11"].items() if "not_measured" not in line}
    adaptive = {m: v.get("adaptive") for m, v in met.items()}
    record(deployment(), "kpi", f"KPI over {summary['worlds']} worlds: adaptive meets "
                                f"{sum(bool(v) for v in adaptive.values())} of {len(adaptive)} measured targets",
           report=str(html_file), results=str(json_file), met=met)
    return {"report": str(html_file), "met": met}


@dag(dag_id="ad_kpi", schedule="@weekly", start_date=START, catchup=False, max_active_runs=1,
     default_args={**DEFAULT_ARGS, "execution_timeout": timedelta(hours=4)}, tags=["adaptive-delivery", "kpi"],
     doc_md=__doc__, dagrun_timeout=timedelta(hours=24),
     params={"worlds": Param(5, type="integer", minimum=1), "sealed": Param(False, type="boolean"),
             "subscribers": Param(10_000, type="integer", minimum=500),
             "history_days": Param(35, type="integer", minimum=8), "days": Param(28, type="integer", minimum=1),
             "change_provider": Param("gmail", type="string"), "profile": Param("", type="string"),
             "ablations": Param(True, type="boolean"), "content_scorer": Param("", type="string")})
def ad_kpi():
    report(run_world.expand(seed=choose_worlds()))


ad_kpi()
