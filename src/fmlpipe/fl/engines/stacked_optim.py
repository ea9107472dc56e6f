"""torch.optim.SGD and Adam, and ``clip_grad_norm_``, on stacked client states.

Every leaf is [K, ...], one slice per client. A step updates only the first ``a`` clients, the
ones that had a batch (``fl.batch_plan``): the rest are not touched at all, so neither momentum
nor weight decay moves a client that has run out of data. Because the active clients are
always a prefix that only shrinks, every active client has taken the same number of steps, and
Adam's bias correction is one number per step. The arithmetic follows torch's single-tensor
(CPU) implementations, operation by operation.
"""

from __future__ import annotations

import torch

from fmlpipe.config.schema import OptimizerParams

ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, which ``fl.optim`` uses
ADAM_EPS = 1e-8


class StackedOptimizer:
    """An optimizer over stacked leaves, fresh (zero state) unless ``state`` gives each leaf's
    saved moments (``state[m][i]``: moment ``m`` of leaf ``i``, [K, ...]; SGD: the momentum
    buffer; a model kept on its client resumes its SGD momentum, ``fl.optim``)."""

    def __init__(self, leaves: list[torch.Tensor], opt: OptimizerParams, lr: float,
                 state: list[list[torch.Tensor]] | None = None):
        self.leaves, self.opt, self.lr = leaves, opt, lr
        self.steps = 0
        moments = 2 if opt.name == "adam" else int(opt.momentum != 0)
        # Zero-initialized momentum equals torch's "clone the first gradient": 0 * m + g == g.
        self.state = state if state is not None else [[torch.zeros_like(p) for p in leaves] for _ in range(moments)]

    def step(self, active: int, grads: list[torch.Tensor]) -> None:
        """Update clients ``[:active]`` with their gradients ``grads`` ([active, ...] each; used
        as scratch space)."""
        params = [p[:active] for p in self.leaves]
        state = [[s[:active] for s in moment] for moment in self.state]
        if self.opt.weight_decay != 0:  # in place: a fresh copy of every gradient costs as much again
            torch._foreach_add_(grads, params, alpha=self.opt.weight_decay)
        self.steps += 1
        if self.opt.name == "sgd":
            if self.opt.momentum != 0:
                torch._foreach_mul_(state[0], self.opt.momentum)
                torch._foreach_add_(state[0], grads)
                grads = state[0]
            torch._foreach_add_(params, grads, alpha=-self.lr)
            return
        beta1, beta2 = ADAM_BETAS
        exp_avg, exp_avg_sq = state
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
        step_size = self.lr / (1 - beta1**self.steps)
        bias_correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        denom = torch._foreach_div(torch._foreach_sqrt(exp_avg_sq), bias_correction2_sqrt)
        torch._foreach_add_(denom, ADAM_EPS)
        torch._foreach_addcdiv_(params, exp_avg, denom, value=-step_size)


def clip_per_client(grads: list[torch.Tensor], max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` applied to each client's slice separately, in place:
    the norm is over one client's gradients of one model, never over the stack."""
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1) for g in grads], dim=1)
    coef = (max_norm / (torch.linalg.vector_norm(norms, dim=1) + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))
