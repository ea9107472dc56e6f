"""Federated Mutual Learning (Shen et al. 2020, arXiv 2006.16765).

Each client keeps a private *local* model across rounds and receives a *meme* copy of the
global model each round. On every batch both models see the same data and learn from each
other (deep mutual learning); only the memes go back and are averaged:

    L_local = alpha * CE(local) + (1 - alpha) * KL(p_meme || p_local)
    L_meme  = beta  * CE(meme)  + (1 - beta)  * KL(p_local || p_meme)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from fmlpipe.config.schema import FmlParams
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, Losses, SimContext, Slot
from fmlpipe.fl.local_train import BatchLoss
from fmlpipe.fl.modelpool import GLOBAL, LOCAL
from fmlpipe.fl.objectives import cross_entropy, kl_to_peer
from fmlpipe.fl.schedule import balance_at_round

MEME = "meme"

__all__ = ["FML", "MEME", "kl_to_peer", "mutual_loss", "mutual_terms"]


def mutual_terms(out_local: torch.Tensor, out_meme: torch.Tensor, y: torch.Tensor, alpha: float, beta: float,
                 weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_local, L_meme) from both models' logits on the same batch."""
    loss_local = alpha * cross_entropy(out_local, y, weight) + (1 - alpha) * kl_to_peer(out_local, out_meme, weight)
    loss_meme = beta * cross_entropy(out_meme, y, weight) + (1 - beta) * kl_to_peer(out_meme, out_local, weight)
    return loss_local, loss_meme


def mutual_loss(local: nn.Module, meme: nn.Module, alpha: float, beta: float) -> BatchLoss:
    def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss_local, loss_meme = mutual_terms(local(x), meme(x), y, alpha, beta)
        return loss_local + loss_meme, {LOCAL: loss_local, MEME: loss_meme}

    return loss


class FML(Algorithm):
    name = "fml"
    roles = (GLOBAL, LOCAL)
    slots = (Slot(LOCAL, LOCAL, personal=True), Slot(MEME, GLOBAL, personal=False))

    def __init__(self, ctx: SimContext, params: FmlParams):
        super().__init__(ctx)
        self.params = params
        self.alpha, self.beta = params.alpha, params.beta

    def round_values(self, rnd: int, rounds: int) -> dict[str, float]:
        self.alpha, self.beta = balance_at_round(self.params, rnd, rounds)
        return {"alpha": self.alpha, "beta": self.beta}

    def objective(self, outputs: Sequence[torch.Tensor], y: torch.Tensor, weight: torch.Tensor | None,
                  params: Sequence[Mapping[str, torch.Tensor]], anchor: State | None) -> Losses:
        loss_local, loss_meme = mutual_terms(outputs[0], outputs[1], y, self.alpha, self.beta, weight)
        return loss_local + loss_meme, (loss_local, loss_meme)

    def client_metrics(self, global_state: State | None, global_acc: Sequence[float | None]) -> list[dict[str, float]]:
        return [{"acc_personalized": acc} for acc in self.personal_accuracies()]
