"""MDL-006's referee on a simulated world: what the twin's laws say each message's chances of an
unsubscribe and a complaint were (the oracle's class probabilities), for the evaluation to score
beside the model. Kept apart from the model: nothing served imports the twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from adaptive_delivery.platform.training.truth import truth_columns
from adaptive_delivery.twin import dynamics


def oracle_rates(truth_dir: Path, messages: pd.DataFrame, know_complainers: bool = True,
                 know_placement: bool = False) -> np.ndarray:
    """The twin's P(stayed, unsubscribed, complained | accepted) for `messages` (message_id,
    subscriber_id): the laws of `twin.dynamics` on the person's true engagement and the content's
    spamminess, weighed by the records oracle's odds of inbox against spam folder; a spam trap
    neither unsubscribes nor complains. With `know_complainers` False every person is the
    population's mix of habitual complainers and not (what a sender could know at best where the
    trait leaves no trace before the first complaint). With `know_placement` it also knows where the
    message landed (the clairvoyant)."""
    rows = truth_columns(truth_dir, messages["message_id"], ["subscriber_engagement", "content_spamminess",
                                                             "seen_p_inbox", "seen_p_spam", "spam_trap", "true_class"])
    people = pq.read_table(Path(truth_dir) / "subscribers.parquet", columns=["subscriber_id", "complainer"])
    complainer = pd.Series(people.column("complainer").to_numpy(), index=people.column("subscriber_id").to_pandas())
    known = complainer.reindex(messages["subscriber_id"].to_numpy(), fill_value=False).to_numpy(dtype=bool)
    engagement = rows["subscriber_engagement"].to_numpy(dtype=float)
    spam = rows["content_spamminess"].to_numpy(dtype=float)
    placed = (rows["seen_p_inbox"] + rows["seen_p_spam"]).to_numpy(dtype=float)
    inbox = np.divide(rows["seen_p_inbox"].to_numpy(dtype=float), placed, out=np.ones_like(placed), where=placed > 0)
    if know_placement:
        inbox = (rows["true_class"].to_numpy() != "spam").astype(float)
    alive = ~rows["spam_trap"].to_numpy(dtype=bool)
    n = len(rows)
    unsub = alive * inbox * dynamics.unsubscribe_probability(engagement, spam, np.ones(n, bool))

    def complaint(trait: np.ndarray) -> np.ndarray:
        in_inbox = dynamics.complaint_probability(engagement, trait, spam, np.ones(n, bool))
        in_spam = dynamics.complaint_probability(engagement, trait, spam, np.zeros(n, bool))
        # in the inbox a reader who unsubscribed does not also complain
        return alive * (inbox * in_inbox * (1.0 - unsub / np.maximum(inbox, 1e-12)) + (1.0 - inbox) * in_spam)

    if know_complainers:
        p_complaint = complaint(known)
    else:
        share = float(complainer.mean()) if len(complainer) else 0.0
        p_complaint = share * complaint(np.ones(n, bool)) + (1.0 - share) * complaint(np.zeros(n, bool))
    return np.column_stack([1.0 - unsub - p_complaint, unsub, p_complaint])


def referee(truth_dir: Path, holdout: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, records oracle, clairvoyant): the lake's labels (partial where no complaint report
    comes); the oracle knows each person's engagement, the content's spamminess and who is a
    habitual complainer, and where the message lands only as odds; the clairvoyant also knows
    where it landed."""
    return (holdout["label"].to_numpy(dtype=int), oracle_rates(truth_dir, holdout),
            oracle_rates(truth_dir, holdout, know_placement=True))
