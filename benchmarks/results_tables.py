"""The results tables and plots, rendered from `benchmarks/results/*.json` and nothing else.

The documentation site renders them at build time (`docs/hooks/results.py`: a page writes
`{{ results FILE TABLE }}` or `{{ plot FILE }}`), and the README's headline table is this module's
`headlines()` between two markers, rewritten by `python benchmarks/results_tables.py --readme`.
`tests/unit/test_docs.py` fails when the README's table differs from what the JSON gives, or when
a page cites a results file that does not exist. A figure is typed once: by the benchmark.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
README = REPO / "README.md"
HEADLINES_START = "<!-- headlines: rendered from benchmarks/results by benchmarks/results_tables.py -->"
HEADLINES_END = "<!-- /headlines -->"


class ResultsError(ValueError):
    """A page cites a results file or table that does not exist."""


def load(name: str) -> dict:
    path = RESULTS / name
    if not path.exists():
        raise ResultsError(f"no results file benchmarks/results/{name}")
    return json.loads(path.read_text())


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def num(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def provenance_line(data: dict) -> str:
    """Where a figure came from: the command, commit, date and machine recorded beside it."""
    prov = data.get("provenance")
    if not prov:
        return "*No provenance recorded in this file (written before benchmarks recorded it).*"
    m = prov.get("machine", {})
    changed = " (with uncommitted changes)" if prov.get("tree_changed") else ""
    made = data.get("produced_by")
    extra = ""
    if made:
        extra = " Produced at commit `{}` by: {}.".format(
            made.get("commit", "?"), "; ".join(f"`{c}`" for c in made.get("commands", [])))
    return (f"*`{prov.get('command')}` at commit `{str(prov.get('commit'))[:10]}`{changed}, "
            f"{str(prov.get('date'))[:10]}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
            f"Python {m.get('python')}.{extra}*")


# ---- one renderer per kind of results file -------------------------------------------------------

def simulator(data: dict, _: str) -> str:
    rows = [[f"{r['subscribers']:,} subscribers × {r['days']} days", f"{r['seconds']:.2f} s", num(r["events"]),
             num(r["events_per_second"])] for r in data["end_to_end"]]
    step = data["outcome_step"]
    return (table(["world", "wall time", "events written", "events/s"], rows) +
            f"\n\nThe vectorised outcome law evaluates {num(step['vectorised_msgs_per_s'])} messages/s against "
            f"{num(step['python_loop_msgs_per_s'])}/s for the same law in a Python loop "
            f"(**{step['speedup']:,.0f}×**); the same seed gives byte-identical output: "
            f"**{'yes' if data['deterministic'] else 'NO'}**.")


def bounce_parser(data: dict, _: str) -> str:
    ours, base = data["ours"], data["status_code_only_baseline"]
    names = {"outcome_class": "outcome class (hard / soft / block / complaint / …)",
             "reason": "reason (33-reason vocabulary)", "hard_bounce": "hard bounce flag",
             "reply_code": "SMTP reply code", "status": "enhanced status (RFC 3463)",
             "feedback_type": "feedback type (ARF)"}
    rows = [[label, pct(ours[k]), pct(base.get(k)) if k in base else ""] for k, label in names.items()]
    rows.append(["not-bounce messages refused", data["not_bounce_rejected"], ""])
    return (table(["field", "ours", "status-code-only baseline"], rows) +
            f"\n\n{data['verdicts']} expected verdicts; {data['messages_per_second']} messages/s on one core.")


def bounce_recipients(data: dict, _: str) -> str:
    labelled = data["flufl_bounce_test_messages"]
    fields = {"recipient_recall": ("recipient recall", pct), "exact_set_rate": ("exact set of recipients", pct),
              "wrong_addresses": ("wrong addresses", str), "refused_reports": ("bounces refused", str),
              "accepted_without_recipient": ("accepted with no recipient", str),
              "delay_warnings_read_as_delays": ("delay warnings read as delays", str),
              "messages_per_second": ("messages/s", num)}
    rows = [[label, fmt(labelled["ours"][k]), fmt(labelled["flufl_bounce"][k])] for k, (label, fmt) in fields.items()]
    out = (f"flufl.bounce's test messages ({labelled['ours']['files']} bounces, "
           f"{labelled['ours']['expected_recipients']} failed recipients, "
           f"{labelled['ours']['delay_warnings']} delay warnings):\n\n" + table(["", "ours", "flufl.bounce"], rows))
    if "sisimai_set_of_emails" in data:
        c = data["sisimai_set_of_emails"]
        keys = {"refused_reports": "reports refused", "reports_without_address": "reports with no address",
                "reports_with_as_many_addresses_as_verdicts": "as many addresses as expected verdicts",
                "messages_per_second": "messages/s"}
        rows = [[label, num(c["ours"][k]), num(c["flufl_bounce"][k])] for k, label in keys.items()]
        out += (f"\n\nsisimai/set-of-emails ({c['reports']} reports, {c['verdicts']} verdicts; its labels count "
                f"failed recipients but do not name them):\n\n" + table(["", "ours", "flufl.bounce"], rows) +
                f"\n\nWhere both name recipients ({c['both_name_some']} reports), they name the same set in "
                f"{c['same_addresses_where_both_name_some']}.")
    return out


def ingest_scaling(data: dict, _: str) -> str:
    rows = []
    for key, label in (("recipients", "recipients in one DSN"), ("line_length", "characters in one line of dashes")):
        c = data[key]
        rows += [[label, f"{n:,}", f"{t * 1000:.1f} ms"] for n, t in zip(c["sizes"], c["seconds"], strict=True)]
    r, line = data["recipients"], data["line_length"]
    return (table(["input grows in", "size", "parse time"], rows, "lrr") +
            f"\n\nDoubling the largest input multiplies the time by {r['doubling_ratio']:.2f} (recipients) and "
            f"{line['doubling_ratio']:.2f} (line length): linear (a quadratic parser would give about 4); "
            f"{r['seconds_per_unit'] * 1000:.2f} ms per recipient. Fastest of {data['repeats']} runs each.")


def plot_ingest_scaling(data: dict) -> bytes:
    plt, fig, ax = _figure()
    for key, label in (("recipients", "recipients (x 1)"), ("line_length", "line length (x 1/25)")):
        c = data[key]
        scale = 1 if key == "recipients" else 1 / 25
        ax.plot([n * scale for n in c["sizes"]], [t * 1000 for t in c["seconds"]], marker="o", label=label)
    ax.set_xlabel("input size")
    ax.set_ylabel("parse time (ms)")
    ax.legend(loc="upper left")
    return _png(plt, fig)


def feature_build(data: dict, _: str) -> str:
    rows = [[f"{s['subscribers']:,} subscribers × {s['days']} days", num(s["events"]),
             f"{s['spark_seconds']} s ({num(s['spark_events_per_s'])} ev/s)",
             f"{s['pandas_seconds']} s ({num(s['pandas_events_per_s'])} ev/s)", f"{s['pandas_over_spark_time']:.2f}"]
            for s in data["sizes"]]
    g = data["cost_growth"]
    return (table(["lake", "events", "Spark", "pandas (single node)", "pandas time / Spark time"], rows) +
            f"\n\n{g['events_ratio']}× more events cost Spark {g['spark_time_ratio']}× more time and the "
            f"single-node reference {g['pandas_time_ratio']}×; Spark's one-off JVM warm-up "
            f"({data['spark_warmup_seconds']} s) is excluded.")


def online_read(data: dict, _: str) -> str:
    rows = []
    for store, label in (("sqlite", "SQLite (local profile)"), ("redis", "Redis on 127.0.0.1")):
        if store in data:
            one, many = data[store]["one_entity"], data[store]["thousand_entities"]
            rows.append([label, f"{one['p50_ms']:.2f} / {one['p99_ms']:.2f} ms",
                         f"{many['p50_ms']:.0f} / {many['p99_ms']:.0f} ms"])
    return table(["online store", "1 entity p50 / p99", "1,000 entities p50 / p99"], rows)


MDL001_ROWS = [("macro ROC-AUC", "macro_roc_auc"), ("ROC-AUC inbox", "roc_auc_inbox"), ("ROC-AUC spam", "roc_auc_spam"),
               ("ROC-AUC soft bounce", "roc_auc_soft_bounce"), ("ROC-AUC hard bounce", "roc_auc_hard_bounce"),
               ("ROC-AUC block", "roc_auc_block"), ("macro F1", "macro_f1"),
               ("expected calibration error", "ece"), ("log loss", "log_loss")]


def mdl001(data: dict, _: str) -> str:
    rows = [[label, f"{data['model'][k]:.3f}", f"{data['oracle'][k]:.3f}", f"{data['clairvoyant'][k]:.3f}"]
            for label, k in MDL001_ROWS]
    w = data["world"]
    share = w.get("placement_observed_share", 1.0)
    seen = f"placement seen for {share:.0%} of subscribers" if share < 1 else "placement seen for all accepted mail"
    return (f"World: {w['subscribers']:,} subscribers, {w['days']} days, seed {w['seed']}, {seen}; "
            f"{num(data['rows_train'])} training rows, {num(data['rows_holdout'])} held-out rows "
            f"(last {w['holdout_days']} days), profile `{data['profile']}`.\n\n" +
            table(["holdout metric", "MDL-001", "oracle", "clairvoyant"], rows) +
            f"\n\nGap to the oracle: **{data['macro_roc_auc_gap']:.3f}** macro ROC-AUC (target ≤ 0.03); "
            f"calibration error {data['model']['ece']:.3f} (target ≤ 0.01). Gate: `{data['verdict']}`.")


MDL003_POLICIES = {"static": "static (spec §6.2)", "kumomta": "KumoMTA (as shipped)",
                   "kumomta+rates": "KumoMTA + per-provider rates", "aimd": "AIMD",
                   "bandit": "contextual bandit (online)", "ppo": "**PPO (MDL-003)**",
                   "oracle": "oracle (knows the hidden limit)"}


def mdl003(data: dict, which: str) -> str:
    if which == "per-provider":
        rows = []
        for provider, policies in data["per_provider"].items():
            ppo, oracle = policies["ppo"], policies["oracle"]
            rows.append([provider, num(policies["kumomta+rates"]["delivered_per_hour"]),
                         num(policies["bandit"]["delivered_per_hour"]), num(ppo["delivered_per_hour"]),
                         num(oracle["delivered_per_hour"]), pct(ppo["oracle_share"]),
                         pct(ppo["rate_block_rate"], 3)])
        return table(["provider", "KumoMTA + rates", "bandit", "PPO", "oracle", "PPO share of oracle",
                      "PPO speed-caused blocks"], rows)
    rows = [[MDL003_POLICIES.get(p, p), num(m["delivered_per_hour"]), pct(m["block_rate"], 2),
             pct(m["rate_block_rate"], 3), pct(m["deferral_rate"], 2), pct(m["complaint_rate"], 3),
             f"{m['reputation_end']:.1f}", pct(m["oracle_share"])] for p, m in data["overall"].items()]
    t = data["targets"]
    return (f"{len(data['seeds'])} held-out seeds × 8 providers, {data['days']:g} days; PPO trained for "
            f"{num(data['training']['timesteps'])} steps (one training run).\n\n" +
            table(["policy", "delivered/hour", "all blocks", "speed-caused blocks", "deferrals", "complaints",
                   "reputation at end", "share of oracle"], rows) +
            f"\n\nTargets: throughput **{t['throughput_gain_vs_kumomta']:+.0%}** over KumoMTA + rates "
            f"(≥ +20%: {'met' if t['gain_target_met'] else 'missed'}); speed-caused blocks "
            f"**{pct(t['rate_block_rate'], 3)}** (< 0.1%: {'met' if t['block_target_met'] else 'missed'}); "
            f"**{pct(t['oracle_share'])}** of the oracle (≥ 90%: {'met' if t['oracle_target_met'] else 'missed'}).")


def mdl009(data: dict, _: str) -> str:
    rows = [[r["audience"], r["policy"],
             "never" if r["days_to_full_median"] is None else f"{r['days_to_full_median']:g}",
             pct(r["reached_share"], 0), f"{r['block_event_days']:g}", f"{r['pause_days']:g}",
             f"{r['reputation_damage']:.1f}", f"{r['reputation_end']:.1f}", f"{r['delivered_total'] / 1e6:.2f} M"]
            for r in data["table"]]
    return (f"{len(data['seeds'])} held-out new IPs per list, {data['days']} days; PPO trained for "
            f"{num(data['training']['timesteps'])} steps (one training run).\n\n" +
            table(["list", "policy", "median days to full", "IPs at full", "block-event days", "pause days",
                   "reputation lost", "reputation at end", f"delivered in {data['days']} days"], rows, "ll" + "r" * 7))


def ci(i: dict, fmt: Callable[[float], str]) -> str:
    """Mean [95% interval] of a protocol.Interval record."""
    if i.get("low") is None or i["low"] != i["low"]:  # one world: no interval
        return fmt(i["mean"])
    return f"{fmt(i['mean'])} [{fmt(i['low'])}, {fmt(i['high'])}]"


def _sealed_intro(data: dict, unit: str) -> str:
    runs = data["training_runs"]
    steps = sorted({t["timesteps"] for t in data["training"]})
    return (f"Sealed worlds {data['seeds'][0]}–{data['seeds'][-1]} ({len(data['seeds'])} {unit}, {data['days']:g} day{'' if data['days'] == 1 else 's'}), "
            f"used once by version `{data['version']}` ({data['sealed_use']['date'][:10]}); PPO: {runs} training runs of "
            f"{', '.join(num(s) for s in steps)} steps. Mean [95% interval] over worlds, and for PPO over runs × worlds.")


def mdl003_sealed(data: dict, _: str) -> str:
    shown = list(data["intervals"])
    rows = [[MDL003_POLICIES.get(p, p), ci(m["delivered_per_hour"], num), ci(m["rate_block_rate"], lambda x: pct(x, 3)),
             ci(m["block_rate"], lambda x: pct(x, 2)), ci(m["gain_vs_best_rule"], lambda x: f"{x:+.0%}"),
             ci(m["oracle_share"], pct)] for p in shown for m in [data["intervals"][p]]]
    t = data["targets"]
    verdict = (f"Targets against the best rule (**{t['best_rule']}**): throughput "
               f"**{t['throughput_gain_vs_best_rule']:+.0%}** (≥ +20%: {'met' if t['gain_target_met'] else 'missed'}); "
               f"speed-caused blocks **{pct(t['rate_block_rate'], 3)}** (< 0.1%: "
               f"{'met' if t['block_target_met'] else 'missed'}); **{pct(t['oracle_share'])}** of the oracle "
               f"(≥ 90%: {'met' if t['oracle_target_met'] else 'missed'}).")
    return (_sealed_intro(data, "worlds × 8 providers") + "\n\n" +
            table(["policy", "delivered/hour", "speed-caused blocks", "all blocks", "vs best rule", "share of oracle"], rows)
            + "\n\n" + verdict)


def mdl009_sealed(data: dict, _: str) -> str:
    rows = []
    for audience, policies in data["intervals"].items():
        for policy, m in policies.items():
            rows.append([audience, policy, ci(m["days_to_full"], lambda x: f"{x:.1f}"),
                         ci(m["days_vs_best_rule"], lambda x: f"{x:+.1f}"), ci(m["block_event_days"], lambda x: f"{x:.1f}"),
                         ci(m["pause_days"], lambda x: f"{x:.1f}"), ci(m["delivered_total"], lambda x: f"{x / 1e6:.2f} M")])
    t = data["targets"]
    verdicts = "; ".join(
        f"{a}: PPO {v['days_to_full']:.1f} days vs {v['best_rule_days_to_full']:.1f} "
        f"({'fewer' if v['days_target_met'] else 'not fewer'}), block-event days "
        f"{v['block_days_vs_best_rule']['mean']:+.1f} ({'no more' if v['block_target_met'] else 'more'})"
        for a, v in t.items() if isinstance(v, dict))
    return (_sealed_intro(data, "new IPs per list") + " An IP that never reaches full capacity counts "
            f"{data['days'] + 1} days.\n\n" +
            table(["list", "policy", "days to full", "vs best railed rule", "block-event days", "pause days",
                   f"delivered in {data['days']} days"], rows, "ll" + "r" * 5) +
            f"\n\nAgainst the best railed rule (**{t['best_railed_rule']}**): {verdicts}. "
            f"Target {'met' if t['all_met'] else 'missed'}.")


def mdl001_sealed(data: dict, _: str) -> str:
    f3 = "{:.3f}".format
    found = data["intervals"]
    rows = [[label, ci(found[k]["model"], f3), ci(found[k]["oracle"], f3), ci(found[k]["gap"], f3)]
            for label, k in MDL001_ROWS if k in found]
    w, t = data["world"], data["targets"]
    gap, ece = t["gap_to_oracle"], t["ece"]
    return (f"Sealed worlds {', '.join(map(str, data['seeds']))} ({len(data['seeds'])} worlds of {w['subscribers']:,} "
            f"subscribers × {w['days']} days, the last {w['holdout_days']} held out), each trained on by the recipe "
            f"(profile `{data['profile']}`), used once by version `{data['version']}` "
            f"({data['sealed_use']['date'][:10]}). Mean [95% interval] over worlds; the gap is taken world by world.\n\n"
            + table(["holdout metric", "MDL-001", "oracle", "gap (oracle − MDL-001)"], rows) +
            f"\n\nGap to the oracle **{ci(gap, f3)}** macro ROC-AUC (target ≤ {gap['target']}: "
            f"{'met' if gap['met'] else 'missed'}); calibration error **{ci(ece, f3)}** (target ≤ {ece['target']}: "
            f"{'met' if ece['met'] else 'missed'}).")


MDL005_ROWS = [("P(open) ROC-AUC", "open_roc_auc"), ("P(open) calibration error", "open_ece"),
               ("P(open) log loss", "open_log_loss"), ("P(click) ROC-AUC", "click_roc_auc"),
               ("P(click) calibration error", "click_ece"), ("P(click) log loss", "click_log_loss")]


def mdl005_sealed(data: dict, _: str) -> str:
    f3 = "{:.3f}".format
    found = data["intervals"]
    rows = [[label, ci(found[k]["model"], f3), ci(found[k]["baseline"], f3), ci(found[k]["oracle"], f3),
             ci(found[k]["gap"], f3)] for label, k in MDL005_ROWS if k in found]
    w, gap = data["world"], data["targets"]["gap_to_oracle"]
    over = found["open_roc_auc"]["over_baseline"]
    return (f"Sealed worlds {', '.join(map(str, data['seeds']))} ({len(data['seeds'])} worlds of {w['subscribers']:,} "
            f"subscribers × {w['days']} days, the last {w['holdout_days']} days of matured labels held out), each "
            f"trained on by the recipe (profile `{data['profile']}`), used once by version `{data['version']}` "
            f"({data['sealed_use']['date'][:10]}). Accepted messages; a click counts as an open. Mean [95% interval] "
            "over worlds; differences are taken world by world.\n\n"
            + table(["holdout metric", "MDL-005", "best rule (own 30-day rates)", "oracle", "gap (oracle − MDL-005)"],
                    rows) +
            f"\n\nOpen ROC-AUC over the best rule **{ci(over, lambda x: f'{x:+.3f}')}**; gap to the oracle "
            f"**{ci(gap, f3)}** (target ≤ {gap['target']}: {'met' if gap['met'] else 'missed'}).")


MDL005_CEILING_ROWS = {"model": "MDL-005", "best_rule": "best rule: the person's own 30-day open rate",
                       "ceiling": "history-bound ceiling (Bayes-optimal from the person's own history)",
                       "oracle": "records oracle (knows the person's propensity)"}


def mdl005_ceiling(data: dict, _: str) -> str:
    f3 = "{:.3f}".format
    found = data["intervals"]
    rows = [[label, ci(found[k], f3)] for k, label in MDL005_CEILING_ROWS.items()]
    w = data["world"]
    return (f"{data['worlds'].capitalize()} worlds {', '.join(map(str, data['seeds']))} ({w['subscribers']:,} "
            f"subscribers × {w['days']} days; the models of evaluation `{data['evaluation']}`). P(open) ROC-AUC on "
            "each world's holdout, mean [95% interval] over worlds.\n\n"
            + table(["P(open) from", "ROC-AUC"], rows) +
            f"\n\nCeiling − MDL-005 **{ci(found['ceiling_minus_model'], f3)}**; oracle − ceiling "
            f"**{ci(found['oracle_minus_ceiling'], f3)}**.")


MDL002_CANDIDATES = {"campaign_hour": "the campaign's best hour (the hour most of its audience opens in), everyone at once",
                     "most_frequent_open_hour": "each person's most frequent past open hour (the best rule)",
                     "mdl005_by_hour": "MDL-005 asked for each hour (gradient-boosted trees over the send hour)",
                     "stage1": "MDL-002 stage 1 (a person's hours, smoothed, with the hour's weight learned)",
                     "history_ceiling": "history-bound ceiling (Bayes-optimal from a person's own history)",
                     "oracle": "oracle: each person's true best hour"}


def mdl002_send_time(data: dict, which: str) -> str:
    if which == "sweep":
        rows = [[w, ci(i, lambda x: f"{x:+.1%}")] for w, i in data["hour_weight_sweep"].items()]
        fitted = ", ".join(f"{w:.3f}" for w in data["stage1_fitted_hour_weight"])
        return (f"Stage 2 ranking by stage 1 with each hour weight, same worlds and campaign; the weights the "
                f"training fitted: {fitted}.\n\n" + table(["hour weight", "open rate over random"], rows))
    lift, share, mae = data["lift_over_random"], data["share_of_oracle_lift"], data.get("mae", {})
    rows = [[label, ci(lift[k], lambda x: f"{x:+.1%}"), ci(share[k], pct) if k in share else "100%",
             ci(mae[k], "{:.3f}".format) if k in mae else "—"]
            for k, label in MDL002_CANDIDATES.items() if k in lift]
    w = data["world"]
    flat = f" The person's open rate at every hour is off by {ci(mae['open_rate'], '{:.3f}'.format)}." \
        if "open_rate" in mae else ""
    return (f"Validation worlds {', '.join(map(str, data['seeds']))} ({w['subscribers']:,} subscribers × {w['days']} "
            f"days); one campaign per world: every subscriber's latest held-out marketing message; every "
            f"per-person schedule holds at most {data['max_hour_share']:.0%} of the campaign in one hour. Expected "
            f"human open rate by the twin's truth; random hour "
            f"{ci(data['open_rate_random'], lambda x: f'{x:.1%}')}. The last column: how far a candidate's P(open) "
            f"by hour is from the truth (mean absolute error over the 24 hours).{flat} Mean [95% interval] over "
            "worlds.\n\n"
            + table(["send hour chosen by", "open rate over random", "share of the oracle's lift",
                     "P(open) by hour, error"], rows))


MDL002_LOOP = {"as_planned": "each sender's usual hour, as planned (no cap)",
               "usual_hour_capped": "the usual hour, spread to its nearest hours under the cap",
               "random": "a random hour", "campaign_hour": "the campaign's best hour (spec §3.3's baseline)",
               "most_frequent_open_hour": "each person's most frequent past open hour (the best rule)",
               "mdl002": "MDL-002", "oracle": "oracle: each person's true P(open) by hour"}


def mdl002_in_loop(data: dict, _: str) -> str:
    rate, lift, share = data["expected_open_rate"], data["lift_over_random"], data["share_of_oracle_lift"]
    rows = [[label, ci(rate[k], lambda x: f"{x:.2%}"), ci(lift[k], lambda x: f"{x:+.1%}"), ci(share[k], pct),
             ci(data["accepted_rate"][k], lambda x: f"{x:.1%}")] for k, label in MDL002_LOOP.items()]
    w = data["world"]
    over = data["mdl002_over_best_rule"]
    return (f"Validation worlds {', '.join(map(str, data['seeds']))} ({w['subscribers']:,} subscribers), each "
            f"simulated again up to its holdout's first day and then {data['loop_days']} more days once per "
            f"candidate, every campaign message sent at the hour the candidate gave it (at most "
            f"{data['max_hour_share_cap']:.0%} of a campaign in one hour, except as planned). Opens per campaign "
            "message sent, expected by the twin given where each message went (blocks and the spam folder "
            "count); mean [95% interval] over worlds.\n\n"
            + table(["send hour chosen by", "opens per message sent", "over random", "share of the oracle's lift",
                     "accepted"], rows) +
            f"\n\nMDL-002 − the best rule: **{ci(over, lambda x: f'{100 * x:+.2f}')}** points of open rate.")


def mdl002_sealed(data: dict, _: str) -> str:
    found = data["intervals"]
    f3 = "{:.3f}".format
    signed = lambda x: f"{x:+.1%}"  # noqa: E731
    rows = [[label, *(ci(found[k][who], fmt) for who in ("model", "baseline", "oracle"))]
            for label, k, fmt in (("open rate over a random hour", "schedule_lift", signed),
                                  ("open rate over the campaign's best hour", "lift_over_campaign_hour", signed),
                                  ("share of the oracle's lift", "share_of_oracle_lift", pct),
                                  ("largest share of the campaign in one hour", "max_hour_share", pct),
                                  ("P(open) ROC-AUC at the hour sent", "open_roc_auc", f3),
                                  ("P(open) calibration error at the hour sent", "open_ece", f3)) if k in found]
    w = data["world"]
    share = found["share_of_oracle_lift"]["model"]
    over = found["schedule_lift"]["over_baseline"]
    return (f"Sealed worlds {', '.join(map(str, data['seeds']))} ({len(data['seeds'])} worlds of {w['subscribers']:,} "
            f"subscribers × {w['days']} days, the last {w['holdout_days']} days of matured labels held out), each "
            f"trained on by the recipe (profile `{data['profile']}`), used once by version `{data['version']}` "
            f"({data['sealed_use']['date'][:10]}). One campaign per world (every subscriber's newest held-out "
            "marketing message), valued by the twin's truth. Mean [95% interval] over worlds.\n\n"
            + table(["", "MDL-002", "best rule (most frequent open hour)", "oracle"], rows) +
            f"\n\nOver the best rule: **{ci(over, lambda x: f'{100 * x:+.2f}')}** points of lift; share of the "
            f"oracle's lift **{ci(share, pct)}** (target ≥ 90%: {'met' if share['mean'] >= 0.9 else 'missed'}).")


MDL006_ORDERINGS = {"sunset": "sunset rule: longest without an open first",
                    "oracle_blind_to_complainers": "oracle blind to the habitual-complainer trait",
                    "oracle": "oracle: most complaints above the target per open lost first"}


def mdl006_suppression(data: dict, _: str) -> str:
    lost, rate = data["opens_lost_at_target"], data["rate_at_10pct_opens_lost"]
    rows = [[label, ci(lost[k], pct), ci(rate[k], lambda x: pct(x, 3))] for k, label in MDL006_ORDERINGS.items()]
    w = data["world"]
    return (f"Validation worlds {', '.join(map(str, data['seeds']))} ({w['subscribers']:,} subscribers × {w['days']} "
            f"days); the last {w['holdout_days']} days' accepted mail, valued by the twin's law; complaint rate per "
            f"message with nobody suppressed {ci(data['complaint_rate'], lambda x: pct(x, 3))}. "
            "Mean [95% interval] over worlds (100% opens lost: the target is not reached before everyone is "
            "suppressed).\n\n"
            + table(["suppressing, riskiest first, by", f"opens lost to reach < {pct(data['target_complaint_rate'], 2)}",
                     "complaint rate at 10% of opens lost"], rows))


def mdl006_in_loop(data: dict, _: str) -> str:
    """MDL-006's policy and frontier in the sending loop beside the sunset rule's and the oracle's."""
    rate, unsub, lost = data["expected_complaint_rate"], data["expected_unsubscribe_rate"], data["opens_lost"]
    equal = data["mdl006_minus_sunset_at_equal_opens_lost"]
    per_message = lambda x: pct(x, 3)  # noqa: E731
    rows = []
    for name in rate:
        label = (name.replace("sunset_", "sunset: no open for ") + " days" if name.startswith("sunset_") else
                 name.replace("mdl006_q", "MDL-006: the riskiest ").replace("oracle_q", "oracle: the worst ") + "%"
                 if name.startswith(("mdl006_q", "oracle_q")) else
                 {"none": "nobody suppressed", "mdl006_policy": "**MDL-006's policy as shipped**"}[name])
        versus = ci(equal[name], lambda x: f"{1e5 * x:+.1f}") if name in equal else ""
        rows.append([label, ci(rate[name], per_message), ci(unsub[name], per_message), ci(lost[name], pct), versus,
                     f"{data['reaches_target'][name]:.0%}"])
    w = data["world"]
    return (f"{data['worlds'].capitalize()} worlds {', '.join(map(str, data['seeds']))} ({w['subscribers']:,} "
            f"subscribers), each simulated again up to its holdout's first day and then {data['loop_days']} more "
            "days once per candidate, the candidate choosing each morning which marketing messages go out "
            "(transactional mail always goes). Complaints and unsubscribes per message sent, as the twin's law "
            "expects them on what was sent; opens lost against nobody suppressed; mean [95% interval] over worlds. "
            "\"vs sunset\" is the candidate's complaint rate minus the sunset rule's at the same opens lost, in "
            "complaints per 100,000 messages (negative: fewer complaints). Dropping even one message reshuffles the "
            "rest of the day's random draws in the twin, so opens lost within a few points of zero are noise.\n\n"
            + table(["suppressing", "complaints / message", "unsubscribes / message", "opens lost",
                     "vs sunset (per 100k)",
                     f"worlds under {pct(data['target_complaint_rate'], 2)}"], rows))


