"""The client-side training loop, shared by every algorithm: mini-batches drawn from index
tensors, one backward over the summed loss, one optimizer per model, optional clipping."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fmlpipe.config.schema import FederationParams, OptimizerParams
from fmlpipe.fl.precision import autocast

# (x, y) -> (loss to minimize, {model name: its loss for the record}).
BatchLoss = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class DivergenceError(RuntimeError):
    """A loss became NaN or infinite."""


class ClientDiverged(DivergenceError):
    """A client's loss became NaN or infinite; ``cid`` names it."""

    def __init__(self, cid: int, message: str):
        super().__init__(message)
        self.cid = cid


@dataclass(frozen=True)
class LocalSettings:
    epochs: int
    steps: int | None  # when set: exactly this many batches, cycling over reshuffled epochs
    batch_size: int
    optimizer: OptimizerParams
    grad_clip: float | None
    precision: str = "fp32"  # fp32 | bf16 (``fl.precision``)

    @classmethod
    def from_params(cls, f: FederationParams, epochs: int | None = None) -> LocalSettings:
        return cls(epochs or f.local_epochs, None if epochs else f.local_steps, f.batch_size, f.optimizer, f.grad_clip,
                   f.precision)


def batch_indices(n: int, s: LocalSettings, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Positions 0..n-1 in shuffled mini-batches (the last one may be smaller)."""
    produced = 0
    epoch = 0
    while True:
        perm = torch.randperm(n, generator=gen, device=gen.device)
        for start in range(0, n, s.batch_size):
            if s.steps is not None and produced == s.steps:
                return
            yield perm[start : start + s.batch_size]
            produced += 1
        epoch += 1
        if s.steps is None and epoch == s.epochs:
            return


def train_local(
    modules: Sequence[nn.Module],
    optimizers: Sequence[torch.optim.Optimizer],
    batch_loss: BatchLoss,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: LocalSettings,
    gen: torch.Generator,
) -> dict[str, float]:
    """Train ``modules`` together on (x, y), ``optimizers[i]`` stepping ``modules[i]``; returns
    each model's mean batch loss.

    The models' losses are summed before one backward: their parameters are disjoint and each
    peer term is detached, so each model receives exactly the gradient of its own loss.
    """
    for module in modules:
        module.train()
    sums: dict[str, torch.Tensor] = {}
    batches = 0
    for idx in batch_indices(x.shape[0], settings, gen):
        with autocast(settings.precision, x.device):
            total, parts = batch_loss(x[idx], y[idx])
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        if settings.grad_clip is not None:
            for module in modules:  # per model, not over all models at once
                nn.utils.clip_grad_norm_(module.parameters(), settings.grad_clip)
        for opt in optimizers:
            opt.step()
        for name, value in parts.items():
            sums[name] = sums.get(name, 0.0) + value.detach()
        batches += 1
    # One device sync per client round instead of one per batch.
    means = {name: float(total) / batches for name, total in sums.items()}
    bad = [name for name, value in means.items() if not torch.isfinite(torch.tensor(value))]
    if bad:
        raise DivergenceError(f"loss of the {bad[0]} model is {means[bad[0]]}")
    return means
