"""FedRep (Collins, Hassani, Mokhtari and Shakkottai, ICML 2021, arXiv 2102.07078), Algorithm 1.

Each model is a shared body (representation) and a private head (the output layer,
``ModelSpec.head_prefix``). Every round a client first trains its own head for ``head_epochs``
with the body frozen at the received one, then the body for ``body_epochs`` with the new head
frozen. Each phase has its own optimizer over its own parameters alone, so what is frozen does
not move (no momentum or weight decay leaks into it); the head's optimizer state stays with
the head. Only bodies are sent and averaged (sample-weighted, as the project's FedAvg). The
paper's image-classification budget: 10 head epochs, then 1 body epoch.

While the body is frozen its output for each example is fixed, where the forward pass does not
depend on the batch (no BatchNorm, no dropout): the head epochs then train the head on the
body's features, computed once per round, with the same batches, loss, clipping and optimizer.
That is the same update in exact arithmetic at a fraction of the cost (10 head epochs cost 10
forward passes of the body otherwise); a body whose forward depends on the batch runs the head
epochs through the whole model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import Field
from torch import nn

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import SimContext, cross_entropy_loss
from fmlpipe.fl.algorithms.fedper import FedPer
from fmlpipe.fl.local_train import BatchLoss
from fmlpipe.fl.modelpool import GLOBAL, ModelPool
from fmlpipe.fl.optim import load_state, make_optimizer
from fmlpipe.fl.personal_parts import split
from fmlpipe.fl.precision import autocast
from fmlpipe.fl.protocol import ClientResult, ClientTask
from fmlpipe.fl.seeding import BODY_SHUFFLE, SHUFFLE

HEAD, BODY = "head", "body"
FEATURE_CHUNK = 1024  # examples per forward pass of the frozen body: bounds its activations' memory


class FedRepParams(Section):
    head_epochs: int = Field(ge=1, le=1000)  # epochs on the private head, body frozen
    body_epochs: int = Field(ge=1, le=1000)  # then epochs on the body, head frozen


class FedRep(FedPer):
    name = "fedrep"
    params_class = FedRepParams
    personalized = "the averaged body with the client's own head"

    def __init__(self, ctx: SimContext, params: FedRepParams):
        super().__init__(ctx, params)
        self.head_epochs, self.body_epochs = params.head_epochs, params.body_epochs

    def client_round(self, task: ClientTask, pool: ModelPool) -> ClientResult:
        parts = split(task.personal)
        slot = self.slots[0]
        module = self.load_slot(slot, task, parts, pool)
        head = self.kept_parameters(slot, module)
        opt = self.ctx.federation.optimizer
        head_opt = make_optimizer(_params(module, head, True), opt, task.lr)
        if slot.name in parts.optim:  # the head's momentum, kept from its last round
            load_state(head_opt, module, parts.optim[slot.name])
        loss = cross_entropy_loss(module, GLOBAL)
        with _trainable(module, head):
            head_loss = self._train_head(task, module, head_opt, loss)
        body_opt = make_optimizer(_params(module, head, False), opt, task.lr)
        with _trainable(module, [n for n, _ in module.named_parameters() if n not in head]):
            body_loss = self.train(task, [module], [body_opt], loss, self.body_epochs, BODY_SHUFFLE)
        losses = {HEAD: head_loss[GLOBAL], BODY: body_loss[GLOBAL]}
        return self.result(task, [module], [head_opt], parts, losses)

    def _train_head(self, task: ClientTask, module: nn.Module, head_opt: torch.optim.Optimizer,
                    loss: BatchLoss) -> dict[str, float]:
        """The head epochs, body frozen: on the body's features where they are fixed, else
        through the whole model with ``loss``."""
        if not features_fixed(module):
            return self.train(task, [module], [head_opt], loss, self.head_epochs, SHUFFLE)
        layer = module.get_submodule(self.ctx.roster.head_prefix.rstrip("."))
        x, y = self.client_xy(task.cid)
        module.train()
        features = head_inputs(module, layer, x, self.ctx.federation.precision)
        return self.train(task, [layer], [head_opt], cross_entropy_loss(layer, GLOBAL), self.head_epochs, SHUFFLE,
                          xy=(features, y))


def features_fixed(module: nn.Module) -> bool:
    """Whether each example's forward pass is the same in any batch, in training mode: no
    buffers (BatchNorm's batch statistics) and no dropout."""
    return not any(True for _ in module.buffers()) and not any(
        isinstance(m, nn.modules.dropout._DropoutNd) for m in module.modules())


def head_inputs(module: nn.Module, layer: nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
    """What ``layer`` receives when ``module`` runs on each row of ``x`` (forward passes of
    ``FEATURE_CHUNK`` rows, no autograd)."""
    captured: list[torch.Tensor] = []

    def keep(_: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured.append(args[0])

    hook = layer.register_forward_pre_hook(keep)
    try:
        with torch.no_grad(), autocast(precision, x.device):
            for start in range(0, x.shape[0], FEATURE_CHUNK):
                module(x[start : start + FEATURE_CHUNK])
    finally:
        hook.remove()
    return torch.cat(captured)


def _params(module: nn.Module, names: Sequence[str], inside: bool) -> list[nn.Parameter]:
    chosen = set(names)
    return [p for n, p in module.named_parameters() if (n in chosen) == inside]


class _trainable:
    """Only the parameters ``names`` take gradients inside the block (all of them after). No
    gradient survives the block: a frozen parameter's stale gradient would otherwise count in
    the next phase's clipping norm (the module is reused for every client of a worker)."""

    def __init__(self, module: nn.Module, names: Sequence[str]):
        self.module, self.names = module, set(names)

    def __enter__(self) -> None:
        for name, p in self.module.named_parameters():
            p.grad = None
            p.requires_grad_(name in self.names)

    def __exit__(self, *exc: object) -> None:
        for p in self.module.parameters():
            p.grad = None
            p.requires_grad_(True)