def mdl010_label(name: str) -> str:
    """A loop candidate's name as a reader reads it."""
    if name.startswith("rule_"):
        _, sunset, hold = name.split("_")
        parts = ["one hard bounce"] + ([f"sunset {sunset} days"] if sunset != "inf" else []) + \
            ([f"hold {hold} days after a soft bounce"] if hold != "0" else [])
        return "rule: " + ", ".join(parts)
    if name.startswith("mdl010_q"):
        return f"MDL-010: one hard bounce, hold the riskiest {name.removeprefix('mdl010_q')}%"
    if name.startswith("mdl010_h"):
        hard, soft = name.removeprefix("mdl010_h").split("_s")
        return f"MDL-010's policy: suppress at P(hard) ≥ {hard}, hold at P(soft) ≥ {soft}"
    return {"none": "the world's sender (stops after three hard bounces)", "mdl010_policy": "**MDL-010's policy as shipped**",
            "oracle": "oracle: holds exactly the dead and full addresses"}[name]


def mdl010_in_loop(data: dict, _: str) -> str:
    """MDL-010's policy and frontier in the sending loop beside the rules' and the oracle's."""
    versus = data["mdl010_minus_rule_at_equal_bounce_rate"]
    rows = []
    for name in data["bounce_rate"]:
        gap = versus.get(name, {}).get("difference") if name in versus else None
        rows.append([mdl010_label(name), ci(data["bounce_rate"][name], lambda x: pct(x, 2)),
                     ci(data["hard_bounce_rate"][name], lambda x: pct(x, 2)), ci(data["trap_hits"][name], "{:.1f}".format),
                     ci(data["good_withheld"][name], "{:.0f}".format), ci(data["opens_lost"][name], pct),
                     ci(gap, "{:+.0f}".format) if gap else ("no rule got there" if name in versus else ""),
                     f"{data['reaches_target'][name]:.0%}"])
    w = data["world"]
    return (f"{data['worlds'].capitalize()} worlds {', '.join(map(str, data['seeds']))} ({w['subscribers']:,} "
            f"subscribers), each simulated again up to its holdout's first day and then {data['loop_days']} more "
            "days once per candidate, the candidate choosing each morning which marketing messages go out "
            "(transactional mail always goes). Bounces (hard and soft) per message sent, spam-trap hits, good "
            "addresses withheld (alive, not a trap, mailbox not full, and at least one marketing message held back) "
            "and opens lost against the world's own sender; mean [95% interval] over worlds. \"vs the rule\" is, "
            "world by world, the good addresses the candidate withheld minus the fewest any rule withheld to reach "
            f"the candidate's bounce rate (negative: fewer). Cheapest under {pct(data['target_bounce_rate'], 0)}: "
            f"rule `{data['cheapest_rule_under_target']}`, MDL-010 `{data['cheapest_mdl010_under_target']}`.\n\n"
            + table(["candidate", "bounces / message", "hard bounces / message", "trap hits", "good addresses withheld",
                     "opens lost", "vs the rule", f"worlds under {pct(data['target_bounce_rate'], 0)}"], rows))


MDL008_GROUPINGS = {"ari": "MDL-008", "ari_rule_mx": "rule: the MTA's MX groups", "ari_rule_category": "rule: the catalogue's category"}


def _mdl008_change_rows(change: dict) -> list[list[str]]:
    return [[p, f"{c['flagged_within_week']:.0%} of {c['worlds']}", ci(c["days_to_flag"], "{:.1f}".format),
             ci(c["false_flag_share"], pct)] for p, c in change.items()]


