"""The KPI report: spec §11's table for business as usual, adaptive and oracle (mean and 95%
interval over the worlds, each stated as met or missed and by how much), the volume each sent, the
ablations (what each learned part brought: adaptive minus adaptive without it, world by world; for a
challenger the adaptive sender does not ship, adaptive with it minus adaptive), and
the per-provider breakdown; as JSON and as an HTML page with plots."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from adaptive_delivery.delivery.kpi import senders as sd
from adaptive_delivery.delivery.kpi.measure import EXPECTED_RATES, RATES, TARGETS, lift
from adaptive_delivery.platform.protocol import interval

MAIN = (sd.BUSINESS_AS_USUAL.name, sd.ADAPTIVE.name, sd.ORACLE.name)
# which way is better for each rate a part can move (the verdict on an ablation)
BETTER_HIGHER = {"inbox_placement": True, "bounce_rate": False, "block_rate": False, "complaint_rate": False,
                 "open_rate": True, "unsubscribe_rate": False, "human_opens": True, "expected_inbox_placement": True,
                 "expected_bounce_rate": False, "expected_block_rate": False, "expected_open_rate": True}
VOLUMES = ("sent", "human_opens", "complaints")
# the headline's paired differences, world by world: what the system gains over the rules, and what
# the oracle still gains over the system
PAIRS = ((sd.ADAPTIVE.name, sd.BUSINESS_AS_USUAL.name), (sd.ORACLE.name, sd.ADAPTIVE.name))
# §11's lines no sender of this run can move yet, and why (said in the report, not left out)
NOT_IN_THE_LOOP = {
    "throughput_lift": "the twin's sending loop sends at each sender's fixed rate; MDL-003 and MDL-009 are "
                       "judged in their own environments (mdl003_sealed.json, mdl009_sealed.json)",
}


def _cell(values: list[float]) -> dict[str, float]:
    return interval(np.asarray(values, dtype=float)).to_dict()


def verdict(parts: dict[str, dict]) -> dict[str, list[str]]:
    """Where a part's interval lies wholly on one side of no change: the metrics it improved and
    the ones it made worse (where a rule beats a model, the report says so)."""
    found: dict[str, list[str]] = {"better": [], "worse": []}
    for metric, higher in BETTER_HIGHER.items():
        cell = parts.get(metric)
        if cell is None or not np.isfinite(cell["low"]):
            continue
        if cell["low"] > 0 or cell["high"] < 0:
            found["better" if (cell["low"] > 0) == higher else "worse"].append(metric)
    return found


def _mean(values: list) -> float | None:
    """The mean of the values a world has (None: no world has one)."""
    found = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(found)) if found else None


def summarise(worlds: list[dict], *, size: dict, rules: dict, seeds_kind: str) -> dict[str, object]:
    """The report's numbers from every world's `run_world` result."""
    names = [n for n in worlds[0]["senders"] if all(n in w["senders"] for w in worlds)]

    def per_world(name: str, metric: str) -> list[float]:
        values = [w["senders"][name][metric] for w in worlds]
        return [float("nan") if v is None else float(v) for v in values]

    measured = [m for m in (*RATES, *EXPECTED_RATES, *VOLUMES) if all(m in w["senders"][names[0]] for w in worlds)]
    metrics = {name: {m: _cell(per_world(name, m)) for m in measured} for name in names}
    for name in names:  # where MDL-001 decided: its most likely class against the true one, per message
        accuracy = [a for a in per_world(name, "prediction_accuracy") if np.isfinite(a)]
        if accuracy:  # the worlds where MDL-001 was served
            metrics[name]["prediction_accuracy"] = _cell(accuracy)
    table: dict[str, dict] = {}
    for m in ("inbox_placement", "bounce_rate", "block_rate", "complaint_rate", "prediction_accuracy"):
        target = TARGETS[m]
        table[m] = {"baseline": target.baseline, "target": target.target,
                    "higher_is_better": target.higher_is_better,
                    **{n: {**metrics[n][m], "met": target.met(metrics[n][m]["mean"]),
                           "missed_by": target.missed_by(metrics[n][m]["mean"])}
                       for n in MAIN if n in metrics and m in metrics[n]}}
    target = TARGETS["open_rate_lift"]
    table["open_rate_lift"] = {"baseline": None, "target": target.target, "higher_is_better": True, **{
        n: {**(cell := _cell([lift(a, b) for a, b in zip(per_world(n, "open_rate"), per_world(MAIN[0], "open_rate"),
                                                          strict=True)])),
            "met": target.met(cell["mean"]), "missed_by": target.missed_by(cell["mean"])}
        for n in MAIN[1:] if n in metrics}}
    for m, why in NOT_IN_THE_LOOP.items():
        table[m] = {"baseline": None, "target": TARGETS[m].target, "higher_is_better": True, "not_measured": why}

    def difference(a: str, b: str) -> dict[str, dict]:
        """a − b on every measured metric, world by world (the same world's draws: paired)."""
        return {m: _cell([x - y for x, y in zip(per_world(a, m), per_world(b, m), strict=True)]) for m in measured}

    ablations, challengers = {}, []
    for name in names:  # what a part brings: adaptive minus adaptive without it, or a challenger's trial minus adaptive
        model = name.removeprefix(f"{sd.ADAPTIVE.name}{sd.WITHOUT}")
        if model != name:
            ablations[model] = difference(sd.ADAPTIVE.name, name)
        model = name.removeprefix(f"{sd.ADAPTIVE.name}{sd.WITH}")
        if model != name:
            challengers.append(model)
            ablations[model] = difference(name, sd.ADAPTIVE.name)
    verdicts = {model: verdict(parts) for model, parts in ablations.items()}
    paired = {f"{a}_minus_{b}": difference(a, b) for a, b in PAIRS if a in metrics and b in metrics}
    providers = sorted({p for w in worlds for n in MAIN if n in w["senders"] for p in w["senders"][n]["by_provider"]})
    by_provider = {n: {p: {m: _mean([w["senders"][n]["by_provider"].get(p, {}).get(m) for w in worlds])
                           for m in ("sent", *RATES)} for p in providers} for n in MAIN if n in metrics}
    # worlds where each model's gate promoted it (a world kept from before gates were recorded: served)
    served = {m: sum(bool(w.get("gates", {}).get(m, {}).get("promoted", True)) for w in worlds)
              for m in sorted({m for w in worlds for m in w.get("gates", {})})}
    return {"worlds": len(worlds), "seeds": [w["seed"] for w in worlds], "seeds_kind": seeds_kind, "size": size,
            "rules": rules, "senders": names, "metrics": metrics, "section_11": table, "paired": paired,
            "ablations": ablations,
            "ablation_verdicts": verdicts, "served": served, "challengers": challengers,
            "by_provider": by_provider, "per_world": worlds}


# ---- HTML ------------------------------------------------------------------------------------
def _fmt(metric: str, cell: dict) -> str:
    if metric in VOLUMES or metric == "sent":
        return f"{cell['mean']:,.0f} [{cell['low']:,.0f}, {cell['high']:,.0f}]"
    scale, unit = (100.0, "%")
    return f"{cell['mean'] * scale:.3f}{unit} [{cell['low'] * scale:.3f}, {cell['high'] * scale:.3f}]"


def plot_png(summary: dict) -> bytes:
    """§11's rates and the open rate for the three senders, with their intervals and the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ("inbox_placement", "bounce_rate", "block_rate", "complaint_rate", "open_rate")
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.2))
    names = [n for n in MAIN if n in summary["metrics"]]
    for ax, m in zip(axes, shown, strict=True):
        cells = [summary["metrics"][n][m] for n in names]
        means = np.array([c["mean"] for c in cells]) * 100
        err = np.array([[c["mean"] - c["low"], c["high"] - c["mean"]] for c in cells]).T * 100
        ax.bar(range(len(names)), means, yerr=np.nan_to_num(err), color=["#999999", "#1f77b4", "#2ca02c"][: len(names)])
        if m in TARGETS:
            ax.axhline(TARGETS[m].target * 100, color="#d62728", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(names)), [n.replace("_", " ") for n in names], rotation=20, fontsize=7)
        ax.set_title(f"{m.replace('_', ' ')} (%)", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _row(label: str, cells: list[str]) -> str:
    return f"<tr><td>{label}</td>{''.join(f'<td>{c}</td>' for c in cells)}</tr>"


def to_html(summary: dict) -> str:
    names = [n for n in MAIN if n in summary["metrics"]]
    rows = []
    for m, line in summary["section_11"].items():
        if "not_measured" in line:
            rows.append(f"<tr><td>{m}</td><td colspan='{len(names)}'>not measured: {html.escape(line['not_measured'])}"
                        f"</td><td>{line['target']}</td></tr>")
            continue
        cells = []
        for n in names:
            cell = line.get(n)
            if cell is None:
                cells.append("<td>—</td>")
                continue
            verdict = "met" if cell["met"] else f"missed by {cell['missed_by'] * 100:.3f} pt"
            cells.append(f"<td>{_fmt(m, cell)}<br><small>{verdict}</small></td>")
        rows.append(f"<tr><td>{m}</td>{''.join(cells)}<td>{line['target'] * 100:.3f}%</td></tr>")
    head = "".join(f"<th>{n}</th>" for n in names)
    volume = "".join(_row(v, [_fmt(v, summary["metrics"][n][v]) for n in names]) for v in VOLUMES)
    ablation = "".join(_row(model, [_fmt(m, cell) for m, cell in parts.items() if m in RATES])
                       for model, parts in summary["ablations"].items())
    rate_heads = "".join(f"<th>{m}</th>" for m in RATES)
    pair_heads = "".join(f"<th>{html.escape(pair.replace('_minus_', ' − '))}</th>" for pair in summary["paired"])
    paired = "".join(_row(m, [_fmt(m, cells[m]) for cells in summary["paired"].values()])
                     for m in (*RATES, *VOLUMES) if all(m in cells for cells in summary["paired"].values()))
    served = ", ".join(f"{m} in {k} of {summary['worlds']}" for m, k in summary.get("served", {}).items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Adaptive Delivery KPI report</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}table{{border-collapse:collapse}}</style>
</head><body><h1>Spec §11: business as usual, adaptive, oracle</h1>
<p>{summary['worlds']} {summary['seeds_kind']} worlds ({', '.join(map(str, summary['seeds']))}); mean [95% interval];
every rate per message sent, placement on the twin's truth.</p>
<p>Models their gates promoted (served; elsewhere the part ran the rule): {served or 'not recorded'}.</p>
<table><tr><th>metric</th>{head}<th>target</th></tr>{''.join(rows)}</table>
<h2>Volume</h2><table><tr><th></th>{head}</tr>{volume}</table>
<h2>Paired differences, world by world</h2><table><tr><th></th>{pair_heads}</tr>{paired}</table>
<h2>Ablations: adaptive minus adaptive without the model (a challenger: adaptive with it, minus adaptive)</h2>
<table><tr><th>model</th>{rate_heads}</tr>{ablation}</table>
<img src="data:image/png;base64,{base64.b64encode(plot_png(summary)).decode()}" alt="spec section 11 rates"></body></html>"""


def write(summary: dict, out: Path) -> tuple[Path, Path]:
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / "kpi.json").write_text(json.dumps(summary, indent=2, default=float))
    (out / "kpi.html").write_text(to_html(summary))
    return out / "kpi.json", out / "kpi.html"
