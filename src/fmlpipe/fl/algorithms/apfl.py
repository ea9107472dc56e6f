"""APFL (Deng, Kamani and Mahdavi, arXiv 2003.13461), Algorithm 1, "Local Descent APFL", with
adaptive or fixed mixing.

Each client keeps a local model v and a mixing weight alpha in [0, 1]; its personalized model
is the mix of parameters ``v_bar = alpha * v + (1 - alpha) * w`` with its copy w of the global
model. On every mini-batch, from the same step's values:

    w     <- w - eta * grad f(w)
    v     <- v - eta * alpha * grad f(v_bar)              (the gradient of f(v_bar) in v)
    alpha <- clip(alpha - eta * <v - w, grad f(v_bar)>, 0, 1)   (adaptive alpha only)

Only w is sent and averaged. v, its optimizer state and alpha stay on the client. The mix is of
parameters, as the paper writes it, not of outputs (as some public code does). w and v use the
project's optimizer; alpha takes plain projected gradient steps of the same learning rate, at
every step (the paper's rule as its Algorithm states it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from pydantic import Field
from torch.func import functional_call

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import Algorithm, SimContext, Slot
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelKey, ModelPool
from fmlpipe.fl.objectives import cross_entropy
from fmlpipe.fl.personal_parts import Parts, split
from fmlpipe.fl.protocol import ClientResult, ClientTask, State

ALPHA = "alpha"  # the mixing weight, in the personal state's extra part
MIXED = "mixed"


class ApflParams(Section):
    alpha: float = Field(ge=0.0, le=1.0)  # the mixing weight every client starts with
    adaptive: bool  # learn each client's alpha (True) or keep it fixed


class ProjectedSGD(torch.optim.Optimizer):
    """Plain gradient steps kept in [0, 1]: alpha's update."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.sub_(p.grad, alpha=group["lr"]).clamp_(0.0, 1.0)


def mix(alpha: torch.Tensor | float, own: Mapping[str, torch.Tensor], shared: Mapping[str, torch.Tensor]) -> State:
    """``alpha * own + (1 - alpha) * shared``, entry by entry."""
    return {name: alpha * own[name] + (1 - alpha) * shared[name] for name in own}


class APFL(Algorithm):
    name = "apfl"
    roles = (GLOBAL, LOCAL)
    slots = (Slot(MIXED, LOCAL, personal=True), Slot(GLOBAL, GLOBAL, personal=False))
    supports_heterogeneity = False  # v and w are mixed: one architecture
    personalized = "the client's mix alpha * v + (1 - alpha) * w of its own and the global model"
    params_class = ApflParams

    def __init__(self, ctx: SimContext, params: ApflParams):
        super().__init__(ctx, params)
        self.alpha, self.adaptive = params.alpha, params.adaptive
        self.require_global_architecture()

    def initial_personal(self, cid: int, pool: ModelPool) -> State:
        parts = split(super().initial_personal(cid, pool))
        parts.extra[ALPHA] = torch.tensor(self.alpha, dtype=torch.float32, device=pool.device)
        return parts.join()

    def client_round(self, task: ClientTask, pool: ModelPool) -> ClientResult:
        parts = split(task.personal)
        own, shared = (self.load_slot(slot, task, parts, pool) for slot in self.slots)
        optimizers = self.optimizers([own, shared], parts, task.lr)
        alpha = parts.extra[ALPHA].clone().requires_grad_(self.adaptive)
        if self.adaptive:
            optimizers.append(ProjectedSGD([alpha], task.lr))
        v, w = dict(own.named_parameters()), dict(shared.named_parameters())

        def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            # w's own loss, and the loss of the mixed parameters, whose gradient reaches v (times
            # alpha) and alpha (<v - w, grad f(v_bar)>) but not w: w follows its own loss only.
            detached = {name: t.detach() for name, t in w.items()}
            mixed = cross_entropy(functional_call(own, mix(alpha, v, detached), (x,)), y)
            global_loss = cross_entropy(shared(x), y)
            return mixed + global_loss, {MIXED: mixed, GLOBAL: global_loss}

        losses = self.train(task, [own, shared], optimizers, loss)
        result = self.result(task, [own, shared], optimizers, parts, losses)
        kept = split(result.personal)
        return ClientResult(result.cid, result.sent, result.num_samples, result.losses,
                            Parts(kept.own, kept.head, kept.optim, {ALPHA: alpha.detach().clone()}).join())

    def personalized_model(self, cid: int, rnd: int, global_state: State | None, personal: State,
                           pool: ModelPool) -> tuple[ModelKey, State]:
        assert global_state is not None
        parts = split(personal)
        return self.ctx.roster.key(LOCAL, cid), mix(parts.extra[ALPHA], parts.own, global_state)
