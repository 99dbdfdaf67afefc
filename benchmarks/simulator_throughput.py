"""Simulator throughput: events written per second, and the vectorised outcome step versus a
per-message Python loop doing the same computation (the baseline), side by side.

Run: `make bench` (or `.venv/bin/python benchmarks/simulator_throughput.py [--quick]`).
Writes benchmarks/results/simulator.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.twin import dynamics as dyn
from adaptive_delivery.twin.config import WorldConfig
from adaptive_delivery.twin.simulator import World, simulate


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.parquet")):
        h.update(f.read_bytes())
    return h.hexdigest()


def end_to_end(subscribers: int, days: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="ad-bench-"))
    t0 = time.perf_counter()
    result = simulate(WorldConfig(subscribers=subscribers, days=days, seed=1), out, progress=False)
    seconds = time.perf_counter() - t0
    events = sum(result["events"].values())
    digest = _digest(out)
    size = sum(f.stat().st_size for f in out.rglob("*.parquet"))
    shutil.rmtree(out)
    return {"subscribers": subscribers, "days": days, "seconds": round(seconds, 2), "events": events,
            "events_per_second": round(events / seconds), "bytes_on_disk": size, "sha256": digest}


def _scalar_outcomes(provider, rep, pressure, invalid, full, engagement, spam, quality, age, noise) -> np.ndarray:
    """The baseline: the same law, one message at a time, as a per-message loop would do it."""
    out = np.empty((len(provider), dyn.N_CLASSES))
    for i in range(len(provider)):
        p = dyn.outcome_probabilities(
            provider=np.array([provider[i]]), reputation=rep[i], pressure=pressure[i], blocklisted=False,
            spf_or_dkim=True, dmarc=True, one_click=True, address_invalid=invalid[i], mailbox_full=full[i],
            engagement=engagement[i], spamminess=spam[i], quality=quality[i], domain_age_days=age[i],
            complaint_rate=0.0003, subscriber_noise=noise[i],
        )
        out[i] = p.matrix()[0]
    return out


def outcome_step(n: int) -> dict:
    """Time the per-message outcome law over the messages of one simulated day, both ways."""
    world = World(WorldConfig(subscribers=max(n * 2, 2000), days=1, seed=3))
    rng = np.random.default_rng(0)
    msgs = world._plan_sends(rng, 0, 0)
    k = min(n, msgs["sub"].size)
    sub = msgs["sub"][:k]
    args = dict(
        provider=msgs["provider"][:k], rep=np.full(k, 75.0), pressure=rng.uniform(0, 1, k),
        invalid=(world.pop.invalid_from[sub] <= 0).astype(float), full=world.pop.mailbox_full[sub].astype(float),
        engagement=dyn.sigmoid(world.pop.engagement_logit[sub]), spam=rng.uniform(0, 1, k), quality=rng.uniform(0, 1, k),
        age=np.full(k, 400.0), noise=world.pop.noise[sub],
    )
    t0 = time.perf_counter()
    vec = dyn.outcome_probabilities(
        provider=args["provider"], reputation=args["rep"], pressure=args["pressure"], blocklisted=False, spf_or_dkim=True,
        dmarc=True, one_click=True, address_invalid=args["invalid"], mailbox_full=args["full"], engagement=args["engagement"],
        spamminess=args["spam"], quality=args["quality"], domain_age_days=args["age"], complaint_rate=0.0003,
        subscriber_noise=args["noise"],
    ).matrix()
    t_vec = time.perf_counter() - t0
    m = min(k, 5_000)  # the loop is slow: time a slice and report per-message rates
    t0 = time.perf_counter()
    loop = _scalar_outcomes(*(args[a][:m] for a in ("provider", "rep", "pressure", "invalid", "full", "engagement", "spam",
                                                      "quality", "age", "noise")))
    t_loop = time.perf_counter() - t0
    assert np.allclose(loop, vec[:m]), "the baseline and the vectorised law disagree"
    vec_rate, loop_rate = k / t_vec, m / t_loop
    return {"messages": k, "vectorised_msgs_per_s": round(vec_rate), "python_loop_msgs_per_s": round(loop_rate),
            "speedup": round(vec_rate / loop_rate, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes only (seconds, not minutes)")
    args = parser.parse_args()
    sizes = [(10_000, 7), (20_000, 14)] if args.quick else [(10_000, 7), (100_000, 30)]
    report = {"machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
              "end_to_end": [end_to_end(n, d) for n, d in sizes], "outcome_step": outcome_step(50_000)}
    again = end_to_end(*sizes[0])
    report["deterministic"] = again["sha256"] == report["end_to_end"][0]["sha256"]
    write_results("simulator.json", report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
