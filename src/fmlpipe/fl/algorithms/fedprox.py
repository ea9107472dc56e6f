"""FedProx (Li et al. 2020): FedAvg whose local loss adds mu/2 * ||w - w_round||^2, against the
weights the client received this round (the task's global state: a fixed copy, never a
generator consumed by the first batch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from pydantic import Field

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import Losses, SimContext, Values
from fmlpipe.fl.algorithms.fedavg import FedAvg
from fmlpipe.fl.objectives import cross_entropy, proximal_term
from fmlpipe.fl.protocol import State


class FedProxParams(Section):
    mu: float = Field(ge=0.0, le=1e4)  # proximal weight: loss + mu/2 * ||w - w_round||^2


class FedProx(FedAvg):
    name = "fedprox"
    params_class = FedProxParams

    def __init__(self, ctx: SimContext, params: FedProxParams):
        super().__init__(ctx, params)
        self.mu = params.mu

    def objective(self, outputs: Sequence[torch.Tensor], y: torch.Tensor, weight: torch.Tensor | None,
                  params: Sequence[Mapping[str, torch.Tensor]], anchor: State | None, values: Values) -> Losses:
        assert anchor is not None  # the global state received this round
        ce = cross_entropy(outputs[0], y, weight)
        return ce + 0.5 * self.mu * proximal_term(params[0], anchor), (ce,)