def mdl008_validation(data: dict, _: str) -> str:
    """MDL-008's choices on validation worlds: k against the hidden classes, and the change
    test's window."""
    k_rows = [[k, ci(g["ari"], "{:.3f}".format), f"{g['silhouette_training']:.3f}"] for k, g in data["k_grid"].items()]
    rules = next(iter(data["k_grid"].values()))
    w_rows = []
    for w, g in data["window_grid"].items():
        a = g["all"]
        w_rows.append([f"{w} days", f"{g['threshold']:.2f}", f"{a['flagged_within_week']:.0%}",
                       ci(a["days_to_flag"], "{:.1f}".format), ci(a["false_flag_share"], pct)])
    chosen = data["chosen"]
    return (f"Validation worlds {', '.join(map(str, data['seeds']))} ({data['subscribers']:,} subscribers); the model "
            f"trained on {len(data['training_worlds'])} training worlds of {data['training_days']} days. Adjusted Rand "
            "index (ARI) of the domains' groups over each world's first 14 days against the providers' hidden "
            f"classes, mean [95% interval] over worlds; the MTA's MX groups score {ci(rules['ari_rule_mx'], '{:.3f}'.format)}"
            f", the catalogue's category {ci(rules['ari_rule_category'], '{:.3f}'.format)}. The silhouette (on the "
            "training profiles, needing no labels) is shown for comparison: it would choose another k.\n\n"
            + table(["clusters (k)", "ARI vs hidden classes", "silhouette (training)"], k_rows)
            + "\n\nThe change test by window: each of gmail, yahoo, outlook and apple in turn tightens its filter "
            "on day 14 of each world (inbox logit −1.5); the share of those changes flagged within 7 days, the days "
            "it took, and the share of the seven unchanged providers flagged in the same week.\n\n"
            + table(["window", "threshold", "changes flagged within a week", "days to flag", "others flagged"], w_rows)
            + f"\n\nChosen: k = {chosen['k']}, a {chosen['window_days']}-day window (in use: k = "
            f"{data['in_use']['k']}, {data['in_use']['window_days']} days).")


def mdl008_sealed(data: dict, _: str) -> str:
    """MDL-008's headline: its groups against the operators' and the hidden classes, and the change
    test per changed provider."""
    g = data["grouping"]
    rows = [[MDL008_GROUPINGS[k], ci(g[k], "{:.3f}".format)] for k in MDL008_GROUPINGS]
    use = data["sealed_use"]
    return (f"Sealed worlds {data['seeds'][0]}–{data['seeds'][-1]} ({len(data['seeds'])} worlds), used once by version "
            f"`{data['version']}` ({use['date'][:10]}); mean [95% interval] over worlds. The model's six groups: "
            + "; ".join(data["clusters"]) + ".\n\n"
            + table(["grouping", "ARI vs the hidden classes"], rows)
            + f"\n\nGain over the best rule ({MDL008_GROUPINGS['ari_rule_' + data['best_rule']]}), world by world: "
            f"{ci(data['gain_over_best_rule'], '{:+.3f}'.format)}.\n\n"
            f"The change test ({data['window_days']}-day windows, threshold {data['change_threshold']:.2f}), each "
            "provider's filter tightening on day 14 in each world:\n\n"
            + table(["changed provider", "flagged within a week", "days to flag", "unchanged providers flagged"],
                    _mdl008_change_rows(data["change"])))


def plot_mdl008_validation(data: dict) -> bytes:
    """ARI against k with its interval, the rules as lines, the silhouette beside it."""
    plt, fig, ax = _figure()
    ks = [int(k) for k in data["k_grid"]]
    g = [data["k_grid"][str(k)] for k in ks]
    mean = [x["ari"]["mean"] for x in g]
    err = [[m - x["ari"]["low"] for m, x in zip(mean, g, strict=True)],
           [x["ari"]["high"] - m for m, x in zip(mean, g, strict=True)]]
    ax.errorbar(ks, mean, yerr=err, fmt="o-", capsize=3, label="MDL-008 (ARI vs hidden classes)")
    ax.plot(ks, [x["silhouette_training"] for x in g], "s--", label="silhouette on training profiles")
    ax.axhline(g[0]["ari_rule_mx"]["mean"], color="grey", linestyle="--", label="rule: MX groups")
    ax.axhline(g[0]["ari_rule_category"]["mean"], color="grey", linestyle=":", label="rule: catalogue category")
    ax.set_xlabel("clusters (k)")
    ax.set_ylabel("score")
    ax.legend(fontsize=7)
    return _png(plt, fig)


MDL004_SCORERS = {"model": "MDL-004", "heuristic": "heuristic (bounce, complaint, engagement, blocks)",
                  "oracle": "oracle: the hidden reputation"}


def within(i: dict, low: float = 0.0, high: float = 1.0) -> dict:
    """An interval of a bounded quantity (an AUC, a share) kept inside its bounds (a t-interval over
    five worlds can cross them)."""
    if i.get("low") is None or i["low"] != i["low"]:
        return i
    return {**i, "low": max(i["low"], low), "high": min(i["high"], high)}


def mdl004(data: dict, _: str) -> str:
    """MDL-004 beside the tuned heuristic and the hidden-reputation oracle (validation or sealed)."""
    s = {k: within(v, -1.0 if k.startswith("spearman") else 0.0, 1.0)
         if k.startswith(("block_event_auc", "listing_auc", "spearman", "false_alert")) else v
         for k, v in data["summary"].items()}
    f3 = "{:.3f}".format
    rows = []
    for key, label in MDL004_SCORERS.items():
        spearman = ci(s[f"spearman_{key}"], f3) if f"spearman_{key}" in s else "1 (itself)"
        warning = ci(at_least_zero(s[f"warning_hours_{key}"]), "{:.1f}".format) if f"warning_hours_{key}" in s else "—"
        alerts = ci(s[f"false_alert_share_{key}"], pct) if f"false_alert_share_{key}" in s else "—"
        rows.append([label, ci(s[f"block_event_auc_{key}"], f3), ci(s[f"listing_auc_{key}"], f3), spearman,
                     warning, alerts])
    if "sealed_use" in data:
        head = (f"Sealed worlds {data['seeds'][0]}–{data['seeds'][-1]} ({len(data['seeds'])} worlds of 28 days), used "
                f"once by version `{data['version']}` ({data['sealed_use']['date'][:10]})")
        weights = data["heuristic"]["weights"]
    else:
        head = f"Validation worlds {', '.join(map(str, data['seeds']))} (28 days each)"
        weights = data["chosen"]["heuristic_weights"]
    terms = ", ".join(f"{k} × {v:g}" for k, v in weights.items())
    return (f"{head}; mean [95% interval] over worlds, {s['listings']['mean']:.0f} listings a world on average. "
            "ROC-AUC for a new block event in the next 24 hours (over unit-hours with none in the past 24) and for a "
            "new listing (over unit-hours not listed); Spearman's correlation of the health score with the hidden "
            "reputation at each day's end; the median hours of unbroken alert before a listing, and the share of "
            "quiet unit-hours that alert.\n\n"
            + table(["scorer", "block event ROC-AUC", "listing ROC-AUC", "Spearman vs hidden reputation",
                     "hours of warning", "quiet hours alerting"], rows)
            + f"\n\nMDL-004 minus the heuristic, world by world: block events "
            f"{ci(s['block_event_gain_over_heuristic'], '{:+.3f}'.format)}, listings "
            f"{ci(s['listing_gain_over_heuristic'], '{:+.3f}'.format)}, warning "
            f"{ci(s['warning_gain_hours'], '{:+.1f}'.format)} hours{_equal_alerts(s)}. The heuristic's weights "
            f"(chosen on validation worlds): {terms}." + _mdl004_grid(data))


def _mdl004_grid(data: dict) -> str:
    """The validation's choice of training worlds and learners."""
    if "grid" not in data:
        return ""
    f3 = "{:.3f}".format
    rows = [[key, ci(within(g["block_event_auc_model"]), f3), ci(within(g["listing_auc_model"]), f3),
             ci(within(g["spearman_model"], -1.0), f3), ci(at_least_zero(g["warning_hours_model_equal_alerts"]),
                                                           "{:.1f}".format),
             ci(within(g["false_alert_share_model"]), pct)] for key, g in data["grid"].items()]
    return ("\n\nThe model's choices: how many training worlds, and each head's learners (both averaged, or one "
            "alone); the table above is the model in use.\n\n"
            + table(["training worlds, learners", "block event ROC-AUC", "listing ROC-AUC", "Spearman",
                     "hours of warning at equal alerts", "quiet hours alerting"], rows)
            + f"\n\nChosen: {data['chosen']['model']} (in use: {data['in_use']['model']}).")


def _equal_alerts(s: dict) -> str:
    if "warning_gain_hours_equal_alerts" not in s:
        return ""
    return (f" (at an equal false-alert rate, each alerting on 10% of the world's quiet unit-hours: MDL-004 "
            f"{ci(at_least_zero(s['warning_hours_model_equal_alerts']), '{:.1f}'.format)}, the heuristic "
            f"{ci(at_least_zero(s['warning_hours_heuristic_equal_alerts']), '{:.1f}'.format)}, a difference of "
            f"{ci(s['warning_gain_hours_equal_alerts'], '{:+.1f}'.format)})")


def plot_mdl004(data: dict) -> bytes:
    """Each scorer's ROC-AUC for both events with its interval."""
    plt, fig, ax = _figure()
    s = {k: within(v) for k, v in data["summary"].items() if "_auc_" in k}
    for k, (key, label) in enumerate(MDL004_SCORERS.items()):
        means = [s[f"{e}_auc_{key}"]["mean"] for e in ("block_event", "listing")]
        err = [[m - s[f"{e}_auc_{key}"].get("low", m) for m, e in zip(means, ("block_event", "listing"), strict=True)],
               [s[f"{e}_auc_{key}"].get("high", m) - m for m, e in zip(means, ("block_event", "listing"), strict=True)]]
        ax.errorbar([x + 0.12 * (k - 1) for x in (0, 1)], means, yerr=err, fmt="o", capsize=3, label=label)
    ax.set_xticks([0, 1], ["new block event in 24 h", "new listing in 24 h"])
    ax.set_ylabel("ROC-AUC")
    ax.axhline(0.5, color="grey", linestyle=":")
    ax.legend(fontsize=7)
    return _png(plt, fig)


def knowledge_rates(data: dict, _: str) -> str:
    """The knowledge base's learned hourly allowance per provider against the twin's, beside spec
    §6.2's static defaults."""
    rows = []
    for p, v in data["providers"].items():
        rows.append([p, f"{v['worlds_with_estimate']} of {len(data['seeds'])}", ci(v["hidden_allowance"], "{:,.0f}".format),
                     ci(v["learned"], "{:,.0f}".format), ci(v["error"], lambda x: f"{100 * x:+.1f}%"),
                     ci(v["default_error"], lambda x: f"{100 * x:+.0f}%")])
    sender = data["sender"]
    which = f"sealed worlds {data['seeds'][0]}–{data['seeds'][-1]}, version `{data['version']}`" if "version" in data \
        else f"validation worlds {', '.join(map(str, data['seeds']))}"
    return (f"On {which}: {data['subscribers']:,} subscribers, one sender pushing every provider past its allowance "
            f"({sender['ips']} IP, {sender['rate_per_min']:,.0f} messages a minute, {sender['audience_share']:.0%} of the "
            f"list per campaign), {data['days']} days. The allowance in force is the twin's, in the hours the estimate "
            "used; mean [95% interval] over worlds. Mean absolute error over providers: learned "
            f"{ci(data['mean_abs_error'], pct)}, spec §6.2's defaults {ci(data['mean_abs_default_error'], pct)}.\n\n"
            + table(["provider", "worlds with an estimate", "hidden allowance / h", "learned / h", "error",
                     "spec §6.2 default's error"], rows))


KNOWLEDGE_START_METRICS = {
    "reaching_minutes": ("minutes until throughput first reaches its steady level", "{:.1f}"),
    "settling_minutes": ("minutes until throughput stays there", "{:.1f}"),
    "delivered_first_hour": ("delivered in the first hour", "{:,.0f}"),
    "rate_blocks_first_hour": ("refused for speed in the first hour", "{:,.1f}"),
    "steady_per_hour": ("steady delivery / h (second hour)", "{:,.0f}"),
}


def knowledge_start(data: dict, _: str) -> str:
    """MDL-003 from the knowledge base's start and ceiling against spec §6.2's defaults, per world
    and per provider."""
    arms, diff = data["arms"], data["difference"]
    rows = [[label, ci(arms["spec defaults"][k], fmt.format), ci(arms["knowledge base"][k], fmt.format),
             ci(diff[k], fmt.replace("{:", "{:+").format)] for k, (label, fmt) in KNOWLEDGE_START_METRICS.items()]
    def gap(v: dict, m: str) -> str:
        return "—" if v[f"{m}_difference"] is None else ci(v[f"{m}_difference"], "{:+.1f}".format)

    per = [[p, f"{v['reaching_minutes']['spec defaults']:.1f}", f"{v['reaching_minutes']['knowledge base']:.1f}",
            gap(v, "reaching_minutes"), f"{v['settling_minutes']['spec defaults']:.1f}",
            f"{v['settling_minutes']['knowledge base']:.1f}", gap(v, "settling_minutes"),
            f"{v['rate_blocks_first_hour']['spec defaults']:,.1f}", f"{v['rate_blocks_first_hour']['knowledge base']:,.1f}"]
           for p, v in data["providers"].items()]
    sooner = data["worlds_sooner"]
    sender = data["sender"]
    which = f"sealed worlds {data['seeds'][0]}–{data['seeds'][-1]}, version `{data['version']}`" if "version" in data \
        else f"validation worlds {', '.join(map(str, data['seeds']))}"
    runs = data["training_runs"]
    return (f"On {which}: after {data['days']} days of one sender's mail ({sender['ips']} IP, "
            f"{sender['rate_per_min']:,.0f} messages a minute, {sender['audience_share']:.0%} of {data['subscribers']:,} "
            f"subscribers per campaign), MDL-003 ({runs} training run{'s' if runs != 1 else ''}) sends to each provider for "
            f"{data['steps'] * 30 / 3600:.0f} hours; mean [95% interval] over worlds of the mean over providers, and the "
            "paired difference. From the knowledge base, throughput reached its steady level sooner in "
            f"{sooner['reaching_minutes']['sooner']} of {len(data['seeds'])} worlds (later in "
            f"{sooner['reaching_minutes']['later']}) and stayed there sooner in {sooner['settling_minutes']['sooner']} "
            f"(later in {sooner['settling_minutes']['later']}).\n\n"
            + table(["", "spec §6.2 defaults", "knowledge base", "difference"], rows)
            + "\n\nPer provider, means over worlds (minutes until throughput reaches its steady level, until it stays "
            "there, and refusals for speed in the first hour), from spec §6.2's defaults and from the knowledge base:\n\n"
            + table(["provider", "reaches: defaults", "reaches: knowledge", "difference", "stays: defaults",
                     "stays: knowledge", "difference", "speed refusals: defaults", "speed refusals: knowledge"], per))


def plot_knowledge_start(data: dict) -> bytes:
    """Minutes until throughput reaches its steady level per provider, from spec §6.2's defaults
    and from the knowledge base, with the paired difference's interval."""
    plt, fig, ax = _figure()
    providers = list(data["providers"])
    for i, (arm, colour) in enumerate((("spec defaults", "tab:grey"), ("knowledge base", "tab:blue"))):
        values = [data["providers"][p]["reaching_minutes"][arm] for p in providers]
        ax.bar([j + (i - 0.5) * 0.4 for j in range(len(providers))], values, 0.4, label=arm, color=colour)
    ax.set_xticks(range(len(providers)), providers)
    ax.set_ylabel("minutes until throughput\nreaches its steady level")
    ax.legend()
    return _png(plt, fig)


def plot_mdl010_in_loop(data: dict) -> bytes:
    """The bounce rate against the good addresses withheld: every rule, MDL-010's frontier, its
    policy and the oracle."""
    plt, fig, ax = _figure()
    rate, withheld = data["bounce_rate"], data["good_withheld"]
    rules = [k for k in rate if k.startswith("rule_")]
    ax.plot([withheld[k]["mean"] for k in rules], [100 * rate[k]["mean"] for k in rules], "o", label="rules")
    for k in rules:
        ax.annotate(k.removeprefix("rule_"), (withheld[k]["mean"], 100 * rate[k]["mean"]), fontsize=6)
    model = sorted((k for k in rate if k.startswith(("mdl010_q", "mdl010_h"))), key=lambda k: withheld[k]["mean"])
    ax.plot([withheld[k]["mean"] for k in model], [100 * rate[k]["mean"] for k in model], "s",
            label="MDL-010 (policy thresholds, riskiest K%)")
    for name, style, label in (("mdl010_policy", "k*", "MDL-010's policy as shipped"), ("none", "x", "the world's sender"),
                               ("oracle", "^", "oracle")):
        ax.plot(withheld[name]["mean"], 100 * rate[name]["mean"], style, markersize=10, label=label)
    ax.axhline(100 * data["target_bounce_rate"], color="grey", linestyle="--", label="spec §11 target")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(left=0)
    ax.set_xlabel("good addresses withheld (in the loop, mean over worlds)")
    ax.set_ylabel("bounces per message sent, %")
    ax.legend(fontsize=8)
    return _png(plt, fig)


