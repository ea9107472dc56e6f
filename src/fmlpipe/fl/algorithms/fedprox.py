"""FedProx (Li et al. 2020): FedAvg whose local loss adds mu/2 * ||w - w_round||^2, against a
frozen copy of the weights the client received this round."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from fmlpipe.config.schema import FedProxParams
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Losses, SimContext
from fmlpipe.fl.algorithms.fedavg import FedAvg
from fmlpipe.fl.local_train import BatchLoss
from fmlpipe.fl.modelpool import GLOBAL
from fmlpipe.fl.objectives import cross_entropy, proximal_term


def proximal_loss(module: nn.Module, mu: float) -> BatchLoss:
    """CE plus the proximal term against ``module``'s weights now. The anchor is a *copy*
    captured once: a generator (as in some public recipes) is consumed by the first batch and
    silently drops the term after."""
    anchor = {name: p.detach().clone() for name, p in module.named_parameters()}
    params = dict(module.named_parameters())

    def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        ce = cross_entropy(module(x), y)
        return ce + 0.5 * mu * proximal_term(params, anchor), {GLOBAL: ce}

    return loss


class FedProx(FedAvg):
    name = "fedprox"

    def __init__(self, ctx: SimContext, params: FedProxParams):
        super().__init__(ctx, params)
        self.mu = params.mu

    def objective(self, outputs: Sequence[torch.Tensor], y: torch.Tensor, weight: torch.Tensor | None,
                  params: Sequence[Mapping[str, torch.Tensor]], anchor: State | None) -> Losses:
        assert anchor is not None  # the global state received this round
        ce = cross_entropy(outputs[0], y, weight)
        return ce + 0.5 * self.mu * proximal_term(params[0], anchor), (ce,)
