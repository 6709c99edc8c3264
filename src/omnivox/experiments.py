"""A/B experiments: which variant a customer is in, and what that variant changes.

A customer's variant is a pure function of the workspace id, the experiment's name and the
customer id: SHA-256 of the three (NUL-separated) read as a number in [0, 1), which falls in
one variant's share of the weights laid end to end. Every server, channel and turn of one
customer therefore gets the same variant with nothing stored; renaming the experiment deals
its customers afresh; changing the weights moves only the customers whose number crosses a
moved boundary (docs/analytics.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from omnivox.guardrails.policy import BrandPolicy
from omnivox.settings import ExperimentSettings, PersonaSettings, WorkspaceSettings


@dataclass(frozen=True, slots=True)
class Variant:
    """One variant as a turn uses it: the persona (merged), its policy and its temperature."""

    experiment: str
    name: str
    persona: PersonaSettings
    policy: BrandPolicy
    temperature: float | None  # None: the server's llm.temperature


def position(workspace_id: str, experiment: str, customer_id: str) -> float:
    """The customer's fixed place in [0, 1) for this workspace's experiment."""
    key = "\0".join((workspace_id, experiment, customer_id)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64


def bucket(weights: Sequence[float], at: float) -> int:
    """The index of the weight whose share of the total holds ``at`` (0 <= at < 1)."""
    total = sum(weights)
    for index, edge in enumerate(accumulate(weights)):
        if at * total < edge:
            return index
    return len(weights) - 1  # float rounding at the very top


def variants(workspace: WorkspaceSettings, experiment: ExperimentSettings) -> list[Variant]:
    """The experiment's variants, each persona's given keys laid over the workspace's."""
    found = []
    for v in experiment.variants:
        persona = workspace.persona.model_copy(update=v.persona.model_dump(exclude_none=True))
        found.append(Variant(experiment.name, v.name, persona, BrandPolicy(persona), v.temperature))
    return found


class Assigner:
    """Assigns customers to the variants of one workspace's experiment."""

    def __init__(self, workspace: WorkspaceSettings, experiment: ExperimentSettings) -> None:
        self.workspace_id = workspace.id
        self.experiment = experiment.name
        self.variants = variants(workspace, experiment)
        self.weights = [v.weight for v in experiment.variants]

    def assign(self, customer_id: str) -> Variant:
        """The customer's variant (the same one every time)."""
        at = position(self.workspace_id, self.experiment, customer_id)
        return self.variants[bucket(self.weights, at)]
