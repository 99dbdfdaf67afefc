"""Aggregate rates of a simulated world, to compare with published industry figures.

Published targets for an average sender without optimisation (spec §11 baseline and the
providers' own pages): inbox placement ~85%, bounces ~3%, blocks ~1%, complaints ~0.05%,
opens in the tens of percent; Gmail/Yahoo ask for complaints below 0.1% and never 0.3%.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

TARGETS = {
    "inbox_rate": (0.85, "share of sent messages placed in the inbox"),
    "bounce_rate": (0.03, "hard + soft bounces per message sent"),
    "block_rate": (0.01, "messages refused as blocks per message sent"),
    "complaint_rate": (0.0005, "spam complaints per message sent (all providers, incl. those without FBL)"),
    "open_rate": (0.20, "human (non-machine) unique opens per delivered message"),
}


def truth_messages(out: str | Path) -> pa.Table:
    """The per-message truth table of a simulated world (read once, reuse for several summaries)."""
    return ds.dataset(Path(out) / "truth" / "messages", format="parquet", partitioning="hive").to_table()


def world_rates(out: str | Path | pa.Table, by: str | None = None) -> dict[str, dict[str, float]]:
    """Rates per `by` column of the truth table (e.g. 'org_id', 'provider') or overall ('all');
    `out` is a world folder or its already-read truth table."""
    t = out if isinstance(out, pa.Table) else truth_messages(out)
    keys = ["all"] if by is None else sorted(set(t.column(by).to_pylist()))
    result: dict[str, dict[str, float]] = {}
    for key in keys:
        sub = t if by is None else t.filter(pc.equal(t.column(by), key))
        n = sub.num_rows
        cls = sub.column("true_class")

        def share(value: str, cls=cls, n=n) -> float:
            return pc.sum(pc.equal(cls, value).cast(pa.int64())).as_py() / max(n, 1)

        delivered = share("inbox") + share("spam")
        opens = pc.sum(sub.column("human_open").cast(pa.int64())).as_py()
        result[key] = {
            "messages": float(n),
            "inbox_rate": share("inbox"),
            "spam_rate": share("spam"),
            "bounce_rate": share("hard_bounce") + share("soft_bounce"),
            "hard_bounce_rate": share("hard_bounce"),
            "block_rate": share("block"),
            "complaint_rate": pc.sum(sub.column("complained").cast(pa.int64())).as_py() / max(n, 1),
            "open_rate": opens / max(delivered * n, 1),
        }
    return result