def supervised_sealed(data: dict, _: str = "") -> str:
    """Any supervised model's sealed headline as `supervised_sealed.py` packages it: each metric of
    its spec on the held-out days, the model beside the best rule and the oracle (the renderer a
    model gets without one of its own)."""
    found = data["intervals"]
    rows = [[name, *(ci(found[name][who], "{:.5f}".format if "ece" in name else "{:.3f}".format)
                     for who in ("model", "baseline", "oracle"))]
            for name in found if {"model", "baseline", "oracle"} <= set(found[name])]
    w = data["world"]
    use = data["sealed_use"]
    which = (f"used once by version `{data['version']}` ({use['date'][:10]})" if use else
             f"evaluated at commit `{(data['produced_by'].get('commit') or 'unrecorded')[:7]}`, where "
             "choices are made")
    return (f"{'Sealed' if use else 'Validation'} worlds {', '.join(map(str, data['seeds']))} ({len(data['seeds'])} "
            f"worlds of {w['subscribers']:,} subscribers × {w['days']} days, the last {w['holdout_days']} days of "
            f"matured labels held out), each trained on by the recipe (profile `{data['profile']}`), {which}. "
            "Mean [95% interval] over worlds.\n\n"
            + table(["holdout metric", data["model"], "best rule", "oracle"], rows))


def plot_mdl006_in_loop(data: dict) -> bytes:
    """The complaint rate against the opens given up: the sunset rule's, MDL-006's and the oracle's frontiers."""
    plt, fig, ax = _figure()
    rate, lost = data["expected_complaint_rate"], data["opens_lost"]
    for family, prefix, style in (("sunset (N days without an open)", "sunset_", "o-"),
                                  ("MDL-006 (riskiest K%)", "mdl006_q", "s-"), ("oracle (worst K%)", "oracle_q", "^-")):
        names = ["none", *(k for k in rate if k.startswith(prefix))]
        ax.plot([100 * lost[k]["mean"] for k in names], [100 * rate[k]["mean"] for k in names], style, label=family)
    ax.plot(100 * lost["mdl006_policy"]["mean"], 100 * rate["mdl006_policy"]["mean"], "k*", markersize=12,
            label="MDL-006's policy as shipped")
    ax.axhline(100 * data["target_complaint_rate"], color="grey", linestyle="--", label="spec §11 target")
    ax.set_xlabel("human opens lost, % (in the loop, mean over worlds)")
    ax.set_ylabel("complaints per message sent, %")
    ax.legend(fontsize=8)
    return _png(plt, fig)


MDL001_GAP_ROWS = {
    "mdl001": "MDL-001 (placement learned from the panel)",
    "oracle_fates": "MDL-001's placement with the oracle's fate head",
    "opens_stacked": "+ P(human open) learned from all accepted mail as an input",
    "every_placement_linear": "placement of every accepted message (logistic)",
    "every_placement_trees": "placement of every accepted message (trees)",
    "every_placement_and_content_traits": "… + the content's hidden spamminess and quality",
    "every_placement_content_and_engagement": "… + the subscriber's hidden engagement",
    "oracle_standing_blind": "oracle blind to the subscriber's standing with the filter",
    "oracle": "oracle (the headline's)",
}


def mdl001_gap(data: dict, _: str) -> str:
    f3 = "{:.3f}".format
    found = data["intervals"]
    rows = [[label, ci(found[k]["spam_given_accepted_auc"], f3), ci(found[k]["macro_roc_auc"], f3),
             ci(found[k]["gap_to_oracle"], f3), ci(found[k]["ece"], f3)]
            for k, label in MDL001_GAP_ROWS.items() if k in found]
    w = data["world"]
    return (f"Validation worlds {', '.join(map(str, data['seeds']))} ({w['subscribers']:,} subscribers × "
            f"{w['days']} days, the last {w['holdout_days']} held out); MDL-001 with its defaults; every row but "
            "the oracles and the second keeps MDL-001's fate head and changes only P(spam | accepted). Mean [95% interval] "
            "over worlds.\n\n"
            + table(["placement learned from", "P(spam | accepted) ROC-AUC", "macro ROC-AUC",
                     "gap to the oracle", "calibration error"], rows))


def serving_latency(data: dict, _: str) -> str:
    labels = {"in_process_predict": "registered model in process (floor)",
              "mlserver_ours_explicit_features": "our MLServer runtime, features given",
              "mlserver_stock_xgboost_same_booster": "MLServer's stock XGBoost runtime, same booster",
              "end_to_end_entity_keys_online_store": "end to end by entity keys (Feast online read + decision)"}
    rows = [[label, *(f"{data[b][k]['p50_ms']:.1f} / {data[b][k]['p99_ms']:.1f} ms" for b in ("batch_1", "batch_1000"))]
            for k, label in labels.items()]
    return table(["path (p50 / p99)", "batch of 1", "batch of 1,000"], rows)


def serving_load(data: dict, _: str) -> str:
    return table(["clients", "seconds", "batch", "requests", "decisions", "errors", "decisions/s", "p50 / p99"],
                 [[str(data["clients"]), f"{data['seconds']:.0f}", str(data["batch"]), num(data["requests"]),
                   num(data["messages"]), str(data["errors"]), num(data["messages_per_s"]),
                   f"{data['p50_ms']:.0f} / {data['p99_ms']:.0f} ms"]])


def decision_path(data: dict, _: str) -> str:
    """The side-by-side decision benchmark: four paths, two batch sizes, then the load."""
    labels = {"ours_grpc_raw_entity_keys_packed": "ours: gRPC raw, entity keys, packed Redis read, compiled model",
              "today_rest_json_entity_keys_feast": "before: REST JSON, entity keys, Feast's online read",
              "stock_xgboost_grpc_raw_features_given": "MLServer's stock XGBoost runtime, features given",
              "bare_registered_model_in_process": "bare registered model in process, features given",
              "bare_compiled_model_in_process": "bare compiled model in process, features given"}
    rows = [[label, *(f"{data[b][k]['p50_ms']:.1f} / {data[b][k]['p99_ms']:.1f} ms" for b in ("batch_1", "batch_1000"))]
            for k, label in labels.items()]
    load_rows = [[labels[k].split(",")[0], str(v["clients"]), f"{v['seconds']:.0f}", num(v["requests"]),
                  str(v["errors"]), num(v["decisions_per_s"]), f"{v['p50_ms']:.0f} / {v['p99_ms']:.0f} ms"]
                 for k, v in data["load"].items()]
    met = ", ".join(f"{k.replace('_', ' ')}: {'yes' if v else '**no**'}" for k, v in data["targets"].items())
    stages = data.get("stages_batch_1000")
    stage_table = "" if stages is None else "\n\n" + table(
        [f"`ours`, stage by stage (batch of {num(stages['batch'])}, one process)", "p50", "p99"],
        [[name, f"{t['p50_ms']:.2f} ms", f"{t['p99_ms']:.2f} ms"] for name, t in stages["stages"].items()])
    return (table(["path (p50 / p99)", "batch of 1", "batch of 1,000"], rows) + "\n\n" +
            table(["load, batches of 1,000", "clients", "seconds", "requests", "errors", "decisions/s", "p50 / p99"],
                  load_rows) + stage_table + f"\n\nTargets: {met}. The compiled model differs from the registered one by at "
            f"most {data['compiled_max_abs_gap']:.1e} on these messages.")


def listening_sockets(data: dict, _: str) -> str:
    rows = [[r["component"], f"{r['address']}:{r['port']}", f"`{r['process']}`"] for r in data["sockets"]]
    refused = ", ".join(f"{what}: {status}" for what, status in data["refusals_without_token"].items())
    return (table(["component", "listens on", "process"], rows, "lll") +
            f"\n\n{len(rows)} listening sockets, {data['off_loopback']} beyond loopback. With the token set, "
            f"{refused}.")


CONTENT_MODELS = {"ours": "MDL-007 (the stack validation picked)", "tfidf_baseline": "TF-IDF + linear SVM, threshold 0",
                  "tfidf_calibrated": "TF-IDF alone, calibrated", "transformer_calibrated": "transformer alone, calibrated",
                  "rules_calibrated": "rules alone, calibrated", "spamassassin": "SpamAssassin (whole message, 5.0)",
                  "ours_ceiling": "reach: MDL-007's ranking, threshold picked on the test block",
                  "tfidf_ceiling": "reach: TF-IDF's ranking, threshold picked on the test block"}


def share(i: dict) -> dict:
    """A proportion's interval kept inside [0, 1] (a t-interval over five seeds can cross them)."""
    return {**i, "low": max(i["low"], 0.0), "high": min(i["high"], 1.0)} if i["low"] == i["low"] else i


def content_spam(data: dict, _: str) -> str:
    """MDL-007's spam risk beside the baselines, five time-block seeds."""
    summary = data["summary"]
    rows = [[CONTENT_MODELS.get(name, name), *(ci(share(summary[name][k]), lambda x: f"{x:.3f}") for k in ("f1", "precision", "recall")),
             ci(share(summary[name]["fpr"]), lambda x: pct(x, 2))] for name in summary]
    seeds = data["per_seed"]
    timing = {k: sum(s["timings"][k] for s in seeds) / len(seeds) for k in ("pretrain_s", "finetune_s", "tfidf_fit_s")}
    enc = data["encoder"]
    picked = ", ".join(f"{s['seed']}: {s['ours']['members']}" for s in seeds)
    return (f"{data['messages']:,} messages ({data['spam']:,} spam), subject and body only; five seeds, each testing one "
            f"time block of every folder. Mean [95% interval] over seeds.\n\n"
            + table(["model", "F1", "precision", "recall", "false-positive rate"], rows) +
            f"\n\nEncoder: {enc['layers']} layers × {enc['hidden']} wide, {enc['vocab']:,} WordPiece tokens, "
            f"{enc['max_tokens']} tokens per message; pre-trained {enc['mlm_steps']:,} steps, fine-tuned "
            f"{enc['finetune_epochs']} epochs, on {data.get('accelerator', '?')}: {timing['pretrain_s']:.0f} s pre-training and "
            f"{timing['finetune_s']:.0f} s fine-tuning per seed (TF-IDF: {timing['tfidf_fit_s']:.0f} s). "
            f"Members validation kept, per seed: {picked}." + _content_suggestions(data))


def _content_suggestions(data: dict) -> str:
    s = data.get("suggestions")
    if not s:
        return ""
    flagged = sum(x["suggestions"]["flagged"] for x in data["per_seed"])
    rewritable = sum(x["suggestions"]["with_rewrite"] for x in data["per_seed"])
    return (f"\n\nSuggestions: of {flagged:,} flagged test messages, the rules rewrite {rewritable:,}; the rewrite "
            f"(every suggestion applied, scored again) lowers the score of {ci(share(s['lowered_share']), pct)}, by "
            f"{ci(s['mean_drop_points'], lambda x: f'{x:.1f}')} points on average, and brings "
            f"{ci(share(s['below_threshold_after']), pct)} under the send threshold.")


SERVED = (("whole_answer", "served REST: whole answer"), ("cache_hit", "served REST: cache hit"),
          ("grpc_whole_answer", "served gRPC: whole answer"), ("grpc_cache_hit", "served gRPC: cache hit"))


def content_latency(data: dict, _: str) -> str:
    """MDL-007's time per email, one email per call: each encoder size's whole stack, and the scorer
    as registered."""
    entries = [(f"all members, {size} encoder ({r['encoder']['layers']}×{r['encoder']['hidden']}, "
                f"{r['encoder']['max_tokens']} tokens)", r) for size, r in data["sizes"].items()]
    if "registered" in data:
        r = data["registered"]
        entries.append((f"as registered: {'+'.join(r['members'])}"
                        f"{' + engagement' if r['engagement'] else ''}", r))
    served = [k for k, label in SERVED if all(k in r.get("served", {}) for _, r in entries)]
    rows = [[label, *(f"{r[k]['p50_ms']:.1f} / {r[k]['p99_ms']:.1f}" for k in ("spam_probability", "whole_answer")),
             f"{r['cache_hit']['p50_ms']:.3f} / {r['cache_hit']['p99_ms']:.3f}",
             *(f"{r['served'][k]['p50_ms']:.1f} / {r['served'][k]['p99_ms']:.1f}" for k in served)]
            for label, r in entries]
    calls = entries[0][1]["spam_probability"]["calls"]
    header = ["scorer", "spam probability", "whole answer", "cache hit", *(dict(SERVED)[k] for k in served)]
    return (f"{calls} test emails, one per call; p50 / p99 in ms. The whole answer scores the content and every "
            "suggested rewrite again; in process, and (served) through the MLServer runtime on 127.0.0.1 over "
            "REST (JSON) and over gRPC (raw tensor contents), each on a fresh server, client and server on the "
            "same two cores. The encoder sizes are trained briefly (their "
            "shape is what costs) with every member kept; the registered scorer is the pipeline's, trained on the "
            "whole training block, with the members validation kept.\n\n" + table(header, rows))


GATE_ROWS = (("spam placement (share of accepted)", "spam_placement", lambda x: pct(x, 2)),
             ("blocked (share sent)", "block_rate", lambda x: pct(x, 3)),
             ("complaints (share sent)", "complaint_rate", lambda x: pct(x, 4)),
             ("human opens (share sent)", "human_open_rate", lambda x: pct(x, 2)),
             ("messages sent", "messages", lambda x: f"{x:,.0f}"), ("human opens", "human_opens", lambda x: f"{x:,.0f}"))


def _hold(h: float | None) -> str:
    return "the scorer's threshold" if h is None else ("never on the score" if h > 1 else f"P(spam) ≥ {h:.2f}")


def content_gate(data: dict, _: str) -> str:
    """MDL-007 as the twin's pre-send gate, gated beside ungated on the same sealed worlds."""
    s = data["summary"]
    rows = [[label, ci(s["ungated"][k], f), ci(s["gated"][k], f), ci(s["gated_minus_ungated"][k], f)]
            for label, k, f in GATE_ROWS]
    return (f"{len(data['seeds'])} sealed worlds ({data['subscribers']:,} subscribers, {data['days']} days, the "
            f"default senders); every campaign checked before it goes out: sent as written when approved, else "
            f"rewritten with every suggestion, and held when something critical is left or the rewrite still scores "
            f"{_hold(data['hold_at'])} (chosen on validation worlds). Rates are the twin's expected ones over what "
            f"went out; mean [95% interval] over worlds.\n\n"
            + table(["", "ungated", "gated", "gated − ungated"], rows) +
            f"\n\nPer world: {ci(s['campaigns'], lambda x: f'{x:.0f}')} campaigns, "
            f"{ci(s['rewritten'], lambda x: f'{x:.1f}')} rewritten and sent, {ci(s['held'], lambda x: f'{x:.1f}')} "
            f"held ({ci(share(s['held_audience_share']), pct)} of the audience). A rewrite lowered the spamminess the "
            f"providers perceive by {ci(s['spamminess_drop_of_rewritten'], lambda x: f'{x:.3f}')}. Rank correlation "
            f"of the scorer's P(spam) with the campaigns' hidden spamminess: "
            f"{ci(s['score_vs_hidden_spearman'], lambda x: f'{x:.2f}')}. Scorer: {data['scorer_members']}, "
            f"threshold {data['threshold']:.3f}, version {data['scorer_version']}.")


FEATURE_ROWS = (("macro ROC AUC", "macro_roc_auc"), ("spam ROC AUC", "roc_auc_spam"), ("log loss", "log_loss"))


def content_feature(data: dict, _: str) -> str:
    """MDL-001 with MDL-007's recorded P(spam) as a feature, beside the same model with it blanked."""
    f4 = lambda x: f"{x:.4f}"  # noqa: E731
    rows = []
    for subset, label in (("all", "every message"), ("first_messages", "first messages")):
        s = data["summary"][subset]
        rows += [[f"{name}, {label}", ci(s[k]["with_score"], f4), ci(s[k]["blanked"], f4),
                  ci(s[k]["with_minus_blanked"], lambda x: f"{x:+.4f}"), ci(s[k]["oracle"], f4)] for name, k in FEATURE_ROWS]
    scored = [w["scored_share_train"] for w in data["per_world"]]
    share = f"{min(scored):.0%}" if f"{min(scored):.0%}" == f"{max(scored):.0%}" else f"{min(scored):.0%}–{max(scored):.0%}"
    first = sum(w["rows_first_messages"] for w in data["per_world"]) / sum(w["rows_holdout"] for w in data["per_world"])
    return (f"{len(data['seeds'])} validation worlds ({data['subscribers']:,} subscribers, {data['days']} days; the "
            f"last 7 held out), every sender running the content gate (hold at P(spam) ≥ {data['hold_at']}); "
            f"{share} of training rows carry a score. \"First messages\" are a campaign's "
            f"messages sent before {data['first_messages']} of its answers came back from that provider "
            f"({first:.1%} of the held-out messages). MDL-001 at its baseline parameters, profile {data['profile']}; "
            f"scored against the true classes; mean [95% interval] over worlds.\n\n"
            + table(["", "with the score", "blanked (−1)", "with − blanked", "oracle"], rows) +
            f"\n\nScorer: {data['scorer_members']}, version {data['scorer_version']}.")


