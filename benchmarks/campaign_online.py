"""MKT-001 learning online, on the Hillstrom experiment's unseen customers: feedback streamed in
batches of 250, steady or with a scripted change half way, and what the online updates and the
drift watch do with it.

The network is trained as the pipeline's quick profile trains it (split 0). Streams draw the
split's customers at random (with replacement): the validation rows choose the learning rate, the
test rows (never seen in training or choosing) give the figures. Two changes, each from the
stream's middle on:
- **visits fall**: a third of the visits (and the purchases after them) are lost, whatever the
  e-mail (the site's traffic drops);
- **the women's e-mail wears out**: 30% of the visits after a women's e-mail are lost (its uplift
  over no e-mail roughly halves), the other e-mails unchanged.

Per stream: whether and when the watch fired (ADWIN on the champion's visit errors: pooled, or
also per e-mail sent, as validation chooses), and the visit
log loss of the champion (frozen) and of the online-updated network on each batch before it is
learned from (prequential), over the stream's second half. Means over streams with 95% intervals.

Run: `.venv/bin/python benchmarks/campaign_online.py` (writes benchmarks/results/campaign_online.json
and campaign_online.png).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom, training
from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet
from adaptive_delivery.marketing.models.mkt001_campaign.online import (
    DEFAULT_WATCH,
    LEARNING_RATE,
    WATCHES,
    OnlineCampaign,
)
from adaptive_delivery.platform import protocol
from adaptive_delivery.platform.spec import get

BATCH = 250
STREAM_ROWS = 40_000
SCENARIOS = ("steady", "visits_fall", "womens_wears_out")
LEARNING_RATES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
CHOICE_STREAMS = 3
WATCH_CHOICE_STREAMS = 6  # per scenario, for the choice of the drift watch
_DATA: dict[str, object] = {}


def _setup(network_file: str, part: str) -> None:
    """Each worker: the network and the part's customers."""
    frame = hillstrom.read()
    rows = getattr(hillstrom.split(frame, 0), part)
    _DATA.update(net=ArrayNet.load(network_file), x=hillstrom.encode(frame)[rows], arm=hillstrom.arms_of(frame)[rows],
                 y=hillstrom.outcomes_of(frame)[rows])


def scripted(scenario: str, arm: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The outcomes with the scenario's change applied from the stream's middle on."""
    y = y.copy()
    late = np.arange(len(y)) >= len(y) // 2
    if scenario == "visits_fall":
        lost = late & (y[:, 0] == 1) & (rng.random(len(y)) < 1 / 3)
    elif scenario == "womens_wears_out":
        lost = late & (arm == 2) & (y[:, 0] == 1) & (rng.random(len(y)) < 0.3)
    else:
        lost = np.zeros(len(y), bool)
    y[lost] = 0
    return y


def _loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def run_stream(seed: int, scenario: str, learning_rate: float, watch: str = "pooled") -> dict[str, float]:
    net, x, arm, y = _DATA["net"], _DATA["x"], _DATA["arm"], _DATA["y"]
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario)])
    pick = rng.integers(0, len(x), STREAM_ROWS)
    xs, arms = x[pick], arm[pick]
    ys = scripted(scenario, arms, y[pick], rng)
    learner = OnlineCampaign(net, learning_rate=learning_rate, watch=watch)
    champion_loss, online_loss = [], []
    for start in range(0, STREAM_ROWS, BATCH):
        rows = slice(start, start + BATCH)
        if start >= STREAM_ROWS // 2:
            at = np.arange(BATCH)
            champion_loss.append(_loss(net.predict(xs[rows])[at, arms[rows], 0], ys[rows, 0]))
            online_loss.append(_loss(learner.network().predict(xs[rows])[at, arms[rows], 0], ys[rows, 0]))
        learner.update(xs[rows], arms[rows], ys[rows])
    detections = learner.detections
    after = [d - STREAM_ROWS // 2 for d in detections if d > STREAM_ROWS // 2]
    return {"alarms": float(len(detections)), "alarms_before_change": float(sum(d <= STREAM_ROWS // 2 for d in detections)),
            "detected": float(bool(after)), "delay_rows": float(after[0]) if after else float("nan"),
            "champion_loss": float(np.mean(champion_loss)), "online_loss": float(np.mean(online_loss)),
            "online_minus_champion": float(np.mean(online_loss) - np.mean(champion_loss))}


def _cells(pool, streams: int, scenario: str, learning_rate: float, first_seed: int,
           watch: str = "pooled") -> list[dict[str, float]]:
    seeds = list(range(first_seed, first_seed + streams))
    return list(pool.map(run_stream, seeds, [scenario] * streams, [learning_rate] * streams, [watch] * streams))


def _summary(cells: list[dict[str, float]]) -> dict[str, dict]:
    out = {}
    for name in cells[0]:
        values = [c[name] for c in cells if np.isfinite(c[name])]
        out[name] = protocol.interval(values).to_dict() if len(values) >= 2 else {"mean": float(np.mean(values)) if values else None, "n": len(values)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=20)
    args = parser.parse_args(argv)
    command = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    workers = min(2, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        trained = training.train_and_save(get("MKT-001").policy_trainer.timesteps["quick"], 0, Path(tmp))
        network_file = str(training.export_network(trained, Path(tmp) / "model"))
        choice = {}
        with ProcessPoolExecutor(workers, initializer=_setup, initargs=(network_file, "validation")) as pool:
            for lr in LEARNING_RATES:  # the lowest mean online loss over every scenario's second half
                cells = [c for s in SCENARIOS for c in _cells(pool, CHOICE_STREAMS, s, lr, 1_000)]
                choice[str(lr)] = float(np.mean([c["online_loss"] for c in cells]))
                print("validation", lr, round(choice[str(lr)], 5), flush=True)
            chosen = float(min(choice, key=choice.get))
            watches = {}
            for watch in WATCHES:  # the most changes found, with no alarm before a change
                cells = {s: _cells(pool, WATCH_CHOICE_STREAMS, s, chosen, 2_000, watch) for s in SCENARIOS}
                early = sum(c["alarms_before_change"] for s in SCENARIOS for c in cells[s])
                found = float(np.mean([c["detected"] for s in SCENARIOS[1:] for c in cells[s]]))
                watches[watch] = {"alarms_before_change": early, "detected": found}
                print("validation", watch, watches[watch], flush=True)
            quiet = [w for w in WATCHES if watches[w]["alarms_before_change"] == 0] or ["pooled"]
            watch_chosen = max(quiet, key=lambda w: (watches[w]["detected"], w == "pooled"))
        report: dict[str, object] = {"streams": args.streams, "stream_rows": STREAM_ROWS, "batch": BATCH,
                                     "learning_rate": chosen, "validation": choice, "watch": watch_chosen,
                                     "watch_validation": watches, "scenarios": {}}
        with ProcessPoolExecutor(workers, initializer=_setup, initargs=(network_file, "test")) as pool:
            for scenario in SCENARIOS:
                cells = _cells(pool, args.streams, scenario, chosen, 0, watch_chosen)
                report["scenarios"][scenario] = {"summary": _summary(cells), "per_stream": cells}
                print(scenario, {k: v.get("mean") for k, v in report["scenarios"][scenario]["summary"].items()},
                      flush=True)
    print(write_results("campaign_online.json", report, command))
    if chosen != LEARNING_RATE or watch_chosen != DEFAULT_WATCH:
        print(f"validation chose learning rate {chosen} and watch {watch_chosen!r}, not the served "
              f"{LEARNING_RATE} and {DEFAULT_WATCH!r}: change them in online.py", flush=True)


if __name__ == "__main__":
    main()
