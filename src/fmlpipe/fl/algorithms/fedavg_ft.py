"""FedAvg with local fine-tuning (FedAvg-FT), the first personalized baseline reviewers ask
for (e.g. Cheng et al. 2021, "Fine-tuning is Fine in Federated Learning", arXiv 2108.07313):
FedAvg trains the global model; each client's personalized model is that global model
fine-tuned on the client's own training split for ``finetune_epochs`` (plain cross-entropy,
a fresh optimizer at the base learning rate, batches seeded apart from training's). The
fine-tuned copy is evaluated and discarded: it never reaches the server, and fine-tuning never
sees a test split. Fine-tuning every client costs as much as a training round, so it is done
after the last round only: earlier rounds record the global model's accuracy alone."""

from __future__ import annotations

from pydantic import Field

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import SimContext, cross_entropy_loss
from fmlpipe.fl.algorithms.fedavg import FedAvg
from fmlpipe.fl.modelpool import GLOBAL, ModelKey, ModelPool, fast_layout, state_of
from fmlpipe.fl.optim import make_optimizer
from fmlpipe.fl.protocol import ClientTask, State
from fmlpipe.fl.seeding import FINETUNE_SHUFFLE


class FedAvgFtParams(Section):
    finetune_epochs: int = Field(ge=1, le=100)  # local epochs of fine-tuning the global model


class FedAvgFT(FedAvg):
    name = "fedavg_ft"
    params_class = FedAvgFtParams
    personalized_is_global = False
    personalize_every_round = False  # a fine-tuning epoch per client: the last round only
    personalized = "the global model fine-tuned on the client's training split"

    def __init__(self, ctx: SimContext, params: FedAvgFtParams):
        super().__init__(ctx, params)
        self.finetune_epochs = params.finetune_epochs

    def personalized_model(self, cid: int, rnd: int, global_state: State | None, personal: State,
                           pool: ModelPool) -> tuple[ModelKey, State]:
        assert global_state is not None
        key = self.ctx.roster.key(GLOBAL, cid)
        module = fast_layout(pool.load(key, global_state))
        lr = self.ctx.federation.optimizer.lr
        task = ClientTask(cid, rnd, lr, {}, global_state, {})
        optimizer = make_optimizer(module.parameters(), self.ctx.federation.optimizer, lr)
        self.train(task, [module], [optimizer], cross_entropy_loss(module, GLOBAL),
                   epochs=self.finetune_epochs, stream=FINETUNE_SHUFFLE)
        return key, state_of(module)
