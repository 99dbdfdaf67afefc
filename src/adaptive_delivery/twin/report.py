"""What a simulated run looks like: calibration against published figures, and a picture."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from adaptive_delivery.twin.calibration import TARGETS, truth_messages, world_rates


def daily_rates(truth: pa.Table) -> pd.DataFrame:
    """Per day and sender: the share of each true outcome, opens and mean reputation."""
    t = truth.select(["date", "org_id", "true_class", "human_open", "complained", "reputation"]).to_pandas()
    t["date"] = pd.to_datetime(t["date"].astype(str))
    out_df = t.groupby(["date", "org_id"]).agg(
        messages=("true_class", "size"),
        inbox=("true_class", lambda s: (s == "inbox").mean()),
        spam=("true_class", lambda s: (s == "spam").mean()),
        bounce=("true_class", lambda s: s.isin(["hard_bounce", "soft_bounce"]).mean()),
        block=("true_class", lambda s: (s == "block").mean()),
        complaint=("complained", "mean"),
        reputation=("reputation", "mean"),
    )
    return out_df.reset_index()


def write_report(out: str | Path) -> dict:
    """Write calibration.json and world.png next to the lake; return the calibration table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    truth = truth_messages(out)
    rates = world_rates(truth, by="org_id")
    overall = world_rates(truth)["all"]
    table = {"targets": {k: v[0] for k, v in TARGETS.items()}, "overall": overall, "by_sender": rates}
    (out / "calibration.json").write_text(json.dumps(table, indent=2))
    df = daily_rates(truth)
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    for ax, col, title in zip(axes.ravel(), ("inbox", "block", "bounce", "reputation"),
                              ("inbox placement", "blocks", "bounces", "reputation (0-100)"), strict=False):
        for org, g in df.groupby("org_id"):
            ax.plot(g["date"], g[col], marker=".", label=org)
        if col in TARGETS or f"{col}_rate" in TARGETS:
            ax.axhline(TARGETS[f"{col}_rate"][0], color="grey", ls="--", lw=1, label="published average")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.autofmt_xdate()
    fig.suptitle("Simulated world: daily true outcomes per sender")
    fig.tight_layout()
    fig.savefig(out / "world.png", dpi=110)
    plt.close(fig)
    return table
