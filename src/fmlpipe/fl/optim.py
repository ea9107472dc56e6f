"""Optimizers, their state as plain tensors, and the per-round learning rate.

A model that stays on its client (FML's local model, local-only's, a private head) keeps its
optimizer state across rounds when ``federation.optimizer.state`` is ``persistent``, as the
FML authors' code keeps the local model's optimizer: the state travels in the client's
personal state as ``<parameter>/<buffer>`` tensors. A model received from the server starts
each round with a fresh optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from fmlpipe.config.schema import LrScheduleParams, OptimizerParams
from fmlpipe.fl.protocol import State

BUFFERS = {"sgd": ("momentum_buffer",), "adam": ("exp_avg", "exp_avg_sq", "step")}


def make_optimizer(parameters: Iterable[torch.nn.Parameter], opt: OptimizerParams, lr: float) -> torch.optim.Optimizer:
    """A fresh optimizer (no state).

    SGD is fused (one kernel for every parameter's update): 7% faster FML steps than the
    default for-each update on a 2-core CPU with the cnn at batch 10, 15% at 64. Its rounding
    differs from the single-tensor arithmetic ``fl.engines.stacked_optim`` copies by float ulps only.
    """
    if opt.name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=opt.momentum, weight_decay=opt.weight_decay, fused=True)
    if opt.name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=opt.weight_decay, fused=True)
    raise ValueError(f"unknown optimizer {opt.name!r}")


def buffer_names(opt: OptimizerParams) -> tuple[str, ...]:
    """The per-parameter state ``opt`` keeps (none for SGD without momentum)."""
    if opt.name == "sgd" and opt.momentum == 0:
        return ()
    return BUFFERS[opt.name]


def fresh_state(module: nn.Module, names: Iterable[str], opt: OptimizerParams) -> State:
    """The state of a fresh optimizer over ``module``'s parameters ``names``, as tensors: zero
    buffers and a zero step count. Loaded by :func:`load_state`, it makes exactly the updates of
    a fresh optimizer: SGD's first step computes ``0 * momentum + g == g`` where a fresh one
    copies ``g``, and Adam initializes to these very zeros."""
    params = dict(module.named_parameters())
    out: State = {}
    for name in names:
        p = params[name]
        for buf in buffer_names(opt):
            shape = () if buf == "step" else p.shape
            dtype = torch.float32 if buf == "step" else p.dtype
            out[f"{name}/{buf}"] = torch.zeros(shape, dtype=dtype, device=p.device)
    return out


def load_state(optimizer: torch.optim.Optimizer, module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Give ``optimizer`` the saved buffers of ``module``'s parameters (``<name>/<buffer>``), each
    in its parameter's memory format (a channels-last weight gets a channels-last buffer)."""
    params = dict(module.named_parameters())
    for key, value in state.items():
        name, buf = key.rsplit("/", 1)
        p = params[name]
        target = value.clone() if buf == "step" else torch.empty_like(p).copy_(value)
        optimizer.state[p][buf] = target


def save_state(optimizer: torch.optim.Optimizer, module: nn.Module, names: Iterable[str]) -> State:
    """The buffers of ``module``'s parameters ``names`` after training, contiguous copies."""
    params = dict(module.named_parameters())
    out: State = {}
    for name in names:
        for buf, value in optimizer.state[params[name]].items():
            out[f"{name}/{buf}"] = value.detach().clone(memory_format=torch.contiguous_format)
    return out


def lr_at_round(base_lr: float, schedule: LrScheduleParams, rnd: int, rounds: int) -> float:
    """Learning rate for 1-based round ``rnd`` of ``rounds``."""
    if schedule.name == "constant":
        return base_lr
    if schedule.name == "step":
        return base_lr * schedule.gamma ** ((rnd - 1) // schedule.step_rounds)
    if schedule.name == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * (rnd - 1) / rounds))
    raise ValueError(f"unknown lr schedule {schedule.name!r}")
