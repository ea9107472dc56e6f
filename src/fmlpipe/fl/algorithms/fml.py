"""Federated Mutual Learning (Shen et al. 2020, arXiv 2006.16765).

Each client keeps a private *local* model across rounds and receives a *meme* copy of the
global model each round. On every batch both models see the same data and learn from each
other (deep mutual learning); only the memes go back and are averaged:

    L_local = alpha * CE(local) + (1 - alpha) * KL(p_meme || p_local)
    L_meme  = beta  * CE(meme)  + (1 - beta)  * KL(p_local || p_meme)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from fmlpipe.config.schema import FmlParams
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, ClientResult, SimContext
from fmlpipe.fl.local_train import BatchLoss
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, state_of
from fmlpipe.fl.schedule import balance_at_round

MEME = "meme"


def kl_to_peer(logits: torch.Tensor, peer_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_peer || p_self), batch mean. The peer is a fixed target (detached): without the
    detach each model's distillation term would also push gradients into its peer."""
    return F.kl_div(
        F.log_softmax(logits, dim=1), F.softmax(peer_logits.detach(), dim=1), reduction="batchmean"
    )


def mutual_loss(local: nn.Module, meme: nn.Module, alpha: float, beta: float) -> BatchLoss:
    def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out_local, out_meme = local(x), meme(x)
        loss_local = alpha * F.cross_entropy(out_local, y) + (1 - alpha) * kl_to_peer(out_local, out_meme)
        loss_meme = beta * F.cross_entropy(out_meme, y) + (1 - beta) * kl_to_peer(out_meme, out_local)
        return loss_local + loss_meme, {LOCAL: loss_local, MEME: loss_meme}

    return loss


class FML(Algorithm):
    name = "fml"
    roles = (GLOBAL, LOCAL)

    def __init__(self, ctx: SimContext, params: FmlParams):
        super().__init__(ctx)
        self.params = params
        self.alpha, self.beta = params.alpha, params.beta

    def round_values(self, rnd: int, rounds: int) -> dict[str, float]:
        self.alpha, self.beta = balance_at_round(self.params, rnd, rounds)
        return {"alpha": self.alpha, "beta": self.beta}

    def client_update(self, cid: int, global_state: State | None, rnd: int, lr: float) -> ClientResult:
        assert global_state is not None
        meme = self.ctx.pool.load(GLOBAL, global_state)
        local = self.ctx.pool.load(LOCAL, self.ctx.personal.get(cid))
        losses = self.train(cid, [local, meme], mutual_loss(local, meme, self.alpha, self.beta), rnd, lr)
        self.ctx.personal.put(cid, state_of(local))
        return ClientResult(state_of(meme), self.ctx.data.clients[cid].num_train, losses)

    def personalized_metrics(self, cid: int, global_state: State | None, global_acc: float | None) -> dict[str, float]:
        return {"acc_personalized": self.personal_accuracy(cid)}