def content_gate_validation(data: dict, _: str) -> str:
    """Where to hold a campaign, chosen on validation worlds."""
    rows = []
    for hold, s in data["candidates"].items():
        h = None if hold == "None" else float(hold)
        rows.append([_hold(h), ci(s["gated"]["human_opens"], lambda x: f"{x:,.0f}"),
                     ci(s["gated"]["spam_placement"], lambda x: pct(x, 2)), ci(s["held"], lambda x: f"{x:.1f}"),
                     ci(s["rewritten"], lambda x: f"{x:.1f}")])
    base = next(iter(data["candidates"].values()))["ungated"]
    return (f"{len(data['seeds'])} validation worlds. Ungated: {ci(base['human_opens'], lambda x: f'{x:,.0f}')} human "
            f"opens, spam placement {ci(base['spam_placement'], lambda x: pct(x, 2))}. Chosen by "
            f"{data['objective']}: **{_hold(data['chosen_hold_at'])}**.\n\n"
            + table(["hold when the rewrite scores", "human opens", "spam placement", "held", "rewritten"], rows))


def content_engagement(data: dict, _: str) -> str:
    """MDL-007's engagement potential on sealed worlds, beside the oracle and the sender's average."""
    s = data["summary"]
    f2 = "{:.2f}".format
    rows = [["open rate: rank correlation inside a sender", ci(s["open_rate_rank_within_sender"], f2),
             ci(s["oracle_open_rate_rank_within_sender"], f2), "— (one value per sender)"],
            ["click rate: rank correlation inside a sender", ci(s["click_rate_rank_within_sender"], f2),
             ci(s["oracle_click_rate_rank_within_sender"], f2), "—"],
            ["open rate: mean absolute error", ci(s["open_rate_mean_abs_error"], lambda x: pct(x, 2)), "—",
             ci(s["sender_mean_open_rate_abs_error"], lambda x: pct(x, 2))]]
    return (f"Learned from {data['campaigns_learned']:,} campaigns of {data['training_worlds']} training worlds "
            f"({data['subscribers']:,} subscribers, {data['days']} days); ridge penalty {data['alpha']:g} chosen on "
            f"validation worlds; judged on {len(data['seeds'])} sealed worlds, mean [95% interval].\n\n"
            + table(["", "MDL-007 (text only)", "oracle (hidden quality)", "the sender's own average"], rows))


def at_least_zero(i: dict) -> dict:
    """A duration's interval kept above zero (a t-interval over three worlds can cross it)."""
    return {**i, "low": max(i["low"], 0.0)} if i["low"] == i["low"] else i


def stream_ingest(data: dict, _: str) -> str:
    """Events through the Redis stream into the lake, beside the batch path."""
    s = data["summary"]
    rate = lambda x: f"{x:,.0f}"  # noqa: E731
    paths = (("into the lake", "consume_{}"), ("into the lake and the outcome store (SQLite)", "consume_{}_store"),
             ("the event-driven path: lake, outcome store and online store (Redis)", "consume_{}_online"),
             ("the same, each consumer's subscriber snapshots pushed beside it", "consume_{}_snapshots"))
    rows = [["batch path: `EventsLake.ingest` per kind and day", ci(s["batch_events_per_s"], rate), ""],
            ["stream: publish (replay, pipelined appends)", ci(s["publish_events_per_s"], rate), ""]]
    rows += [[f"stream: {what}", *(ci(s[key.format(n) + "_events_per_s"], rate)
                                    if key.format(n) + "_events_per_s" in s else "" for n in (1, 2))]
             for what, key in paths if key.format(1) + "_events_per_s" in s]
    lat = [[f"{x['rate']:,.0f} events/s",
            ("event → online features" + (", snapshots beside" if x.get("snapshots", True) else "")
             if x.get("online") else "event → lake"), str(x.get("consumers", 1)),
            ci(at_least_zero(x["p50_ms"]), lambda v: f"{v:.0f}"), ci(at_least_zero(x["p99_ms"]), lambda v: f"{v:.0f}")]
           for x in s["latency"]]
    events = data["worlds"][0]["publish"]["events"]
    burst = ""
    if "snapshot_burst_rows_per_s" in s:
        rows_each = data["worlds"][0]["snapshot_burst"]["rows"]
        burst = (f"\n\nOne midnight's subscriber snapshot alone, as a deployment meets it once a day (about "
                 f"{rows_each:,} rows): computed from the lake in {ci(s['snapshot_burst_compute_s'], lambda v: f'{v:.2f}')} s, "
                 f"written to the online store in {ci(s['snapshot_burst_push_s'], lambda v: f'{v:.1f}')} s; "
                 f"{ci(s['snapshot_burst_rows_per_s'], rate)} rows/s in all.")
    return (f"{len(data['worlds'])} worlds of {data['subscribers']:,} subscribers over {data['days']} days (about "
            f"{events:,} events each), two cores, a local redis-server; consumers read up to {data['batch']:,} "
            "entries at a time, and every streamed lake is checked equal to the batch path's (and every outcome "
            "store's counts equal to the batch path's). Events/s, mean [95% interval] over worlds:\n\n"
            + table(["path", "one consumer", "two consumers"], rows) + burst +
            "\n\nThe producer paced: from an event's append to its batch's acknowledgement (written in the lake), "
            "or, with the outcome store and the online push, from an outcome's append to the moment its content's "
            "and its provider's features were in the online store:\n\n"
            + table(["producer", "path", "consumers", "p50 ms", "p99 ms"], lat))


def mdl003_online(data: dict, _: str) -> str:
    """MDL-003 updating online beside the same policy frozen, live through the streams."""
    sc, summary = data["scenario"], data["summary"]
    per_h = lambda x: f"{x:,.0f}"  # noqa: E731
    signed = lambda x: f"{x:+,.0f}"  # noqa: E731
    rows = [[arm, ci(summary[arm]["delivered_per_hour"], per_h),
             ci(summary[arm]["rate_block_rate"], lambda x: pct(x, 3)),
             ci(summary[arm]["rate_blocks_first_hour"], lambda x: f"{x:,.1f}")] for arm in ("frozen", "online")]
    d = summary["online_minus_frozen"]
    rows.append(["online − frozen (same run, same world)", ci(d["delivered_per_hour"], signed),
                 ci(d["rate_block_rate"], lambda x: f"{x * 100:+.3f} pt"),
                 ci(d["rate_blocks_first_hour"], lambda x: f"{x:+,.1f}")])
    choice = data.get("choice")
    chosen = ""
    if choice:
        cands = ", ".join(f"{float(lr):g}: {c['delivered_per_hour']:,.0f}/h, speed-caused blocks "
                          f"{pct(c['rate_block_rate'], 3)}" for lr, c in choice["candidates"].items())
        chosen = (f" The online learning rate, {data['settings']['learning_rate']:g}, was chosen on validation "
                  f"worlds {', '.join(map(str, choice['seeds']))} ({choice['rule']}; {cands}).")
    stream = data["stream"]
    return (f"Every provider on validation worlds {', '.join(map(str, sc['seeds']))} ({len(sc['providers'])} "
            f"providers × {len(sc['seeds'])} seeds), {data['training_runs']} training run(s) of the policy; each "
            f"provider cuts its hidden limit to {sc['limit_scale']:.0%} after {sc['hours_before']:g} h, and the "
            f"{sc['hours_after']:g} h after the cut are measured. The MTA's windows and the controller's rates "
            f"go through Redis Streams ({stream['windows']:,} windows, {stream['windows_per_s']:,.0f} a second "
            f"with the decisions; an update takes {stream['update_seconds_mean'] * 1000:,.0f} ms). "
            f"The online arm updates every {data['settings']['update_every']:,} actions." + chosen +
            " Mean [95% interval] over training runs × worlds.\n\n" +
            table(["MDL-003", "delivered/hour after the cut", "speed-caused blocks", "speed-caused blocks, first hour"],
                  rows))


def mdl009_online(data: dict, _: str) -> str:
    """MDL-009 learning daily beside the same policy frozen, fleets of new IPs."""
    summary = data["summary"]
    fmt = {"days_to_full": lambda x: f"{x:.1f}", "delivered_total": lambda x: f"{x / 1e6:.2f} M",
           "pause_days": lambda x: f"{x:.2f}", "block_event_days": lambda x: f"{x:.2f}"}
    diff = {"days_to_full": lambda x: f"{x:+.1f}", "delivered_total": lambda x: f"{x / 1e6:+.2f} M",
            "pause_days": lambda x: f"{x:+.2f}", "block_event_days": lambda x: f"{x:+.2f}"}
    rows = [[arm, *(ci(summary[arm][m], fmt[m]) for m in fmt)] for arm in ("frozen", "online")]
    rows.append(["online − frozen (same run, same fleet)",
                 *(ci(summary["online_minus_frozen"][m], diff[m]) for m in diff)])
    fleets = data["fleets"]
    return (f"{len(fleets)} fleets of {data['ips_per_fleet']} new IPs (validation worlds {fleets[0][0]}–"
            f"{fleets[-1][-1]}, the {data['audience']} list, {data['days']} days), {data['training_runs']} training "
            f"run(s); the online arm updates once a day at learning rate {data['learning_rate']:g} (not tuned). "
            "Per IP, then the fleet's mean; days to full capacity count the horizon + 1 for an IP that never got "
            "there. Mean [95% interval] over training runs × fleets.\n\n" +
            table(["MDL-009", "days to full capacity", "delivered per IP", "pause days", "block-event days"], rows))


def feature_discovery(data: dict, _: str) -> str:
    """The weekly report's suggestions beside every candidate's shadow trial, on validation worlds."""
    s = data["summary"]
    rows = [[f"{r['seed']}", r["field"], "yes" if r["suggested"] else "", f"{r['bits_beyond_model']:.4f}",
             r["outcome"], f"{r['q']:.2g}",
             f"{r['trial_difference']:+.4f} [{r['trial_ci95'][0]:+.4f}, {r['trial_ci95'][1]:+.4f}]", r["verdict"]]
            for r in sorted(data["rows"], key=lambda r: (r["seed"], -r["bits_beyond_model"]))]
    return (f"Validation worlds {', '.join(map(str, data['seeds']))} ({data['subscribers']:,} subscribers, "
            f"{data['days']} days); the champion trained on the first {data['champion_days']} days; the report over "
            f"the last {data['report_weeks']} weeks; every candidate's shadow trial trained on the days before the "
            f"{data['holdout_days']} holdout days ({data['profile']} profile). Of {s['suggested']} suggested fields, "
            f"{s['suggested_helped']} helped and {s['suggested_hurt']} hurt in their trials; of the {s['others']} "
            f"others, {s['others_helped']} helped and {s['others_hurt']} hurt. Spearman correlation of the bits "
            f"beyond the model with the trial's gain: {s['spearman_bits_vs_gain']:+.2f}. Trial: macro ROC-AUC with "
            "the field minus with the field shuffled (its placebo), each the mean of three training runs; 95% "
            "interval over the holdout's messages and the runs.\n\n" +
            table(["world", "field", "suggested", "bits beyond the model", "outcome", "q", "trial: AUC gain",
                   "verdict"], rows, "lllrlrrl"))


def reputation_feature(data: dict, _: str) -> str:
    """MDL-004's published scores in MDL-001's shadow trials, on validation worlds."""
    names = {"ip_reputation_features__health_score": "sending IP's health score",
             "ip_reputation_features__p_block_event": "sending IP's P(block event)",
             "domain_reputation_features__health_score": "sending domain's health score"}
    summary = [[names.get(f, f), f"{s['mean_difference']:+.4f} [{s['ci95'][0]:+.4f}, {s['ci95'][1]:+.4f}]",
                ", ".join(f"{n} {v}" for v, n in sorted(s["verdicts"].items()))]
               for f, s in data["summary"].items()]
    rows = [[str(r["seed"]), names.get(r["field"], r["field"]), f"{r['without']:.4f}", f"{r['placebo']:.4f}",
             f"{r['with']:.4f}", f"{r['difference']:+.4f} [{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]",
             f"{r['scored_share']:.0%}"] for r in data["rows"]]
    return (f"Validation worlds {', '.join(map(str, data['seeds']))} ({data['subscribers']:,} subscribers, "
            f"{data['days']} days, MDL-004's sampled senders); MDL-004 trained on its own training worlds "
            f"({data['mdl004_training_days']} days each); MDL-001 ({data['profile']} profile) trained on the days "
            f"before the {data['holdout_days']} holdout days with the score and with the score shuffled (its "
            f"placebo), {data['trial_seeds']} runs each. Gain: macro ROC-AUC with minus placebo; mean [95% "
            "interval] over the worlds.\n\n" +
            table(["published score", "MDL-001's AUC gain", "trials' verdicts"], summary, "lrl") +
            "\n\nPer world (each trial's interval counts the holdout's messages and the runs):\n\n" +
            table(["world", "score", "without", "placebo", "with", "gain [95%]", "messages scored"], rows))


HILLSTROM_MODELS = {"ours": "MKT-001 campaign network", "two_model_logistic": "two-model logistic",
                    "class_transformation_gbm": "class transformation (gradient boosting)"}
HILLSTROM_RESPONSE = {"ours": "MKT-001 campaign network", "logistic": "logistic regression",
                      "gbm": "gradient boosting (LightGBM)"}


def hillstrom_campaign(data: dict, which: str) -> str:
    """MKT-001 on Hillstrom splits: `uplift` (who to send the women's e-mail), `response` (visit and
    conversion), `choice` (the designs on the choice splits)."""
    f3, f4 = "{:.3f}".format, "{:.4f}".format
    splits = f"{len(data['headline_splits'])} seeded splits of the development file (test: 30%), mean [95% interval]"
    if which == "choice":
        rows = [[design, ci(c["womens_uplift_at_30"], f4), ci(c["womens_qini"], f4), ci(c["visit_auc"], f3)]
                for design, c in data["choice"].items()]
        return (f"The network's {len(rows)} designs on {len(data['choice_splits'])} choice splits; chosen: "
                f"**{data['chosen_design']}** (the highest women's Qini).\n\n"
                + table(["design", "women's e-mail: uplift@30%", "Qini", "visit AUC"], rows))
    if which == "response":
        rows = []
        for key, name in HILLSTROM_RESPONSE.items():
            r = data["response"][key]
            rows.append([name, ci(r["visit_auc"], f3), ci(r["visit_logloss"], f4), ci(r["visit_ece"], f4),
                         ci(r["conversion_auc"], f3), ci(r["conversion_logloss"], f4)])
        paired = data["paired"]
        return (f"Visit and conversion within two weeks, on the e-mail each customer got; {splits}.\n\n"
                + table(["model", "visit AUC", "visit log loss", "visit calibration error", "conversion AUC",
                         "conversion log loss"], rows)
                + f"\n\nPaired, network minus logistic: visit AUC {ci(paired['visit_auc_minus_logistic'], f4)}, "
                f"log loss {ci(paired['visit_logloss_minus_logistic'], f4)}; minus gradient boosting: AUC "
                f"{ci(paired['visit_auc_minus_gbm'], f4)}, log loss {ci(paired['visit_logloss_minus_gbm'], f4)}.")
    rows = [[name, ci(data["uplift"][key]["womens_uplift_at_30"], f4), ci(data["uplift"][key]["womens_qini"], f4),
             ci(data["uplift"][key]["mens_uplift_at_30"], f4), ci(data["uplift"][key]["mens_qini"], f4)]
            for key, name in HILLSTROM_MODELS.items()]
    paired = data["paired"]
    avg = data["average_uplift"]
    return (f"Visit uplift of each e-mail over none among the 30% of customers each model ranks highest, and "
            f"the Qini coefficient; {splits}. Sending the e-mail to everyone: women's "
            f"{ci(avg['womens'], f4)}, men's {ci(avg['mens'], f4)}.\n\n"
            + table(["model", "women's e-mail: uplift@30%", "Qini", "men's e-mail: uplift@30%", "Qini"], rows)
            + "\n\nPaired, network minus each baseline (women's e-mail): uplift@30% "
            f"{ci(paired['womens_uplift_at_30_minus_two_model_logistic'], f4)} against the two-model logistic, "
            f"{ci(paired['womens_uplift_at_30_minus_class_transformation_gbm'], f4)} against class transformation; "
            f"Qini {ci(paired['womens_qini_minus_two_model_logistic'], f4)} and "
            f"{ci(paired['womens_qini_minus_class_transformation_gbm'], f4)}.")


