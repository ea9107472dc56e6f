"""Optimizers and the per-round learning rate."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from fmlpipe.config.schema import LrScheduleParams, OptimizerParams


def make_optimizer(parameters: Iterable[torch.nn.Parameter], opt: OptimizerParams, lr: float) -> torch.optim.Optimizer:
    """A fresh optimizer: clients are stateless between rounds, so momentum starts at zero.

    SGD is fused (one kernel for every parameter's update): 7% faster FML steps than the
    default for-each update on a 2-core CPU with the cnn at batch 10, 15% at 64. Its rounding
    differs from the single-tensor arithmetic ``fl.stacked_optim`` copies by float ulps only.
    """
    if opt.name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=opt.momentum, weight_decay=opt.weight_decay, fused=True)
    if opt.name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=opt.weight_decay, fused=True)
    raise ValueError(f"unknown optimizer {opt.name!r}")


def lr_at_round(base_lr: float, schedule: LrScheduleParams, rnd: int, rounds: int) -> float:
    """Learning rate for 1-based round ``rnd`` of ``rounds``."""
    if schedule.name == "constant":
        return base_lr
    if schedule.name == "step":
        return base_lr * schedule.gamma ** ((rnd - 1) // schedule.step_rounds)
    if schedule.name == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * (rnd - 1) / rounds))
    raise ValueError(f"unknown lr schedule {schedule.name!r}")
