"""MDL-007 Content Quality Scorer: the declaration the platform drives. Light on purpose: training,
evaluation and serving are imported only when called."""

from __future__ import annotations

from pathlib import Path

from adaptive_delivery.platform.spec import Gate, ModelSpec, PolicyTrainer, Schedule


def _train(budget: int, seed: int, out: Path) -> Path:
    from adaptive_delivery.delivery.models.mdl007_content.training import train_and_save

    return train_and_save(budget, seed, out)


def _evaluate(trained: Path, out: Path, profile: str) -> dict[str, float]:
    from adaptive_delivery.delivery.models.mdl007_content.training import evaluate_into

    return evaluate_into(trained, out)


def _export(trained: Path, folder: Path) -> Path:
    from adaptive_delivery.delivery.models.mdl007_content.training import export_scorer

    return export_scorer(trained, folder)


def _example():
    from adaptive_delivery.delivery.models.mdl007_content.service import example_request

    return example_request()


def _pyfunc():
    from adaptive_delivery.delivery.models.mdl007_content.pyfunc import ContentPyfunc

    return ContentPyfunc()


SPEC = ModelSpec(
    model_id="MDL-007",
    name="Content Quality Scorer",
    feature_service="",  # reads the content of the request, not the feature store
    label="spam (1) or ham (0) of labelled mail, judged on subject, preheader and body only",
    classes=("ham", "spam"),
    primary_metric="f1",
    metrics=("f1", "precision", "recall", "fpr", "ece", "baseline_f1", "f1_vs_baseline",
             "suggestion_lowered_share", "suggestion_mean_drop_points"),
    gates=(
        Gate("f1", max_drop=0.02, floor=0.85),
        # ham held back: a campaign that does not go out (the threshold aims at 0.5% on validation)
        Gate("fpr", max_drop=1.0, floor=0.02, higher_is_better=False),
        Gate("ece", max_drop=1.0, floor=0.05, higher_is_better=False),
    ),
    schedule=Schedule.WEEKLY,  # and on demand: the DAG can be triggered with a reason
    serving_signature={
        "overall_score": "0-100, higher is better (spec §3.4)",
        "spam_risk": "0-100 calibrated spam probability in points",
        "compliance": "0-100 after the compliance findings' penalties",
        "approved_for_send": "1 when the spam risk is under the threshold and nothing critical was found",
        "issues": "JSON list: severity, issue, location, suggestion, spam_risk_after for a rewrite",
        "rewritten_subject": "the subject with every suggestion applied ('' when nothing to rewrite)",
    },
    needs_gpu=True,  # the encoder's full size pre-trains on a GPU; the quick profile's on CPU
    trainer="corpus",
    runtime="adaptive_delivery.delivery.models.mdl007_content.runtime.ContentRuntime",
    served_inputs={"subject": "request", "preheader": "request", "body": "request", "body_html": "request",
                   "list_unsubscribe": "request", "list_unsubscribe_post": "request",
                   "from_address": "request", "in_reply_to": "request"},
    policy_trainer=PolicyTrainer(train=_train, evaluate=_evaluate, example=_example, pyfunc=_pyfunc,
                                 export=_export, artifact="scorer",
                                 # the encoder's masked-language-modelling steps (training.encoder_for)
                                 timesteps={"smoke": 20, "quick": 400, "full": 1_500}),
)
