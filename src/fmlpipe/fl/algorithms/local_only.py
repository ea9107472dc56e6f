"""Local-only training: every client trains its own model alone, nothing is communicated.
The lower bound that personalization methods must beat."""

from __future__ import annotations

from fmlpipe.config.schema import LocalParams
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, ClientResult, SimContext, cross_entropy_loss
from fmlpipe.fl.modelpool import LOCAL, state_of


class LocalOnly(Algorithm):
    name = "local"
    uses_global = False
    roles = (LOCAL,)

    def __init__(self, ctx: SimContext, params: LocalParams):
        super().__init__(ctx)

    def client_update(self, cid: int, global_state: State | None, rnd: int, lr: float) -> ClientResult:
        module = self.ctx.pool.load(LOCAL, self.ctx.personal.get(cid))
        losses = self.train(cid, [module], cross_entropy_loss(module, LOCAL), rnd, lr)
        self.ctx.personal.put(cid, state_of(module))
        return ClientResult(None, self.ctx.data.clients[cid].num_train, losses)

    def personalized_metrics(self, cid: int, global_state: State | None, global_acc: float | None) -> dict[str, float]:
        return {"acc_personalized": self.personal_accuracy(cid)}