def _latency_rows(data: dict) -> list[list[str]]:
    names = {"in_process": "in process (the runtime's answer)", "rest": "served, V2 REST (JSON)",
             "grpc_raw": "served, gRPC raw tensors"}
    return [[names[k]] + [f"{data['cells'][b][k]['p50_ms']:.2f} / {data['cells'][b][k]['p99_ms']:.2f}"
                          for b in ("1", "1000")] for k in names]


def campaign_serving(data: dict, _: str) -> str:
    """MKT-001's latency in process and served, batches of 1 and 1,000 customers."""
    return (f"p50 / p99 in ms over {data['requests']:,} requests per cell; the client on the same 2 cores; "
            f"{data['network']['members']} members of the {data['network']['design']} design.\n\n"
            + table(["path", "batch of 1", "batch of 1,000"], _latency_rows(data)))


def bid_serving(data: dict, _: str) -> str:
    """MKT-002's latency in process and served, bid requests of 1 and 1,000 auctions."""
    return (f"p50 / p99 in ms over {data['requests']:,} requests per cell; the client on the same 2 cores.\n\n"
            + table(["path", "1 auction", "1,000 auctions"], _latency_rows(data)))


OBD_POLICIES = {"logged_thompson_sampling": "the logged Thompson sampling (the check)",
                "beta_bernoulli_ts": "Beta-Bernoulli Thompson sampling, learned from the bts log",
                "contextual_ts": "contextual (logistic) Thompson sampling, learned from the bts log",
                "uniform_random": "uniform random (sanity: its own log)"}


def _rate(i: dict) -> str:
    return f"{100 * i['value']:.3f}% [{100 * i['low']:.3f}, {100 * i['high']:.3f}]"


def open_bandit_ope(data: dict) -> str:
    """Off-policy click-rate estimates on the Open Bandit Dataset's random log, beside the truth."""
    rows = [[name] + [_rate(data["estimates"][key][k]) for k in ("ipw", "snipw", "dm", "dr")]
            for key, name in OBD_POLICIES.items()]
    truth = data["on_policy"]
    err = data["relative_error_on_logged_ts"]
    return (f"Click rate per impression estimated from the uniformly random log ({data['rows']['random']:,} "
            f"impressions, {data['clicks']['random']} clicks; men campaign), 95% bootstrap intervals. The truth "
            f"to check against: the Thompson-sampling log's own click rate {_rate(truth['bts'])} "
            f"({data['clicks']['bts']} clicks); the random log's {_rate(truth['random'])}. Relative error of "
            "each estimator on the logged policy: "
            + ", ".join(f"{k.upper()} {100 * v:+.0f}%" for k, v in err.items()) + ".\n\n"
            + table(["policy", "IPW", "SNIPW", "DM", "DR"], rows))


DRIFT_SCENARIOS = {"steady": "steady (every alarm is false)", "lapsed_customers": "lapsed customers (inputs move)",
                   "new_customers": "new customers (inputs move)",
                   "email_wore_out": "the e-mail wore out (only the outcome moves)"}


def campaign_drift(data: dict, _: str) -> str:
    """Share of monitored days on which each check fired, per scenario, with exact intervals."""
    def share(i: dict) -> str:
        return f"{100 * i['share']:.0f}% [{100 * i['low']:.0f}, {100 * i['high']:.0f}]"

    rows = [[DRIFT_SCENARIOS[k], str(v["days"]), share(v["retrain"]), share(v["acted"]), share(v["biased"]),
             share(v["warned"]), f"{v['max_psi_mean']:.3f}"] for k, v in data["scenarios"].items()]
    return (f"Share of monitored days ({data['customers_per_day']:,} customers each, against the "
            f"{data['reference_rows']:,} training rows) on which a check fired, with exact 95% intervals.\n\n"
            + table(["scenario", "days", "retrain (any)", "PSI+KS act", "prediction bias", "warn",
                     "largest PSI (mean)"], rows))


BIDDER_NAMES = {"fixed": "fixed bid", "value": "bid the value (no pacing)", "linear": "linear bidding",
                "optimiser": "the bid optimiser", "optimiser_prior": "the bid optimiser, MKT-002's model as prior"}
VARIANT_NAMES = {"thompson": "Thompson sampling (Beta-Bernoulli)",
                 "contextual_thompson": "Thompson sampling per segment (contextual)",
                 "ab_50_50": "fixed 50/50 split (an A/B test)", "epsilon_greedy": "epsilon-greedy (10%)"}


def _setting(kind: str, chosen: dict) -> str:
    s = chosen[kind]
    what = {"fixed": f"{s['setting']:g} x a click's value", "linear": f"base {s['setting']:g} x a click's value",
            "optimiser": f"pacing gain {s['setting']:g}", "optimiser_prior": f"the optimiser's (gain {s['setting']:g})",
            "value": "—"}[kind]
    return what + (f", shaded x{s['shade']:g}" if s["shade"] != 1.0 else "")


def marketing_twin(data: dict, which: str) -> str:
    """The bid optimiser against the rules (`bidding`, per price rule) or variant selection (`variants`)."""
    if which == "variants":
        v = data["variants"]
        rows = [[VARIANT_NAMES[p], ci(i, lambda x: f"{x:,.0f}")] for p, i in v["regret_clicks"].items()]
        return (f"Clicks lost per campaign over {v['days']} days against the better of two creatives for each "
                f"impression ({v['share']:.0%} of the campaign's searches), on {len(data['sealed_seeds'])} sealed "
                "worlds, mean [95% interval].\n\n" + table(["policy", "regret (clicks)"], rows))
    parts = []
    for rule, b in data["bidding"].items():
        s = b["summary"]
        rows = [[BIDDER_NAMES[k], _setting(k, b["chosen"]), ci(s[k]["oracle_share"], lambda x: f"{100 * x:.1f}%"),
                 ci(s[k]["conversions_per_1000"], lambda x: f"{x:.2f}"),
                 ci(s[k]["regret_per_campaign_day"], lambda x: f"${x:,.0f}"), ci(s[k]["budget_used"], lambda x: f"{100 * x:.0f}%")]
                for k in BIDDER_NAMES if k in s]
        p = b["optimiser_minus_best_rule"]
        prior = ""
        if "prior_minus_optimiser" in b:
            q, r = b["prior_minus_best_rule"], b["prior_minus_optimiser"]
            prior = (f" With MKT-002's model as prior, minus the best rule: "
                     f"{ci(q['oracle_share'], lambda x: f'{100 * x:+.1f} points')}; minus the optimiser alone: "
                     f"{ci(r['oracle_share'], lambda x: f'{100 * x:+.1f} points')}.")
        parts.append(f"**{rule.capitalize()}-price auctions.** Best rule: {BIDDER_NAMES[b['best_rule']]}. Optimiser minus it, "
                     f"paired: oracle share {ci(p['oracle_share'], lambda x: f'{100 * x:+.1f} points')}, "
                     f"conversions per $1,000 {ci(p['conversions_per_1000'], lambda x: f'{x:+.2f}')}.{prior}\n\n"
                     + table(["bidder", "setting (validation)", "share of the oracle's value",
                              "conversions per $1,000 of budget", "regret per campaign-day", "budget used"], rows))
    c, pub = data["calibration"], data["published"]
    return (f"{data['days']} days x 4 campaigns per world, {len(data['sealed_seeds'])} sealed worlds "
            f"(settings chosen on {len(data['validation_seeds'])} validation worlds), mean [95% interval]. "
            f"Calibration (a click's value bid with no budget): click-through {100 * c['ctr']:.2f}% "
            f"(published {100 * pub['ctr']:.2f}%), conversion {100 * c['cvr']:.2f}% ({100 * pub['cvr']:.2f}%), "
            f"cost per click ${c['cpc']:.2f} (${pub['cpc']:.2f}).\n\n" + "\n\n".join(parts))


ONLINE_SCENARIOS = {"steady": "steady", "visits_fall": "visits fall by a third",
                    "womens_wears_out": "the women's e-mail wears out"}


def campaign_online(data: dict, _: str) -> str:
    """MKT-001's online updates and drift watch on scripted feedback streams."""
    rows = []
    for key, name in ONLINE_SCENARIOS.items():
        s = data["scenarios"][key]["summary"]
        delay = s["delay_rows"]
        detected = ci(s["detected"], lambda x: f"{100 * x:.0f}%") if key != "steady" else "—"
        rows.append([name, ci(s["alarms_before_change"], lambda x: f"{x:.2f}"), detected,
                     ci(delay, lambda x: f"{x:,.0f}") if delay.get("low") is not None else (
                         f"{delay['mean']:,.0f}" if delay.get("mean") is not None else "—"),
                     ci(s["champion_loss"], lambda x: f"{x:.4f}"), ci(s["online_loss"], lambda x: f"{x:.4f}"),
                     ci(s["online_minus_champion"], lambda x: f"{x:+.4f}")])
    return (f"{data['streams']} streams per scenario of {data['stream_rows']:,} feedback events (batches of "
            f"{data['batch']}), the change from the middle on; learning rate {data['learning_rate']:g} and the "
            f"{ {'pooled': 'pooled', 'per_email': 'per-e-mail'}[data.get('watch', 'pooled')]} watch (chosen on validation customers); log loss of "
            "visits over the second half, each batch scored before it is "
            "learned from; mean [95% interval] over streams.\n\n"
            + table(["stream", "alarms before the change", "change detected", "rows to detection",
                     "champion's log loss", "online log loss", "online minus champion"], rows))


def plot_campaign_online(data: dict) -> bytes:
    plt, fig, ax = _figure()
    names = list(ONLINE_SCENARIOS)
    diffs = [[c["online_minus_champion"] for c in data["scenarios"][k]["per_stream"]] for k in names]
    ax.boxplot(diffs, orientation="horizontal", tick_labels=[ONLINE_SCENARIOS[k] for k in names])
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("visit log loss, online minus champion (second half of each stream)")
    return _png(plt, fig)


PRIOR_BIDDERS = {"optimiser_prior": "the optimiser, MKT-002's model as prior",
                 "optimiser_no_prior": "the optimiser, its own clicks alone", "value": "bid the value (no pacing)",
                 "linear": "linear bidding (the best rule)"}


def bid_prior(data: dict, _: str) -> str:
    """MKT-002 on the sealed worlds, per horizon: each bidder's share of the oracle and the paired gains."""
    parts = []
    for horizon, h in data["horizons"].items():
        rows = [[name, ci(h[k]["share_of_oracle"], lambda x: f"{100 * x:.1f}%"),
                 ci(h[k]["conversions_per_1000"], lambda x: f"{x:.2f}"),
                 ci(h[k]["regret_per_campaign_day"], lambda x: f"${x:,.0f}"),
                 "—" if k == "optimiser_prior" else ci(h["prior_minus"][k]["share_of_oracle"], lambda x: f"{100 * x:+.1f}")]
                for k, name in PRIOR_BIDDERS.items()]
        a = h["conversion_model"]
        parts.append(f"**The first {horizon} days.** A click's conversion on the optimiser's own clicks: the model's AUC "
                     f"{ci(a['cvr_auc'], lambda x: f'{x:.3f}')}, the campaign's own rate alone "
                     f"{ci(a['campaign_rate_auc'], lambda x: f'{x:.3f}')}.\n\n"
                     + table(["bidder", "share of the oracle's value", "conversions per $1,000 of budget",
                              "regret per campaign-day", "with the model, minus this (points)"], rows))
    return (f"{len(data['sealed_seeds'])} sealed worlds x {data['campaigns']} campaigns, second price; the model trained "
            f"{len(data['training'])} times ({data['training_days']} days of six training worlds each); mean [95% "
            "interval] over worlds (and runs, for the model's rows).\n\n" + "\n\n".join(parts))


CAMPAIGN_INGEST_MODES = {"suite": "Great Expectations suite, a Data Docs page per batch that broke one",
                         "suite_no_docs": "Great Expectations suite, no page (what a clean batch costs)",
                         "lake_checks_only": "the lake's batch checks only (no suite)"}


def campaign_ingest(data: dict, _: str) -> str:
    """Campaign reports through the stream into the lake: what the suite costs, per batch size."""
    rate = data["rows_per_second"]
    rows = [[name] + [ci(rate[f"{mode}@{b}"], lambda x: f"{x:,.0f}") for b in data["batches"]]
            for mode, name in CAMPAIGN_INGEST_MODES.items()]
    size = data["rows_per_world"]
    return (f"Rows per second written by one consumer (decode, checks, quarantine, dedupe, Parquet, ledger and "
            f"acknowledgement), mean [95% interval] over {data['worlds']} twin worlds of {data['days']} days "
            f"({size['mean']:,.0f} report rows each, {100 * data['broken_share']:.0f}% broken, so every batch "
            "breaks an expectation).\n\n"
            + table(["validation", *(f"batches of {b:,}" for b in data["batches"])], rows))


KPI_SENDERS = (("business_as_usual", "business as usual"), ("adaptive", "adaptive"), ("oracle", "oracle"))
KPI_RATES = (("inbox_placement", "inbox placement"), ("bounce_rate", "bounce rate"), ("block_rate", "block rate"),
             ("complaint_rate", "complaint rate"), ("open_rate", "human open rate"),
             ("unsubscribe_rate", "unsubscribe rate"))


def _kpi_cell(line: dict, name: str, digits: int) -> str:
    cell = line.get(name)
    if cell is None:
        return "—"
    verdict = "met" if cell["met"] else f"missed by {100 * cell['missed_by']:.{digits}f} pt"
    fmt = (lambda x: f"{100 * x:+.1f}%") if "lift" in line.get("kind", "") else (lambda x: pct(x, digits))
    return f"{ci(cell, fmt)} ({verdict})"


def _kpi_elsewhere(metric: str, sender: str) -> str:
    """A §11 line this loop does not measure: where a sealed result of the part that would move it
    stands, in its own environment (throughput: MDL-003 against the best rule, as the adaptive
    sender's throttle would be)."""
    if metric != "throughput_lift" or sender != "adaptive":
        return "not measured"
    gain = load("mdl003_sealed.json")["intervals"]["ppo"]["gain_vs_best_rule"]
    return f"not in this loop; MDL-003 in its own environment: {ci(gain, lambda x: f'{x:+.0%}')} (`mdl003_sealed.json`)"


def kpi_paired(data: dict) -> str:
    """Adaptive minus business as usual, and the oracle minus adaptive, world by world (each pair
    met the same people, campaigns and luck), from the per-world results."""
    from adaptive_delivery.platform.protocol import interval

    def diff(a: str, b: str, metric: str) -> dict:
        """The report's own pair (a run since it kept them), else the same from the worlds' rows."""
        if f"{a}_minus_{b}" in data.get("paired", {}):
            return data["paired"][f"{a}_minus_{b}"][metric]
        return interval([w["senders"][a][metric] - w["senders"][b][metric] for w in data["per_world"]]).to_dict()

    pairs = (("adaptive", "business_as_usual", "adaptive − business as usual"), ("oracle", "adaptive", "oracle − adaptive"))
    rows = [[label, *(ci(diff(a, b, m), lambda x: f"{100 * x:+.3f} pt") for a, b, _ in pairs)] for m, label in KPI_RATES]
    rows += [[label, *(ci(diff(a, b, m), lambda x: f"{x:+,.0f}") for a, b, _ in pairs)]
             for m, label in (("sent", "messages sent"), ("human_opens", "human opens"), ("complaints", "complaints"))]
    return ("The differences world by world, mean [95% interval] (both senders of a pair met the same people, "
            "campaigns and luck): what the adaptive sender gains over the rules, and what the oracle still gains "
            "over it.\n\n" + table(["", *(label for _, _, label in pairs)], rows))


