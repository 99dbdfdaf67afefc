"""MKT-001 Campaign Performance Model: the declaration the platform drives. Light on purpose:
training, evaluation and serving are imported only when called."""

from __future__ import annotations

from pathlib import Path

from adaptive_delivery.platform.spec import Gate, ModelSpec, PolicyTrainer, Schedule


def _train(budget: int, seed: int, out: Path) -> Path:
    from adaptive_delivery.marketing.models.mkt001_campaign.training import train_and_save

    return train_and_save(budget, seed, out)


def _evaluate(trained: Path, out: Path, profile: str) -> dict[str, float]:
    from adaptive_delivery.marketing.models.mkt001_campaign.training import evaluate_into

    return evaluate_into(trained, out)


def _export(trained: Path, folder: Path) -> Path:
    from adaptive_delivery.marketing.models.mkt001_campaign.training import export_network

    return export_network(trained, folder)


def _example():
    from adaptive_delivery.marketing.models.mkt001_campaign.service import example_request

    return example_request()


def _pyfunc():
    from adaptive_delivery.marketing.models.mkt001_campaign.pyfunc import CampaignPyfunc

    return CampaignPyfunc()


SPEC = ModelSpec(
    model_id="MKT-001",
    name="Campaign Performance",
    feature_service="",  # reads the customer's fields from the request
    label="visit and conversion within two weeks of a randomised e-mail (Hillstrom), per e-mail sent or not",
    classes=("no_visit", "visit"),
    primary_metric="visit_auc",
    metrics=("visit_auc", "visit_logloss", "visit_ece", "conversion_auc", "conversion_logloss",
             "womens_uplift_at_30", "womens_qini", "womens_targeting_gain", "mens_uplift_at_30", "mens_qini"),
    gates=(
        Gate("visit_auc", max_drop=0.02, floor=0.6),
        # its probabilities are what a campaign's forecast sums: calibrated within 2 points
        Gate("visit_ece", max_drop=1.0, floor=0.02, higher_is_better=False),
        # targeting its top 30% for the women's e-mail must beat sending it to a random 30%
        Gate("womens_targeting_gain", max_drop=1.0, floor=0.0),
    ),
    schedule=Schedule.WEEKLY,  # and on demand: the DAG can be triggered with a reason
    # customers' fields moved past PSI's act level (KS agreeing) retrain it: its online learner
    # checks each window of feedback (online.FeedbackSink)
    drift_retrains=True,
    serving_signature={
        "email": "the e-mail the prediction is for: the one asked about, else the recommended one",
        "predicted_ctr": "P(visit within two weeks | that e-mail): the e-mail's click-through",
        "predicted_conversion_rate": "P(purchase within two weeks | that e-mail)",
        "confidence": "0-1: agreement of the network's five members on predicted_ctr",
        "recommended_email": "the e-mail (or none) with the highest predicted visit rate",
        "visit_uplift_womens": "P(visit | women's e-mail) - P(visit | no e-mail); likewise _mens and conversion_",
    },
    trainer="corpus",
    runtime="adaptive_delivery.marketing.models.mkt001_campaign.runtime.CampaignRuntime",
    served_inputs={"recency": "request", "history": "request", "mens": "request", "womens": "request",
                   "newbie": "request", "zip_code": "request", "channel": "request", "email": "request"},
    policy_trainer=PolicyTrainer(train=_train, evaluate=_evaluate, example=_example, pyfunc=_pyfunc,
                                 export=_export, artifact="network",
                                 # the network's epoch cap (the epoch kept is validation's best)
                                 timesteps={"smoke": 3, "quick": 30, "full": 60}),
)
