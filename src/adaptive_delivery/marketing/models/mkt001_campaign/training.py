"""MKT-001 through the platform's pipeline: train the campaign network and its baselines on one
seeded split of the Hillstrom development file, judge all of them on the split's test rows, and
export the network that serving loads.

The data is the real experiment, not the twin: the train step reads it from `AD_MARKETING_DATA`
or the shared data beside the checkout. A training budget is the network's epoch cap; the epoch
kept is the one with the lowest validation loss."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import joblib
import numpy as np

from adaptive_delivery.marketing.models.mkt001_campaign import hillstrom, network
from adaptive_delivery.marketing.models.mkt001_campaign.baselines import (
    ResponseBaselines,
    UpliftBaselines,
)
from adaptive_delivery.marketing.uplift import qini_coefficient, uplift_at

TRAINED_FILE = "mkt001_trained.joblib"  # the network with its baselines and split, for the evaluation
NETWORK_FILE = "mkt001_network.npz"  # what is registered and served: the network alone
EVALUATION_TABLE = "campaign_eval.md"
TARGET_SHARE = 0.3  # uplift is judged on the 30% of customers each model would target
REFERENCE_ROWS = 5_000  # training customers exported with the network for drift checks
UPLIFT_ARMS = {"womens": 2, "mens": 1}  # e-mail judged against no e-mail on visits; womens is the headline


def _progress(member: int, epoch: int, train_loss: float, val_loss: float) -> None:
    print(f"member {member} epoch {epoch}: train loss {train_loss:.5f}, validation loss {val_loss:.5f}", flush=True)


def train_and_save(budget: int, seed: int, out: Path, frame=None, **network_settings) -> Path:
    """Fit the network (early-stopped on validation) and every baseline on seed's split; write them
    with the split for the evaluation step. `network_settings` override `network.NetConfig`'s
    defaults (a benchmark comparing designs)."""
    frame = frame if frame is not None else hillstrom.read()
    part = hillstrom.split(frame, seed)
    x, arm, y = hillstrom.encode(frame), hillstrom.arms_of(frame), hillstrom.outcomes_of(frame)
    config = replace(network.NetConfig(), max_epochs=budget, **network_settings)
    started = time.perf_counter()
    net, epochs = network.fit(x, arm, y, part.train, part.validation, len(hillstrom.ARMS), config, seed,
                              progress=_progress)
    net_s = time.perf_counter() - started
    response = ResponseBaselines.fit(x, arm, y, part.train, part.validation, len(hillstrom.ARMS), seed)
    uplift = {}
    for name, treat_arm in UPLIFT_ARMS.items():
        rows = np.flatnonzero(np.isin(arm, (hillstrom.CONTROL, treat_arm)))
        keep = np.zeros(len(arm), bool)
        keep[rows] = True
        treated = (arm == treat_arm).astype(int)
        uplift[name] = UpliftBaselines.fit(x, treated, y[:, 0], part.train[keep[part.train]],
                                           part.validation[keep[part.validation]], seed)
    out.mkdir(parents=True, exist_ok=True)
    path = out / TRAINED_FILE
    rng = np.random.default_rng(seed)
    reference = x[rng.choice(part.train, min(REFERENCE_ROWS, len(part.train)), replace=False)]
    joblib.dump({"network": net.state(), "reference": reference, "response": response, "uplift": uplift, "seed": seed,
                 "config": asdict(config), "epochs": epochs,
                 "timings": {"network_s": net_s, "total_s": time.perf_counter() - started},
                 "sizes": {k: len(getattr(part, k)) for k in ("train", "validation", "test")}}, path, compress=3)
    print(f"network members kept at epochs {epochs}", flush=True)
    return path


def export_network(trained: Path, folder: Path) -> Path:
    """The served artifact: the network's arrays, and a sample of the training customers' features
    that the online learner's drift checks compare the stream with."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NETWORK_FILE
    saved = joblib.load(trained)
    extra = {"reference": saved["reference"]} if "reference" in saved else {}
    np.savez(path, **saved["network"], **extra)
    return path