def kpi(data: dict, which: str) -> str:
    """The whole system against spec §11: the table, the volumes, the paired differences, the
    ablations, the providers."""
    if which == "paired":
        return kpi_paired(data)
    senders = [(k, n) for k, n in KPI_SENDERS if k in data["metrics"]]
    if which == "ablations":
        served = data.get("served", {})  # worlds where the model's gate promoted it (absent: not recorded)
        given = "every world (the scorer file)" if data.get("content_scorer") else "—"
        tried = set(data.get("challengers", []))  # not shipped: adaptive with it minus adaptive
        rows = [[f"{model} (challenger)" if model in tried else model,
                 f"{served[model]} of {data['worlds']}" if model in served else given if model == "MDL-007" else "—",
                 *(ci(parts[m], lambda x: f"{100 * x:+.3f} pt") for m, _ in KPI_RATES),
                 ci(parts["sent"], lambda x: f"{x:+,.0f}"), ci(parts["human_opens"], lambda x: f"{x:+,.0f}")]
                for model, parts in data["ablations"].items()]
        said = [[model, ", ".join(v["better"]).replace("_", " ") or "—", ", ".join(v["worse"]).replace("_", " ") or "—"]
                for model, v in data["ablation_verdicts"].items()]
        return (table(["learned part", "served in (worlds)", *(n for _, n in KPI_RATES), "messages sent", "human opens"],
                      rows)
                + "\n\nWhere the interval lies wholly on one side of no change (against the rule in its place):\n\n"
                + table(["learned part", "better than the rule", "worse than the rule"], said, "lll"))
    if which == "providers":
        rows = [[provider, *(f"{pct(data['by_provider'][k][provider]['inbox_placement'])} / "
                             f"{pct(data['by_provider'][k][provider]['bounce_rate'], 2)} / "
                             f"{pct(data['by_provider'][k][provider]['block_rate'], 2)}" for k, _ in senders)]
                for provider in data["by_provider"]["business_as_usual"]]
        return ("Inbox placement / bounce rate / block rate per message sent to each provider, mean over the "
                "worlds.\n\n" + table(["provider", *(n for _, n in senders)], rows))
    lines = data["section_11"]
    digits = {"inbox_placement": 1, "bounce_rate": 2, "block_rate": 2, "complaint_rate": 3, "prediction_accuracy": 1,
              "open_rate_lift": 1}
    rows = []
    for metric, line in lines.items():
        target = ("> " if line["higher_is_better"] else "< ") + (f"{100 * line['target']:+.0f}%" if "lift" in metric
                                                                  else pct(line["target"], digits.get(metric, 1)))
        if "not_measured" in line:
            rows.append([metric.replace("_", " "), *(_kpi_elsewhere(metric, k) for k, _ in senders), target])
            continue
        marked = {**line, "kind": metric}
        rows.append([metric.replace("_", " "), *(_kpi_cell(marked, k, digits[metric]) for k, _ in senders), target])
    volume = [[label, *(ci(data["metrics"][k][v], lambda x: f"{x:,.0f}") for k, _ in senders)]
              for v, label in (("sent", "messages sent"), ("human_opens", "human opens"), ("complaints", "complaints"))]
    other = [[label, *(ci(data["metrics"][k][m], lambda x: pct(x, 2)) for k, _ in senders)]
             for m, label in KPI_RATES if m in ("open_rate", "unsubscribe_rate")]
    size = data["size"]
    return (f"{data['worlds']} {data['seeds_kind']} worlds ({', '.join(map(str, data['seeds']))}), "
            f"{size['subscribers']:,} subscribers, {size['history_days']} days of history, {size['days']} days compared "
            f"({size['change_provider'] or 'no provider'} changes halfway); mean [95% interval] over the worlds, every "
            "rate per message sent, placement on the twin's truth. Spec §11:\n\n"
            + table(["metric", *(n for _, n in senders), "target"], rows)
            + "\n\nVolumes and the other rates:\n\n" + table(["", *(n for _, n in senders)], volume + other))


def kpi_headline(data: dict) -> list[str]:
    """The README's row for the whole system: the adaptive sender beside business as usual and the oracle."""
    m, lines = data["metrics"], data["section_11"]

    def three(metric: str, digits: int) -> str:
        return (f"{ci(m['adaptive'][metric], lambda x: pct(x, digits))} vs {pct(m['business_as_usual'][metric]['mean'], digits)}"
                f" (rules), {pct(m['oracle'][metric]['mean'], digits)} (oracle)")

    measured = {k: v for k, v in lines.items() if "not_measured" not in v and "adaptive" in v}
    met = [k.replace("_", " ") for k, v in measured.items() if v["adaptive"]["met"]]
    lift = lines["open_rate_lift"]["adaptive"]
    volume = m["adaptive"]["sent"]["mean"] / m["business_as_usual"]["sent"]["mean"] - 1
    opens = m["adaptive"]["human_opens"]["mean"] / m["business_as_usual"]["human_opens"]["mean"] - 1
    return ["whole system vs spec §11 (in progress)",
            f"adaptive sender, per message sent: inbox {three('inbox_placement', 1)}; blocks {three('block_rate', 2)}; "
            f"bounces {three('bounce_rate', 2)}; complaints {three('complaint_rate', 3)}; human opens per message "
            f"{ci(lift, lambda x: f'{x:+.1%}')} over the rules (target +15%), sending {abs(volume):.0%} "
            f"{'fewer' if volume < 0 else 'more'} messages for {abs(opens):.0%} {'fewer' if opens < 0 else 'more'} human opens; "
            f"meets {len(met)} of {len(measured)} measured targets ({', '.join(met) or 'none'}); throughput not in the loop "
            f"({data['worlds']} {data['seeds_kind']} worlds, {data['size']['days']} days, version {data['version'][:8]})",
            f"[the whole system](docs/kpi.md) · `kpi_{data['seeds_kind']}.json`"]


def kpi_allowance(data: dict, _: str) -> str:
    """Whether a throttle has anything to act on in the KPI worlds (the day's mail against one hour's allowance)."""
    rows = [[str(w["seed"]), f"{w['messages']:,}", pct(w["over_allowance"], 2), f"{w['highest_day_over_hour']:.2f}",
             max(w["by_provider"], key=lambda p: w["by_provider"][p]["highest_day_over_hour"])]
            for w in data["worlds"]]
    size = data["size"]
    return (f"Every message the twin's senders plan over each world's {size['history_days']} + {size['days']} days "
            f"({size['subscribers']:,} subscribers), all of it sent. A day's mail over one hour's allowance is the "
            "most that any schedule could put into one hour. Under 1, no sender of the KPI run, which sends a part of "
            "that mail, reaches an allowance (at the allowances of the world as planned).\n\n"
            + table(["world", "messages", "sent over the allowance", "a day's mail / an hour's allowance (highest)",
                     "where"], rows, "lrrrl"))


def plot_kpi(data: dict) -> bytes:
    from adaptive_delivery.delivery.kpi.report import plot_png

    return plot_png(data)


RENDERERS: dict[str, Callable[[dict, str], str]] = {
    "kpi_validation.json": kpi, "kpi_sealed.json": kpi, "kpi_allowance.json": kpi_allowance,
    "campaign_ingest.json": campaign_ingest,
    "bid_prior.json": bid_prior,
    "campaign_online.json": campaign_online,
    "marketing_twin.json": marketing_twin,
    "campaign_drift.json": campaign_drift,
    "open_bandit_ope.json": lambda data, _: open_bandit_ope(data),
    "campaign_serving.json": campaign_serving,
    "bid_serving.json": bid_serving,
    "hillstrom_campaign.json": hillstrom_campaign,
    "listening_sockets.json": listening_sockets,
    "simulator.json": simulator, "bounce_parser.json": bounce_parser, "bounce_recipients.json": bounce_recipients, "ingest_scaling.json": ingest_scaling, "feature_build.json": feature_build,
    "online_read.json": online_read, "mdl001_quality.json": mdl001, "mdl001_quality_seed8.json": mdl001,
    "mdl001_panel_20k.json": mdl001, "mdl001_panel_default_world.json": mdl001, "mdl003_heldout.json": mdl003, "mdl009_heldout.json": mdl009,
    "mdl003_sealed.json": mdl003_sealed, "mdl009_sealed.json": mdl009_sealed, "mdl001_sealed.json": mdl001_sealed,
    "mdl001_gap.json": mdl001_gap, "mdl005_sealed.json": mdl005_sealed, "mdl005_ceiling.json": mdl005_ceiling,
    "mdl005_ceiling_validation.json": mdl005_ceiling, "mdl002_send_time.json": mdl002_send_time,
    "mdl002_in_loop.json": mdl002_in_loop, "mdl002_sealed.json": mdl002_sealed,
    "mdl006_suppression.json": mdl006_suppression, "mdl006_in_loop.json": mdl006_in_loop,
    "mdl006_in_loop_sealed.json": mdl006_in_loop,
    "mdl010_in_loop.json": mdl010_in_loop, "mdl010_in_loop_sealed.json": mdl010_in_loop,
    "mdl008_validation.json": mdl008_validation, "mdl008_sealed.json": mdl008_sealed,
    "mdl004_validation.json": mdl004, "mdl004_sealed.json": mdl004,
    "knowledge_rates_validation.json": knowledge_rates, "knowledge_rates_sealed.json": knowledge_rates,
    "knowledge_start_validation.json": knowledge_start, "knowledge_start_sealed.json": knowledge_start,
    "serving_latency.json": serving_latency, "serving_load.json": serving_load, "decision_path.json": decision_path,
    "content_spam.json": content_spam, "content_spam_base.json": content_spam, "content_latency.json": content_latency,
    "content_gate.json": content_gate, "content_gate_validation.json": content_gate_validation,
    "content_feature.json": content_feature,
    "content_engagement.json": content_engagement,
    "stream_ingest.json": stream_ingest,
    "mdl003_online.json": mdl003_online,
    "mdl009_online.json": mdl009_online,
    "feature_discovery.json": feature_discovery,
    "reputation_feature.json": reputation_feature,
}


def render(name: str, which: str = "", prefix: str = "") -> str:
    """A results file's table in Markdown, with the provenance line and a link to the file under it
    (`prefix` leads from the citing page to the site's root)."""
    data = load(name)
    renderer = RENDERERS.get(name) or (supervised_sealed if {"model", "intervals", "sealed_use"} <= set(data) else None)
    if renderer is None:
        raise ResultsError(f"benchmarks/results/{name} has no renderer in benchmarks/results_tables.py")
    return f"{renderer(data, which)}\n\n{provenance_line(data)}\n\n[{name}]({prefix}{json_path(name)})"


# ---- plots -------------------------------------------------------------------------------------

def _figure() -> tuple:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(8, 3.6), dpi=110)


def _png(plt, fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _errors(cells: list[dict]) -> list[list[float]]:
    """Error-bar lengths below and above each mean of protocol.Interval records (none where a
    single world gives no interval)."""
    return [[c["mean"] - c["low"] if c["low"] == c["low"] else 0.0 for c in cells],
            [c["high"] - c["mean"] if c["high"] == c["high"] else 0.0 for c in cells]]


def _auc_bars(series: dict[str, list[float]], labels: list[str], ylabel: str,
              errors: dict[str, list[list[float]]] | None = None) -> bytes:
    """MDL-001's per-class ROC-AUCs, one group of bars per class, one bar per series."""
    plt, fig, ax = _figure()
    width = 0.8 / len(series)
    for i, (who, values) in enumerate(series.items()):
        ax.bar([j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))], values, width, label=who,
               yerr=(errors or {}).get(who), capsize=3)
    ax.set_xticks(range(len(labels)), [label.replace("ROC-AUC ", "") for label in labels])
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", ncols=len(series))
    return _png(plt, fig)


def plot_mdl001(data: dict) -> bytes:
    rows = MDL001_ROWS[:6]
    return _auc_bars({who: [data[who][k] for _, k in rows] for who in ("model", "oracle", "clairvoyant")},
                     [label for label, _ in rows], "ROC-AUC on the holdout")


def plot_mdl003(data: dict) -> bytes:
    plt, fig, ax = _figure()
    names = list(data["overall"])
    ax.barh(names, [data["overall"][p]["delivered_per_hour"] for p in names], color="tab:blue")
    ax.set_xlabel("delivered per hour (mean over held-out worlds)")
    ax.invert_yaxis()
    return _png(plt, fig)


def plot_mdl009(data: dict) -> bytes:
    plt, fig, ax = _figure()
    rows = [r for r in data["table"] if r["audience"] == "typical"]
    ax.barh([r["policy"] for r in rows], [r["delivered_total"] / 1e6 for r in rows], color="tab:green")
    ax.set_xlabel(f"millions delivered in {data['days']} days, typical list")
    ax.invert_yaxis()
    return _png(plt, fig)


def plot_mdl001_sealed(data: dict) -> bytes:
    rows = [(label, k) for label, k in MDL001_ROWS[:6] if k in data["intervals"]]
    cells = {who: [data["intervals"][k][who] for _, k in rows] for who in ("model", "oracle")}
    return _auc_bars({who: [c["mean"] for c in cs] for who, cs in cells.items()}, [label for label, _ in rows],
                     "ROC-AUC on the sealed worlds' holdouts (95% interval)",
                     errors={who: _errors(cs) for who, cs in cells.items()})


def plot_mdl005_sealed(data: dict) -> bytes:
    rows = [(label, k) for label, k in MDL005_ROWS if k.endswith("roc_auc")]
    cells = {who: [data["intervals"][k][key] for _, k in rows]
             for who, key in (("MDL-005", "model"), ("best rule", "baseline"), ("oracle", "oracle"))}
    return _auc_bars({who: [c["mean"] for c in cs] for who, cs in cells.items()}, [label for label, _ in rows],
                     "ROC-AUC on the sealed worlds' holdouts (95% interval)",
                     errors={who: _errors(cs) for who, cs in cells.items()})


def plot_mdl002_in_loop(data: dict) -> bytes:
    plt, fig, ax = _figure()
    names = list(MDL002_LOOP)
    cells = [data["expected_open_rate"][k] for k in names]
    ax.barh([MDL002_LOOP[k] for k in names], [c["mean"] for c in cells], color="tab:green", xerr=_errors(cells))
    ax.set_xlim(min(c["low"] for c in cells) * 0.95, max(c["high"] for c in cells) * 1.02)
    ax.set_xlabel("opens per campaign message sent, in the loop (validation worlds, 95% interval)")
    ax.invert_yaxis()
    return _png(plt, fig)


def plot_mdl001_gap(data: dict) -> bytes:
    """P(spam | accepted)'s ROC-AUC, row by row, with its interval."""
    plt, fig, ax = _figure()
    # the oracle's fate head changes no placement: its bar would repeat MDL-001's
    names = [k for k in MDL001_GAP_ROWS if k in data["intervals"] and k != "oracle_fates"]
    cells = [data["intervals"][k]["spam_given_accepted_auc"] for k in names]
    ax.barh([MDL001_GAP_ROWS[k] for k in names], [c["mean"] for c in cells], color="tab:purple", xerr=_errors(cells))
    ax.set_xlim(0.5, 0.85)
    ax.set_xlabel("P(spam | accepted) ROC-AUC (validation, 95% interval)")
    ax.invert_yaxis()
    return _png(plt, fig)


def plot_mdl003_sealed(data: dict) -> bytes:
    plt, fig, ax = _figure()
    names = list(data["intervals"])
    cells = [data["intervals"][p]["delivered_per_hour"] for p in names]
    ax.barh([MDL003_POLICIES.get(p, p) for p in names], [c["mean"] for c in cells], color="tab:blue",
            xerr=_errors(cells))
    ax.set_xlabel("delivered per hour on the sealed worlds (mean, 95% interval)")
    ax.invert_yaxis()
    return _png(plt, fig)


def plot_mdl009_sealed(data: dict) -> bytes:
    plt, fig, ax = _figure()
    rows = data["intervals"]["typical"]
    cells = [rows[p]["days_to_full"] for p in rows]
    ax.barh(list(rows), [c["mean"] for c in cells], color="tab:green", xerr=_errors(cells))
    ax.set_xlabel(f"days to full capacity, typical list (never = {data['days'] + 1}; mean, 95% interval)")
    ax.invert_yaxis()
    return _png(plt, fig)


def plot_content_gate(data: dict) -> bytes:
    """Spam placement per sealed world, ungated and gated."""
    plt, fig, ax = _figure()
    worlds = data["per_world"]
    x = range(len(worlds))
    for i, arm in enumerate(("ungated", "gated")):
        ax.bar([j + (i - 0.5) * 0.4 for j in x], [100 * w[arm]["spam_placement"] for w in worlds], 0.4, label=arm)
    ax.set_xticks(list(x), [f"world {w['seed']}" for w in worlds])
    ax.set_ylabel("spam placement, % of accepted")
    ax.legend()
    return _png(plt, fig)


def plot_mdl003_online(data: dict) -> bytes:
    """One world, hour by hour: each arm's rate against the provider's hidden limit."""
    plt, fig, ax = _figure()
    ex = data["example"]
    arms = ex["arms"]
    hours = range(len(arms["frozen"]["limit"]))
    ax.plot(hours, arms["frozen"]["limit"], color="black", lw=1.4, label="hidden limit")
    for arm, colour in (("frozen", "tab:blue"), ("online", "tab:orange")):
        ax.plot(hours, arms[arm]["rate"], color=colour, lw=1.0, label=f"{arm} rate")
    for k, at in enumerate(arms["online"]["updates_at_hour"]):
        ax.axvline(at, color="tab:orange", lw=0.6, ls=":", label="online update" if k == 0 else None)
    ax.axvline(ex["cut_hour"], color="tab:red", lw=1.0, label="the provider's cut")
    ax.set_xlabel(f"hour ({ex['provider']}, world {ex['seed']})")
    ax.set_ylabel("messages/minute (hourly mean)")
    ax.legend(loc="upper right", fontsize=7)
    return _png(plt, fig)


