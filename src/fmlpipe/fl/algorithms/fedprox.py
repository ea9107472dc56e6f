"""FedProx (Li et al. 2020): FedAvg whose local loss adds mu/2 * ||w - w_round||^2, against a
frozen copy of the weights the client received this round."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from fmlpipe.config.schema import FedProxParams
from fmlpipe.fl.algorithms.base import SimContext
from fmlpipe.fl.algorithms.fedavg import FedAvg
from fmlpipe.fl.local_train import BatchLoss
from fmlpipe.fl.modelpool import GLOBAL


def proximal_loss(module: nn.Module, mu: float) -> BatchLoss:
    """CE plus the proximal term. The anchor is a *list* captured once: a generator (as in
    some public recipes) is consumed by the first batch and silently drops the term after."""
    anchor = [p.detach().clone() for p in module.parameters()]
    params = list(module.parameters())

    def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        ce = F.cross_entropy(module(x), y)
        prox = sum(((p - a) ** 2).sum() for p, a in zip(params, anchor))
        return ce + 0.5 * mu * prox, {GLOBAL: ce}

    return loss


class FedProx(FedAvg):
    name = "fedprox"

    def __init__(self, ctx: SimContext, params: FedProxParams):
        super().__init__(ctx, params)
        self.mu = params.mu

    def batch_loss(self, module: nn.Module) -> BatchLoss:
        return proximal_loss(module, self.mu)
