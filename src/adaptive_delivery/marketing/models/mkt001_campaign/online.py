"""MKT-001 learning online between its weekly retrainings, from the campaign's feedback as it
streams in (one event per customer whose two weeks after an e-mail are over: their fields, the
e-mail sent, whether they visited and whether they bought).

- **Online gradient descent.** Each member's output layer takes a gradient step per batch of
  feedback on the outcomes of the e-mail actually sent (`platform.online.sgd.LogisticHead`, pulled
  towards the trained weights); the trunk is the retrained model's. The updated network saves in
  the registered format, so the serving runtime loads it as it loads a retrained one.
- **Drift.** ADWIN watches the champion's visit errors (the registered network, frozen); and every
  `STABILITY_WINDOW` customers, the platform's PSI and KS compare their fields with the training
  customers' (a sample exported with the network) and the champion's mean prediction with the
  visits seen (`platform.monitoring.stability`). A detection asks for a retraining with the reason
  (`platform.online.retraining`), which the monitoring DAG triggers; moved fields retrain only a
  model whose spec says drift retrains it, else they alert.
- **Feedback from the stream** (`FeedbackSink`, a `platform.streams` sink): every entry is accepted,
  quarantined with its reason (not JSON, a missing or invalid field, an outcome that is not 0 or 1,
  a purchase without a visit) or dropped as a duplicate of a feedback id already learned from:
  entries in = accepted + quarantined + duplicates, and a batch delivered again after a crash
  teaches nothing twice."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom
from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet
from adaptive_delivery.platform.monitoring.stability import check_stability
from adaptive_delivery.platform.online.retraining import request_retraining
from adaptive_delivery.platform.online.sgd import ADWIN_DELTA, PROXIMAL, ErrorDrift, LogisticHead
from adaptive_delivery.platform.streams import Entry

MODEL_ID = "MKT-001"
FEEDBACK_KIND = "campaign_feedback"
FEEDBACK_ID = "feedback_id"
MAX_ID_CHARS = 200  # an id is a key, one line of the id file: no line breaks, no pages of text
EMAIL = "email"
FEEDBACK_FIELDS = (FEEDBACK_ID, *hillstrom.RAW_COLUMNS, EMAIL, *hillstrom.OUTCOMES)
STATE_KEY = "online_state"  # the learner's state, saved inside the network file (loading ignores it)
SEEN_FILE = "seen_ids.txt"  # the feedback ids learned from, one per line, appended batch by batch
NETWORK_FILE = "mkt001_network.npz"  # the registered network's file name: what serving loads
QUARANTINE_FILE = "quarantine.jsonl"
REFERENCE = "reference"  # the exported network's sample of training customers' features
STABILITY_WINDOW = 5_000  # customers per PSI / KS / bias check


WATCHES = ("pooled", "per_email")  # one watch on every error, or also one per e-mail sent
# per e-mail found every scripted change on the validation customers with no early alarm, pooled
# two thirds (campaign_online.json, "watch_validation")
DEFAULT_WATCH = "per_email"
# the served learner's step size: the lowest mean online log loss over steady and changing streams
# of validation customers (campaign_online.json, "validation"); the benchmark warns when it differs
LEARNING_RATE = 0.5


class OnlineCampaign:
    """The champion network, frozen, and its online-updated copy.

    `watch`: "pooled" watches every visit error together; "per_email" also watches each e-mail's
    own, so a change in what one e-mail does is not diluted by the others (the false-alarm budget,
    ADWIN's delta, is split over the watches). `benchmarks/campaign_online.py` chooses on
    validation customers."""

    def __init__(self, champion: ArrayNet, learning_rate: float = LEARNING_RATE, proximal: float = PROXIMAL,
                 drift_delta: float = ADWIN_DELTA, watch: str = DEFAULT_WATCH) -> None:
        if watch not in WATCHES:
            raise ValueError(f"unknown watch {watch!r}; expected one of {WATCHES}")
        self.champion = champion
        self.heads = [LogisticHead(layers[-1][0], layers[-1][1], learning_rate, proximal) for layers in champion.members]
        arms = champion.n_arms if watch == "per_email" else 0
        self.drift = ErrorDrift(drift_delta / (1 + arms))
        self.arm_drift = [ErrorDrift(drift_delta / (1 + arms)) for _ in range(arms)]
        self.detections: list[int] = []  # customers seen when a watch fired (at the end of its batch)
        self.rows = 0

    def _targets(self, arm: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(targets, observed) in the output layer's columns: the heads design has one block of
        outcomes per e-mail, of which a row observed the one sent."""
        if self.champion.design != "heads":
            return y, np.ones_like(y)
        k = self.champion.n_outcomes
        target = np.zeros((len(y), self.champion.n_arms * k))
        observed = np.zeros_like(target)
        for j in range(k):
            target[np.arange(len(y)), arm * k + j] = y[:, j]
            observed[np.arange(len(y)), arm * k + j] = 1.0
        return target, observed

    def update(self, x: np.ndarray, arm: np.ndarray, y: np.ndarray) -> dict[str, float | bool]:
        """Learn from a batch of feedback (raw features, e-mail sent, outcomes); the champion's
        errors go to the drift watch first."""
        rows = np.arange(len(x))
        champion = self.champion.predict(x)[rows, arm]  # (n, outcomes)
        errors = y[:, 0] - champion[:, 0]
        drifted = self.drift.update(errors)
        for a, watch in enumerate(self.arm_drift):
            drifted = watch.update(errors[arm == a]) or drifted
        if drifted:
            self.detections.append(self.rows + len(x))
        z = self.champion.standardise(x)
        target, observed = self._targets(arm, y)
        losses = [head.step(self.champion.output_inputs(z, arm, layers), target, observed)
                  for head, layers in zip(self.heads, self.champion.members, strict=True)]
        self.rows += len(x)
        return {"loss": float(np.mean(losses)), "drift": drifted, "champion_visit": champion[:, 0]}

    def resume(self, saved: ArrayNet) -> OnlineCampaign:
        """Go on from an online-updated network saved earlier (its output layers; the pull stays
        towards the champion's)."""
        for head, layers in zip(self.heads, saved.members, strict=True):
            head.weight, head.bias = (np.asarray(a, dtype=np.float64).copy() for a in layers[-1])
        return self

    def network(self) -> ArrayNet:
        """The online-updated network: the champion's trunk with the updated output layers."""
        members = [[*layers[:-1], (head.weight.astype(np.float32), head.bias.astype(np.float32))]
                   for head, layers in zip(self.heads, self.champion.members, strict=True)]
        return ArrayNet(self.champion.mean, self.champion.scale, members, self.champion.n_arms,
                        self.champion.n_outcomes, self.champion.design)


@dataclass
class FeedbackBatch:
    """What the sink did with one batch (its ledger line)."""

    entries: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    loss: float | None = None
    drift: bool = False
    retrain_requested: bool = False
    windows_checked: int = 0  # PSI / KS / bias checks of a full window run in this batch
    stability: list[str] = field(default_factory=list)  # the window check's reasons to retrain
    alerts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _parse(entry: Entry) -> tuple[str, np.ndarray, int, np.ndarray]:
    """(feedback id, the customer's encoded features, arm, outcomes) of an entry; ValueError says
    why not."""
    if entry.kind != FEEDBACK_KIND:
        raise ValueError(f"unknown kind {entry.kind[:40]!r}; expected {FEEDBACK_KIND!r}")
    event = entry.json_object()
    missing = [f for f in FEEDBACK_FIELDS if event.get(f) is None]
    if missing:
        raise ValueError(f"missing fields {missing}")
    feedback_id = event[FEEDBACK_ID]
    if not isinstance(feedback_id, str) or not feedback_id or len(feedback_id) > MAX_ID_CHARS \
            or not feedback_id.isprintable():
        raise ValueError(f"{FEEDBACK_ID!r} must be a non-empty printable string of at most {MAX_ID_CHARS} characters")
    if event[EMAIL] not in hillstrom.ARMS:
        raise ValueError(f"unknown e-mail {str(event[EMAIL])[:40]!r}; expected one of {list(hillstrom.ARMS)}")
    outcomes = []
    for name in hillstrom.OUTCOMES:
        if event[name] not in (0, 1) or isinstance(event[name], bool | str):
            raise ValueError(f"{name!r} must be 0 or 1")
        outcomes.append(float(event[name]))
    if outcomes[1] > outcomes[0]:
        raise ValueError("a conversion without a visit")
    # ValueError names a field out of range or an unknown category
    features = hillstrom.encode({name: np.asarray([event[name]]) for name in hillstrom.RAW_COLUMNS})[0]
    return feedback_id, features, hillstrom.ARMS.index(event[EMAIL]), np.asarray(outcomes)


class FeedbackSink:
    """A `platform.streams` sink that teaches an `OnlineCampaign` and saves it after every batch
    (with the feedback ids learned from), so a crash loses nothing and a redelivery teaches
    nothing twice; a drift found asks for a retraining, once per detection.

    `reference`: the training customers' features (None: no window checks); `drift_retrains`: the
    spec's word on whether moved fields retrain or alert."""

    def __init__(self, learner: OnlineCampaign, folder: Path, reports: Path, reference: np.ndarray | None = None,
                 drift_retrains: bool = True) -> None:
        self.learner, self.folder, self.reports = learner, folder, reports
        self.reference = None if reference is None else pd.DataFrame(reference, columns=list(hillstrom.FEATURES))
        self.drift_retrains = drift_retrains
        self.window: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (features, predicted, visited)
        folder.mkdir(parents=True, exist_ok=True)
        self.seen: set[str] = set()
        saved = folder / NETWORK_FILE
        if saved.exists():  # a consumer that stopped (or crashed) left its learning here: go on from it
            with np.load(saved) as arrays:
                state = json.loads(str(arrays[STATE_KEY])) if STATE_KEY in arrays else {"seen_count": 0}
            self.seen = self._learned_ids(state)
            learner.resume(ArrayNet.load(saved))

    def _learned_ids(self, state: dict) -> set[str]:
        """The ids the saved state counts: the first `seen_count` lines of the id file (lines after
        them were appended by a batch whose state was never written, and are dropped)."""
        path = self.folder / SEEN_FILE
        lines = path.read_text().splitlines() if path.exists() else []
        kept = lines[:state["seen_count"]]
        if len(kept) < len(lines):
            path.write_text("".join(f"{i}\n" for i in kept))
        return set(kept)

    def __call__(self, entries: Sequence[Entry]) -> FeedbackBatch:
        batch = FeedbackBatch(entries=len(entries))
        ids, rows, arms, outcomes = [], [], [], []
        with (self.folder / QUARANTINE_FILE).open("a") as quarantine:
            for entry in entries:
                try:
                    feedback_id, features, arm, y = _parse(entry)
                except ValueError as exc:
                    reason = str(exc)
                    batch.quarantined += 1
                    batch.reasons[reason] = batch.reasons.get(reason, 0) + 1
                    quarantine.write(json.dumps({"entry_id": entry.entry_id, "reason": reason,
                                                 "event": entry.event.decode("utf-8", "replace")}) + "\n")
                    continue
                if feedback_id in self.seen or feedback_id in ids:
                    batch.duplicates += 1
                    continue
                ids.append(feedback_id)
                rows.append(features)
                arms.append(arm)
                outcomes.append(y)
        if rows:
            x, y = np.vstack(rows), np.vstack(outcomes)
            result = self.learner.update(x, np.asarray(arms), y)
            batch.loss, batch.drift = float(result["loss"]), bool(result["drift"])
            self.seen.update(ids)
            batch.accepted = len(ids)
            reasons = ["online: the champion's visit errors moved (ADWIN)"] if batch.drift else []
            reasons += self._window_check(x, result["champion_visit"], y[:, 0], batch)
            if reasons:
                request_retraining(self.reports, MODEL_ID, "; ".join(reasons), feedback_seen=self.learner.rows,
                                   recent_mean_error=self.learner.drift.recent_mean)
                batch.retrain_requested = True
            self.save(ids)
        return batch

    def _window_check(self, x: np.ndarray, predicted: np.ndarray, visited: np.ndarray,
                      batch: FeedbackBatch) -> list[str]:
        """PSI and KS of the window's fields against the training customers', and the champion's
        bias, once a window is full; the reasons to retrain."""
        if self.reference is None:
            return []
        self.window.append((x, predicted, visited))
        if sum(len(w[0]) for w in self.window) < STABILITY_WINDOW:
            return []
        xs, ps, ys = (np.concatenate([w[k] for w in self.window]) for k in range(3))
        self.window = []
        batch.windows_checked += 1
        result = check_stability(self.reference, pd.DataFrame(xs, columns=list(hillstrom.FEATURES)),
                                 list(hillstrom.FEATURES), predicted=ps, observed=ys)
        moved = [r for r in result.retrain() if not r.startswith("predictions biased")]
        biased = [r for r in result.retrain() if r.startswith("predictions biased")]
        batch.stability = result.retrain()
        batch.alerts = result.alerts() + ([] if self.drift_retrains else moved)
        return [f"online window: {r}" for r in biased + (moved if self.drift_retrains else [])]

    def save(self, learned: list[str]) -> None:
        """The batch's ids appended to the id file (a batch's cost does not grow with the stream),
        then the updated network with the learner's state inside it, written whole and renamed in:
        that rename commits the batch. A crash before it leaves the old network and state, whose
        count of ids drops the ones appended; so a batch delivered again is taught exactly once."""
        with (self.folder / SEEN_FILE).open("a") as ids:
            ids.write("".join(f"{i}\n" for i in learned))
            ids.flush()
            os.fsync(ids.fileno())
        state = {"rows": self.learner.rows, "steps": self.learner.heads[0].steps,
                 "drift_detections": self.learner.detections, "seen_count": len(self.seen)}
        network = self.folder / NETWORK_FILE
        with open(network.with_suffix(".tmp"), "wb") as out:
            np.savez(out, **self.learner.network().state(), **{STATE_KEY: np.array(json.dumps(state))})
        os.replace(network.with_suffix(".tmp"), network)


def load_reference(network_file: Path) -> np.ndarray | None:
    """The training customers' features exported beside the network (None: an older export)."""
    with np.load(network_file) as arrays:
        return np.asarray(arrays[REFERENCE]) if REFERENCE in arrays else None
