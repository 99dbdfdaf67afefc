"""The evaluation report of a classifier on its holdout: our metrics beside the simulator oracle's,
the confusion matrix, feature importance, a reliability plot, and what the action policy would do.
Written as a self-contained HTML page (plot embedded) plus the plot as PNG.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix


def reliability_plot(y: np.ndarray, proba: np.ndarray, classes: tuple[str, ...], path: Path,
                     oracle: np.ndarray | None = None, bins: int = 10) -> Path:
    """Per class: mean predicted probability vs observed frequency (and the oracle's, when known)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(classes), figsize=(3.2 * len(classes), 3.2), sharey=True)
    for i, (ax, name) in enumerate(zip(np.atleast_1d(axes), classes, strict=True)):
        for scores, label, style in ((proba, "model", "o-"), (oracle, "oracle", "s--")):
            if scores is None:
                continue
            s = scores[:, i]
            edges = np.quantile(s, np.linspace(0, 1, bins + 1))
            idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, bins - 1)
            xs = [s[idx == b].mean() for b in range(bins) if (idx == b).any()]
            ys = [(y[idx == b] == i).mean() for b in range(bins) if (idx == b).any()]
            ax.plot(xs, ys, style, ms=3, label=label)
        top = max(float(proba[:, i].max()), 1e-3)
        ax.plot([0, top], [0, top], color="grey", lw=0.8)
        ax.set_title(name)
        ax.set_xlabel("predicted")
    np.atleast_1d(axes)[0].set_ylabel("observed")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def write_html(path: Path, title: str, metrics: dict[str, float], oracle: dict[str, float] | None,
               y: np.ndarray, proba: np.ndarray, classes: tuple[str, ...], importance: dict[str, float],
               plot: Path, actions: pd.DataFrame | None = None, clairvoyant: dict[str, float] | None = None) -> Path:
    """A single page a reviewer can open from the MLflow UI."""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td><td>{_fmt(oracle.get(k)) if oracle else '—'}</td>"
        f"<td>{_fmt(clairvoyant.get(k)) if clairvoyant else '—'}</td></tr>"
        for k, v in metrics.items())
    cm = confusion_matrix(y, proba.argmax(axis=1), labels=list(range(len(classes))))
    cm_rows = "".join(f"<tr><th>{c}</th>" + "".join(f"<td>{n:,}</td>" for n in cm[i]) + "</tr>"
                      for i, c in enumerate(classes))
    imp_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.3f}</td></tr>" for k, v in list(importance.items())[:20])
    img = base64.b64encode(plot.read_bytes()).decode()
    act = actions.to_html(index=False, float_format=lambda v: f"{v:.3f}") if actions is not None else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Holdout metrics: model and simulator oracles</h2>
<p>oracle: the true outcome probabilities given the world's laws and hidden traits, with each address's
hidden state (dead, mailbox full) as far as the sender's records show it — the best any model could do.
Clairvoyant: also knows that state on the day of sending, which no record shows (an upper bound no model reaches).</p>
<table><tr><th>metric</th><th>model</th><th>oracle</th><th>clairvoyant</th></tr>{rows}</table>
<h2>Confusion matrix (rows: true class, columns: predicted)</h2>
<table><tr><th></th>{''.join(f'<th>{c}</th>' for c in classes)}</tr>{cm_rows}</table>
<h2>Reliability</h2><img src="data:image/png;base64,{img}" style="max-width:100%">
<h2>What the action policy does on the holdout</h2>{act}
<h2>Feature importance (gain share, top 20)</h2><table>{imp_rows}</table>
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def action_table(actions: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """Per action: its share of messages and the true outcome mix of those messages."""
    frame = pd.DataFrame({"action": actions, "outcome": np.asarray(classes)[y]})
    mix = pd.crosstab(frame["action"], frame["outcome"], normalize="index").reindex(columns=list(classes), fill_value=0.0)
    mix.insert(0, "share", frame["action"].value_counts(normalize=True).reindex(mix.index))
    return mix.reset_index()
