"""FedAvg (McMahan et al. 2017): clients train the global model on their data; the server
takes the sample-weighted mean of the returned models."""

from __future__ import annotations

from fmlpipe.config.schema import FedAvgParams
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, ClientResult, SimContext, cross_entropy_loss
from fmlpipe.fl.local_train import BatchLoss
from fmlpipe.fl.modelpool import GLOBAL, state_of
from fmlpipe.fl.seeding import FINETUNE_SHUFFLE

from torch import nn


class FedAvg(Algorithm):
    name = "fedavg"

    def __init__(self, ctx: SimContext, params: FedAvgParams):
        super().__init__(ctx)
        self.params = params

    def batch_loss(self, module: nn.Module) -> BatchLoss:
        return cross_entropy_loss(module, GLOBAL)

    def client_update(self, cid: int, global_state: State | None, rnd: int, lr: float) -> ClientResult:
        assert global_state is not None
        module = self.ctx.pool.load(GLOBAL, global_state)
        losses = self.train(cid, [module], self.batch_loss(module), rnd, lr)
        return ClientResult(state_of(module), self.ctx.data.clients[cid].num_train, losses)

    def personalized_metrics(self, cid: int, global_state: State | None, global_acc: float | None) -> dict[str, float]:
        """The global model on the local test split, and optionally the usual personalized
        baseline: the global model fine-tuned on the client's data for ``finetune_epochs``."""
        metrics = super().personalized_metrics(cid, global_state, global_acc)
        if self.params.finetune_epochs > 0 and global_state is not None:
            module = self.ctx.pool.load(GLOBAL, global_state)
            lr = self.ctx.federation.optimizer.lr
            # Plain CE fine-tuning for every baseline, seeded apart from the training batches.
            self.train(cid, [module], cross_entropy_loss(module, GLOBAL), 0, lr,
                       epochs=self.params.finetune_epochs, stream=FINETUNE_SHUFFLE)
            metrics["acc_finetuned"] = self.local_test_accuracy(module, cid)
        return metrics
