"""FedAvg (McMahan et al. 2017): clients train the global model on their data; the server
takes the sample-weighted mean of the returned models."""

from __future__ import annotations

from fmlpipe.config.schema import FedAvgParams
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, SimContext, Slot, cross_entropy_loss
from fmlpipe.fl.modelpool import GLOBAL
from fmlpipe.fl.seeding import FINETUNE_SHUFFLE


class FedAvg(Algorithm):
    name = "fedavg"
    slots = (Slot(GLOBAL, GLOBAL, personal=False),)
    supports_heterogeneity = False  # one shared model: no client has a model of its own

    def __init__(self, ctx: SimContext, params: FedAvgParams):
        super().__init__(ctx)
        self.params = params

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