def _binary(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import log_loss, roc_auc_score

    from adaptive_delivery.platform.training.evaluation import expected_calibration_error

    p = np.clip(p, 1e-7, 1 - 1e-7)
    return {"auc": float(roc_auc_score(y, p)), "logloss": float(log_loss(y, p, labels=[0, 1])),
            "ece": float(expected_calibration_error(y.astype(int), np.stack([1 - p, p], axis=1)))}


def response_metrics(net: network.ArrayNet, response: ResponseBaselines, x, arm, y) -> dict[str, float]:
    """Each outcome's AUC, log loss and calibration error on the e-mail actually sent: ours and the
    two baselines'."""
    ours = net.predict(x)[np.arange(len(x)), arm]
    out = {}
    for name, p in (("", ours), ("logistic_", response.predict("logistic", x, arm)),
                    ("gbm_", response.predict("gbm", x, arm))):
        for k, outcome in enumerate(hillstrom.OUTCOMES):
            for metric, value in _binary(y[:, k], p[:, k]).items():
                out[f"{name}{outcome}_{metric}"] = value
    return out


def uplift_scores(net: network.ArrayNet, uplift: UpliftBaselines, x: np.ndarray, treat_arm: int) -> dict[str, np.ndarray]:
    """Predicted visit uplift of `treat_arm` over no e-mail, per model."""
    p = net.predict(x)[:, :, 0]
    return {"ours": p[:, treat_arm] - p[:, hillstrom.CONTROL],
            "two_model_logistic": uplift.uplift("two_model_logistic", x),
            "class_transformation_gbm": uplift.uplift("class_transformation_gbm", x)}


def uplift_metrics(net: network.ArrayNet, uplifts: dict[str, UpliftBaselines], x, arm, y) -> dict[str, float]:
    out = {}
    for name, treat_arm in UPLIFT_ARMS.items():
        rows = np.isin(arm, (hillstrom.CONTROL, treat_arm))
        treated = (arm[rows] == treat_arm).astype(int)
        for model, score in uplift_scores(net, uplifts[name], x[rows], treat_arm).items():
            prefix = "" if model == "ours" else f"{model}_"
            out[f"{prefix}{name}_uplift_at_30"] = uplift_at(score, y[rows, 0], treated, TARGET_SHARE)
            out[f"{prefix}{name}_qini"] = qini_coefficient(score, y[rows, 0], treated)
        out[f"{name}_average_uplift"] = float(y[rows, 0][treated == 1].mean() - y[rows, 0][treated == 0].mean())
        # what targeting adds over sending the e-mail to a random 30%
        out[f"{name}_targeting_gain"] = out[f"{name}_uplift_at_30"] - out[f"{name}_average_uplift"]
    return out


def evaluate_into(trained: Path, out: Path, frame=None) -> dict[str, float]:
    """Registry metrics on the split's test rows (never read in training), the baselines' beside
    ours, and a table of them."""
    saved = joblib.load(trained)
    frame = frame if frame is not None else hillstrom.read()
    test = hillstrom.split(frame, saved["seed"]).test
    x, arm = hillstrom.encode(frame)[test], hillstrom.arms_of(frame)[test]
    y = hillstrom.outcomes_of(frame)[test]
    net = network.ArrayNet.from_state(saved["network"])
    metrics = {**response_metrics(net, saved["response"], x, arm, y),
               **uplift_metrics(net, saved["uplift"], x, arm, y),
               "test_customers": float(len(test)),
               **{f"train_{k}": float(v) for k, v in saved["timings"].items()}}
    for baseline in ("two_model_logistic", "class_transformation_gbm"):
        metrics[f"womens_uplift_at_30_vs_{baseline}"] = (metrics["womens_uplift_at_30"]
                                                         - metrics[f"{baseline}_womens_uplift_at_30"])
    out.mkdir(parents=True, exist_ok=True)
    (out / EVALUATION_TABLE).write_text(evaluation_table(metrics, saved))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def evaluation_table(metrics: dict[str, float], saved: dict) -> str:
    lines = [f"# MKT-001 on the test rows of Hillstrom split {saved['seed']} "
             f"({int(metrics['test_customers'])} customers)", "",
             "| model | visit AUC | visit log loss | conversion AUC | conversion log loss |", "|---|---|---|---|---|"]
    for name, prefix in (("campaign network", ""), ("logistic", "logistic_"), ("gradient boosting", "gbm_")):
        lines.append(f"| {name} | {metrics[prefix + 'visit_auc']:.4f} | {metrics[prefix + 'visit_logloss']:.4f} | "
                     f"{metrics[prefix + 'conversion_auc']:.4f} | {metrics[prefix + 'conversion_logloss']:.4f} |")
    lines += ["", "Visit uplift against no e-mail, customers ranked by each model:", "",
              "| model | women's e-mail: uplift@30% | Qini | men's e-mail: uplift@30% | Qini |", "|---|---|---|---|---|"]
    for name, prefix in (("campaign network", ""), ("two-model logistic", "two_model_logistic_"),
                         ("class transformation (GBM)", "class_transformation_gbm_")):
        lines.append(f"| {name} | {metrics[prefix + 'womens_uplift_at_30']:.4f} | {metrics[prefix + 'womens_qini']:.4f} | "
                     f"{metrics[prefix + 'mens_uplift_at_30']:.4f} | {metrics[prefix + 'mens_qini']:.4f} |")
    lines += ["", f"Average uplift (everyone sent): women's {metrics['womens_average_uplift']:.4f}, "
              f"men's {metrics['mens_average_uplift']:.4f}.", "",
              f"Network: {json.dumps(saved['config'])}; epochs kept {saved['epochs']}; "
              f"training {json.dumps(saved['timings'])}"]
    return "\n".join(lines) + "\n"
