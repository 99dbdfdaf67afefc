"""What a rollout decision does to the model registry: promotion moves `champion` to the
candidate, a rollback moves it back to the control where the gate had already moved it; every decision is written on the candidate version's tags, so the registry tells the
story of each version. Shared by the CLI and the simulated rollouts."""

from __future__ import annotations

from adaptive_delivery.platform.rollout.controller import Experiment, Status
from adaptive_delivery.platform.training.registry import CHAMPION


def record_decision(client, registered_name: str, exp: Experiment, reason: str) -> None:
    if exp.status == Status.PROMOTED:
        client.set_registered_model_alias(registered_name, CHAMPION, exp.candidate_version)
    elif exp.status == Status.ROLLED_BACK:
        current = client.get_model_version_by_alias(registered_name, CHAMPION).version
        if str(current) == str(exp.candidate_version):  # the gate had promoted it: give the title back
            client.set_registered_model_alias(registered_name, CHAMPION, exp.control_version)
    client.set_model_version_tag(registered_name, exp.candidate_version, "rollout",
                                 f"{exp.status.value} at {exp.stage.name}: {reason}"[:4900])
