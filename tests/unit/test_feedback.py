"""Attribution of logged decisions to outcomes (platform.feedback), on hand-made logs."""

import json

import numpy as np
import pandas as pd

from adaptive_delivery.platform.feedback import PENDING, attribute, quality, read_prediction_log

CLASSES = ("yes", "no")


def _line(message_id: str, p_yes: object, version: str = "1") -> str:
    return json.dumps({"ts": 0, "message_id": message_id, "model_version": version, "p_yes": p_yes,
                       "p_no": 1 - p_yes if isinstance(p_yes, float) else 0.5})


def test_the_log_keeps_the_last_decision_per_message_and_counts_what_is_not_one(tmp_path):
    log = tmp_path / "p.jsonl"
    log.write_text("\n".join([_line("a", 0.2), _line("a", 0.9), _line("b", "high"), "not json",
                              json.dumps({"message_id": "c"}), _line("d", 0.4)]) + "\n")
    read = read_prediction_log(log, CLASSES)
    assert read.unreadable == 3
    assert read.decisions.set_index("message_id")["p_yes"].to_dict() == {"a": 0.9, "d": 0.4}
    # a shadow candidate mirrored beside the control: both versions' decisions of a message stay
    log.write_text("\n".join([_line("a", 0.2, "1"), _line("a", 0.7, "2"), _line("a", 0.3, "1")]) + "\n")
    both = read_prediction_log(log, CLASSES).decisions.set_index("model_version")["p_yes"].to_dict()
    assert both == {"1": 0.3, "2": 0.7}
    assert read_prediction_log(tmp_path / "none.jsonl", CLASSES).decisions.empty


def test_decisions_without_an_outcome_wait_and_are_scored_when_it_comes():
    decisions = pd.DataFrame({"message_id": list("abcd"), "model_version": ["1", "1", "1", "2"],
                              "p_yes": [0.9, 0.2, 0.95, 0.6], "p_no": [0.1, 0.8, 0.05, 0.4]})
    some = pd.DataFrame({"message_id": ["a", "b"], "label": [0, 1], "provider": ["gmail", "gmail"]})
    early = quality(attribute(decisions, some), CLASSES)
    assert (early["1"]["attributed"], early["1"]["pending"], early["2"]["attributed"]) == (2, 1, 0)
    assert early["1"]["macro_roc_auc"] == 1.0
    everything = pd.concat([some, pd.DataFrame({"message_id": ["c", "d"], "label": [1, 0],
                                                 "provider": ["yahoo", "gmail"]})])
    later = attribute(decisions, everything)
    assert (later["label"] != PENDING).all()
    late = quality(later, CLASSES)
    assert late["1"]["macro_roc_auc"] == 0.5  # c (0.95 yes) was a no: one of two pairs misordered
    assert np.isnan(late["1"]["macro_roc_auc_by_provider"]["yahoo"])  # one class only: no AUC
