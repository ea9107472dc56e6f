"""FedRep (Collins, Hassani, Mokhtari and Shakkottai, ICML 2021, arXiv 2102.07078), Algorithm 1.

Each model is a shared body (representation) and a private head (the output layer,
``ModelSpec.head_prefix``). Every round a client first trains its own head for ``head_epochs``
with the body frozen at the received one, then the body for ``body_epochs`` with the new head
frozen. Each phase has its own optimizer over its own parameters alone, so what is frozen does
not move (no momentum or weight decay leaks into it); the head's optimizer state stays with
the head. Only bodies are sent and averaged (sample-weighted, as the project's FedAvg). The
paper's image-classification budget: 10 head epochs, then 1 body epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field
from torch import nn

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import SimContext, cross_entropy_loss
from fmlpipe.fl.algorithms.fedper import FedPer
from fmlpipe.fl.modelpool import GLOBAL, ModelPool
from fmlpipe.fl.optim import load_state, make_optimizer
from fmlpipe.fl.personal_parts import split
from fmlpipe.fl.protocol import ClientResult, ClientTask
from fmlpipe.fl.seeding import BODY_SHUFFLE, SHUFFLE

HEAD, BODY = "head", "body"


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
            head_loss = self.train(task, [module], [head_opt], loss, self.head_epochs, SHUFFLE)
        body_opt = make_optimizer(_params(module, head, False), opt, task.lr)
        with _trainable(module, [n for n, _ in module.named_parameters() if n not in head]):
            body_loss = self.train(task, [module], [body_opt], loss, self.body_epochs, BODY_SHUFFLE)
        losses = {HEAD: head_loss[GLOBAL], BODY: body_loss[GLOBAL]}
        return self.result(task, [module], [head_opt], parts, losses)


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