def plot_hillstrom_campaign(data: dict) -> bytes:
    """The women's e-mail's Qini curves, averaged over the headline splits, beside random targeting."""
    plt, fig, ax = _figure()
    curves = data["qini_curves"]
    depth = [100 * i / (len(curves["ours"]) - 1) for i in range(len(curves["ours"]))]
    for key, name in HILLSTROM_MODELS.items():
        ax.plot(depth, curves[key], label=name)
    end = curves["ours"][-1]
    ax.plot([0, 100], [0, end], "k--", linewidth=1, label="random targeting")
    ax.set_xlabel("customers targeted (% of the test rows, best-ranked first)")
    ax.set_ylabel("incremental visits per treated customer")
    ax.legend(loc="lower right", fontsize=8)
    return _png(plt, fig)


def plot_open_bandit_ope(data: dict) -> bytes:
    """Each policy's DR and IPW estimates with their intervals, beside the two logs' own rates."""
    plt, fig, ax = _figure()
    names = list(OBD_POLICIES)
    for k, (estimator, shift) in enumerate((("ipw", -0.15), ("dr", 0.15))):
        cells = [data["estimates"][n][estimator] for n in names]
        values = [100 * c["value"] for c in cells]
        errors = [[100 * (c["value"] - c["low"]) for c in cells], [100 * (c["high"] - c["value"]) for c in cells]]
        ax.errorbar([i + shift for i in range(len(names))], values, yerr=errors, fmt="o", capsize=3,
                    label=estimator.upper(), color=f"C{k}")
    for policy, style in (("bts", "--"), ("random", ":")):
        ax.axhline(100 * data["on_policy"][policy]["value"], color="k", ls=style, lw=1,
                   label=f"{policy} log's own rate")
    ax.set_xticks(range(len(names)), ["logged TS", "Beta-Bernoulli TS", "contextual TS", "uniform"])
    ax.set_ylabel("clicks per 100 impressions")
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    return _png(plt, fig)


PLOTS: dict[str, Callable[[dict], bytes]] = {
    "kpi_validation.json": plot_kpi,
    "kpi_sealed.json": plot_kpi,
    "open_bandit_ope.json": plot_open_bandit_ope,
    "hillstrom_campaign.json": plot_hillstrom_campaign,
    "campaign_online.json": plot_campaign_online,
    "mdl003_online.json": plot_mdl003_online,
    "content_gate.json": plot_content_gate,
    "mdl003_sealed.json": plot_mdl003_sealed,
    "mdl001_sealed.json": plot_mdl001_sealed,
    "mdl001_gap.json": plot_mdl001_gap,
    "mdl005_sealed.json": plot_mdl005_sealed,
    "mdl002_in_loop.json": plot_mdl002_in_loop,
    "mdl006_in_loop.json": plot_mdl006_in_loop, "mdl006_in_loop_sealed.json": plot_mdl006_in_loop,
    "mdl010_in_loop.json": plot_mdl010_in_loop, "mdl010_in_loop_sealed.json": plot_mdl010_in_loop,
    "mdl008_validation.json": plot_mdl008_validation,
    "mdl004_validation.json": plot_mdl004, "mdl004_sealed.json": plot_mdl004,
    "knowledge_start_validation.json": plot_knowledge_start, "knowledge_start_sealed.json": plot_knowledge_start,
    "ingest_scaling.json": plot_ingest_scaling,
    "mdl009_sealed.json": plot_mdl009_sealed,
    "mdl001_quality.json": plot_mdl001,
    "mdl001_panel_20k.json": plot_mdl001,
    "mdl003_heldout.json": plot_mdl003,
    "mdl009_heldout.json": plot_mdl009,
}


def plot(name: str) -> bytes:
    if name not in PLOTS:
        raise ResultsError(f"benchmarks/results/{name} has no plot in benchmarks/results_tables.py")
    return PLOTS[name](load(name))


def plot_path(name: str) -> str:
    return f"results/img/{Path(name).stem}.png"


def json_path(name: str) -> str:
    return f"results/json/{name}"


# ---- the README's headline table ---------------------------------------------------------------

def headlines() -> str:
    """One short table, each figure read from its results file, each row linking to its page."""
    q = load("mdl001_sealed.json")
    e = load("mdl005_sealed.json")
    st = load("mdl002_sealed.json")["intervals"]
    ch = load("mdl006_in_loop_sealed.json")
    isp = load("mdl008_sealed.json")
    rep = load("mdl004_sealed.json")["summary"]
    hy, hyl = load("mdl010_sealed.json")["intervals"], load("mdl010_in_loop_sealed.json")
    kr = load("knowledge_rates_sealed.json")
    ks = load("knowledge_start_sealed.json")
    t = load("mdl003_sealed.json")
    w = load("mdl009_sealed.json")
    b = load("bounce_parser.json")
    s = load("simulator.json")
    c = load("content_spam.json")
    g = load("content_gate.json")["summary"]["gated_minus_ungated"]
    hillstrom = load("hillstrom_campaign.json")
    h, hp = hillstrom["uplift"], hillstrom["paired"]
    m = load("bid_prior.json")["horizons"]["7"]
    kpi_data = load("kpi_sealed.json")
    gain = t["intervals"]["ppo"]["gain_vs_best_rule"]
    f3 = "{:.3f}".format

    def pc(x: float) -> str:
        return f"{100 * x:.1f}%"

    typical = w["targets"]["typical"]
    rows = [
        ["MDL-001 deliverability", f"macro ROC-AUC {ci(q['intervals']['macro_roc_auc']['model'], f3)} vs oracle "
         f"{q['intervals']['macro_roc_auc']['oracle']['mean']:.3f}: gap {ci(q['targets']['gap_to_oracle'], f3)} "
         f"(target ≤ 0.03), calibration error {ci(q['targets']['ece'], f3)} (sealed worlds)",
         "[MDL-001](docs/models/mdl-001.md) · `mdl001_sealed.json`"],
        ["MDL-005 engagement", f"P(open) ROC-AUC {ci(e['intervals']['open_roc_auc']['model'], f3)} vs best rule "
         f"{e['intervals']['open_roc_auc']['baseline']['mean']:.3f} and oracle {e['intervals']['open_roc_auc']['oracle']['mean']:.3f}"
         f" (gap {ci(e['targets']['gap_to_oracle'], f3)}, target ≤ 0.02); P(click) "
         f"{ci(e['intervals']['click_roc_auc']['model'], f3)} vs rule {e['intervals']['click_roc_auc']['baseline']['mean']:.3f}; "
         f"calibration error {ci(e['intervals']['open_ece']['model'], f3)} vs rule "
         f"{e['intervals']['open_ece']['baseline']['mean']:.3f} (sealed worlds)",
         "[MDL-005](docs/models/mdl-005.md) · `mdl005_sealed.json`"],
        ["MDL-002 send time", f"opens {ci(st['schedule_lift']['model'], lambda x: f'{x:+.1%}')} over a random hour "
         f"vs the best rule (most frequent open hour) {st['schedule_lift']['baseline']['mean']:+.1%} and the oracle "
         f"{st['schedule_lift']['oracle']['mean']:+.1%}: {pc(st['share_of_oracle_lift']['model']['mean'])} of the "
         f"oracle's lift (target ≥ 90%); its busiest hour carries {pc(st['max_hour_share']['model']['mean'])} of a "
         "campaign (cap 15%; sealed worlds)", "[MDL-002](docs/models/mdl-002.md) · `mdl002_sealed.json`"],
        ["MDL-006 churn and complaint risk", "in the sending loop, complaints per message "
         f"{ci(ch['expected_complaint_rate']['mdl006_policy'], lambda x: pct(x, 3))} under its policy vs "
         f"{pct(ch['expected_complaint_rate']['none']['mean'], 3)} with nobody suppressed; suppressing its riskiest 20%, "
         f"{ci(ch['mdl006_minus_sunset_at_equal_opens_lost']['mdl006_q20'], lambda x: f'{1e5 * x:+.1f}')} per 100,000 "
         f"messages vs the sunset rule at equal opens lost; the oracle, knowing who complains by habit, "
         f"{pct(ch['expected_complaint_rate']['oracle_q5']['mean'], 3)} (target < 0.02%; sealed worlds)",
         "[MDL-006](docs/models/mdl-006.md) · `mdl006_in_loop_sealed.json`"],
        ["MDL-010 list hygiene", f"hard-bounce ROC-AUC {ci(hy['hard_bounce_roc_auc']['model'], f3)} vs the rule's order "
         f"{hy['hard_bounce_roc_auc']['baseline']['mean']:.3f} and the oracle {hy['hard_bounce_roc_auc']['oracle']['mean']:.3f}; "
         f"in the sending loop its policy {ci(hyl['bounce_rate']['mdl010_policy'], lambda x: pct(x, 2))} bounces "
         f"(target < 1%) withholding {hyl['good_withheld']['mdl010_policy']['mean']:.0f} good addresses, "
         f"{ci(hyl['mdl010_minus_rule_at_equal_bounce_rate']['mdl010_policy']['difference'], lambda x: f'{x:+.1f}')} vs "
         "the best rule at the same bounce rate (sealed worlds)",
         "[MDL-010](docs/models/mdl-010.md) · `mdl010_in_loop_sealed.json`"],
        ["MDL-008 ISP behaviour", f"groups of recipient domains vs the providers' hidden classes: ARI "
         f"{ci(isp['grouping']['ari'], f3)} vs the MTA's MX groups {isp['grouping']['ari_rule_mx']['mean']:.3f}; "
         f"a tightened filter flagged in {ci(isp['change']['all']['days_to_flag'], '{:.1f}'.format)} days in "
         f"{isp['change']['all']['flagged_within_week']:.0%} of {isp['change']['all']['worlds']} changes, "
         f"{pct(isp['change']['all']['false_flag_share']['mean'], 0)} of unchanged providers flagged (sealed worlds)",
         "[MDL-008](docs/models/mdl-008.md) · `mdl008_sealed.json`"],
        ["MDL-004 domain reputation", f"a new listing in the next 24 h: ROC-AUC {ci(within(rep['listing_auc_model']), f3)} "
         f"vs the tuned heuristic {rep['listing_auc_heuristic']['mean']:.3f} and the hidden-reputation oracle "
         f"{rep['listing_auc_oracle']['mean']:.3f}; a new block event {ci(within(rep['block_event_auc_model']), f3)} vs "
         f"{rep['block_event_auc_heuristic']['mean']:.3f} and {rep['block_event_auc_oracle']['mean']:.3f}; health score vs "
         f"hidden reputation Spearman {ci(within(rep['spearman_model'], -1.0), f3)} (heuristic "
         f"{rep['spearman_heuristic']['mean']:.3f}); median warning before a listing "
         f"{ci(at_least_zero(rep['warning_hours_model']), '{:.1f}'.format)} h (sealed worlds)",
         "[MDL-004](docs/models/mdl-004.md) · `mdl004_sealed.json`"],
        ["knowledge base", f"learned hourly allowance per IP vs the twin's: mean absolute error "
         f"{ci(kr['mean_abs_error'], pct)} over providers vs {pct(kr['mean_abs_default_error']['mean'], 0)} for spec "
         "§6.2's static defaults (a sender pushing past every allowance); MDL-003 started from it reaches a "
         f"provider's steady throughput in {ks['arms']['knowledge base']['reaching_minutes']['mean']:.1f} min vs "
         f"{ks['arms']['spec defaults']['reaching_minutes']['mean']:.1f} from spec §6.2's defaults (difference "
         f"{ci(ks['difference']['reaching_minutes'], '{:+.1f}'.format)} min; sealed worlds, {ks['training_runs']} runs)",
         "[operations](docs/operations.md#the-knowledge-base-what-each-provider-has-taught-the-sender) · "
         "`knowledge_rates_sealed.json` · `knowledge_start_sealed.json`"],
        ["MDL-003 throttle", f"{ci(gain, lambda x: f'{x:+.0%}')} throughput over the best rule "
         f"({t['targets']['best_rule']}), {pct(t['targets']['rate_block_rate'], 3)} speed-caused blocks, "
         f"{pct(t['targets']['oracle_share'])} of the oracle (sealed worlds, {t['training_runs']} runs)",
         "[MDL-003](docs/models/mdl-003.md) · `mdl003_sealed.json`"],
        ["MDL-009 warm-up", f"typical list: {typical['days_to_full']:.1f} days to full capacity vs "
         f"{typical['best_rule_days_to_full']:.1f} for the best railed rule "
         f"({ci(typical['days_vs_best_rule'], lambda x: f'{x:+.1f}')}; sealed IPs, {w['training_runs']} runs)",
         "[MDL-009](docs/models/mdl-009.md) · `mdl009_sealed.json`"],
        ["MDL-007 content (in progress)", f"spam F1 {ci(c['summary']['ours']['f1'], f3)} at "
         f"{pct(c['summary']['ours']['fpr']['mean'], 2)} false positives vs TF-IDF {c['summary']['tfidf_baseline']['f1']['mean']:.3f} "
         f"and SpamAssassin {c['summary']['spamassassin']['f1']['mean']:.3f} (SpamAssassin corpus, time blocks; "
         "target ≥ 0.99 at ≤ 0.5%)", "[MDL-007](docs/models/mdl-007.md) · `content_spam.json`"],
        ["MDL-007 as the twin's pre-send gate", f"spam placement {ci(g['spam_placement'], lambda x: f'{100 * x:+.1f}')} "
         f"points, blocks {ci(g['block_rate'], lambda x: f'{100 * x:+.2f}')} points, human opens "
         f"{ci(g['human_opens'], lambda x: f'{x:+,.0f}')} vs sending as written (sealed worlds)",
         "[MDL-007](docs/models/mdl-007.md#the-gate-in-the-twin) · `content_gate.json`"],
        ["MKT-001 campaign (in progress)", f"women's e-mail, visit uplift@30% {ci(h['ours']['womens_uplift_at_30'], f3)} "
         f"vs two-model logistic {h['two_model_logistic']['womens_uplift_at_30']['mean']:.3f} (paired "
         f"{ci(hp['womens_uplift_at_30_minus_two_model_logistic'], lambda x: f'{x:+.3f}')}; Qini "
         f"{ci(hp['womens_qini_minus_two_model_logistic'], lambda x: f'{x:+.4f}')}) and class transformation "
         f"{h['class_transformation_gbm']['womens_uplift_at_30']['mean']:.3f} (Hillstrom, 5 splits; target: beat both)",
         "[MKT-001](docs/models/mkt-001.md) · `hillstrom_campaign.json`"],
        ["MKT-002 bid optimiser", f"a new campaign's first week: {ci(m['optimiser_prior']['share_of_oracle'], pc)} of the "
         f"oracle's value with the model as prior vs {pc(m['optimiser_no_prior']['share_of_oracle']['mean'])} from its own "
         f"clicks alone and {pc(m['linear']['share_of_oracle']['mean'])} for linear bidding, the best rule "
         "(marketing twin, second price, sealed worlds, 3 runs)", "[MKT-002](docs/models/mkt-002.md) · `bid_prior.json`"],
        kpi_headline(kpi_data),
        ["bounce parsing", f"outcome class {pct(b['ours']['outcome_class'])}, reason {pct(b['ours']['reason'])} "
         f"on {b['verdicts']} real verdicts", "[results](docs/results.md) · `bounce_parser.json`"],
        ["simulator", f"{num(s['end_to_end'][-1]['events_per_second'])} events/s "
         f"({s['end_to_end'][-1]['subscribers']:,} subscribers × {s['end_to_end'][-1]['days']} days)",
         "[results](docs/results.md) · `simulator.json`"],
    ]
    return table(["what", "headline", "details"], rows, "lll")


def readme_block(text: str) -> str:
    start, end = text.index(HEADLINES_START) + len(HEADLINES_START), text.index(HEADLINES_END)
    return text[start:end].strip()


def write_readme() -> None:
    text = README.read_text()
    start, end = text.index(HEADLINES_START) + len(HEADLINES_START), text.index(HEADLINES_END)
    README.write_text(text[:start] + "\n" + headlines() + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="rewrite the README's headline table")
    parser.add_argument("name", nargs="?", help="print one results file's table")
    args = parser.parse_args()
    if args.readme:
        write_readme()
    if args.name:
        print(render(args.name))


if __name__ == "__main__":
    main()
