"""Whether a throttle has anything to act on in the KPI run's worlds: every message the twin's senders
plan over a KPI world's history and future (all of it sent), the share that went out in an hour
whose mail pushed its sending IP past the provider's hidden hourly allowance (the twin's pressure),
and a bound that holds for any schedule: a whole day's planned mail from one IP to one provider
against one hour's allowance. Every sender of the KPI run sends a part of the planned mail, so
where that bound stays under 1, no schedule, throttle or warm-up decision of any sender reaches an
allowance, and spec §11's throughput line is judged where allowances bind: MDL-003's and MDL-009's
environments.

Run: `.venv/bin/python benchmarks/kpi_allowance.py --seeds 1001-1005`
(writes benchmarks/results/kpi_allowance.json).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

import numpy as np
from provenance import write_results

from adaptive_delivery.delivery.kpi.harness import KpiSize
from adaptive_delivery.platform.protocol import require_unsealed
from adaptive_delivery.twin.simulator import World


def world_pressure(seed: int, size: KpiSize) -> dict[str, object]:
    """One world's messages, the share sent in an hour over its allowance, and the highest ratio of
    a day's mail (one IP, one provider) to one hour's allowance, overall and per provider."""
    world = World(size.config(seed))
    pressure: list[np.ndarray] = []
    day_over_hour: list[np.ndarray] = []
    providers: list[np.ndarray] = []
    for _ in range(size.history_days + size.days):
        result = world.step_day()
        if not result.truth:
            continue
        m = result.truth["messages"]
        pressure.append(m.column("pressure").to_numpy())
        day_over_hour.append(_day_over_hour(result))
        providers.append(m.column("provider").to_numpy(zero_copy_only=False))
    p, used, prov = np.concatenate(pressure), np.concatenate(day_over_hour), np.concatenate(providers)
    by_provider = {str(name): {"messages": int((prov == name).sum()), "over_allowance": float((p[prov == name] > 0).mean()),
                               "highest_day_over_hour": float(used[prov == name].max())}
                   for name in np.unique(prov)}
    return {"seed": seed, "messages": int(p.size), "over_allowance": float((p > 0).mean()),
            "highest_day_over_hour": float(used.max()), "by_provider": by_provider}


def _day_over_hour(result) -> np.ndarray:
    """Per message: the day's messages from its IP to its provider over that pair's smallest hourly
    allowance of the day (what any schedule could at most put into one hour)."""
    sends = result.events["sends"].select(["message_id", "sending_ip"]).to_pandas()
    truth = result.truth["messages"].select(["message_id", "provider", "hourly_limit"]).to_pandas()
    frame = truth.merge(sends, on="message_id", how="left")
    pair = frame.groupby(["sending_ip", "provider"])
    count, limit = pair["message_id"].transform("size"), pair["hourly_limit"].transform("min")
    return (count / limit.clip(lower=1.0)).to_numpy(dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1001-1005")
    args = parser.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = require_unsealed(range(int(lo), int(hi or lo) + 1))
    size = KpiSize()
    worlds = []
    for seed in seeds:
        worlds.append(world_pressure(seed, size))
        print(f"world {seed}: {worlds[-1]['messages']:,} messages, {worlds[-1]['over_allowance']:.4%} over the "
              f"allowance; a day's mail is at most {worlds[-1]['highest_day_over_hour']:.2f} of an hour's allowance",
              flush=True)
    report = {"size": asdict(size), "seeds": list(seeds), "messages": sum(w["messages"] for w in worlds),
              "over_allowance": float(np.mean([w["over_allowance"] for w in worlds])),
              "highest_day_over_hour": max(w["highest_day_over_hour"] for w in worlds), "worlds": worlds}
    print(write_results("kpi_allowance.json", report))


if __name__ == "__main__":
    main()
