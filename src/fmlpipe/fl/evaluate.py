"""Accuracy and loss of a model on a set of examples, in large no-grad batches, the
model in its fast memory layout (``modelpool.fast_layout``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from fmlpipe.fl.modelpool import fast_layout
from fmlpipe.fl.precision import autocast
from fmlpipe.fl.threads import map_single_threaded

T = TypeVar("T")

# Images per forward pass. Large enough to amortize each op's fixed cost, small enough that the
# largest activation stays under 32 MB, the most glibc's malloc will serve from its heap: above
# it every batch gets freshly mapped pages from the OS and faults them in. The cnn's first
# activation is 18.9 MB at 256 images and 37.7 MB at 512, where evaluating 10k images takes
# 160-210k page faults and 0.3-0.4 s of system time, against 5-8k at 256 (2 cores,
# ``benchmarks/eval_batches.py``). 512 was 2.3x the throughput of 2048 on the AMD EPYC machine
# this was first tuned on.
EVAL_BATCH = 256


def evaluate(module: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str = "fp32") -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``module`` in eval mode on (x, y)."""

    @torch.no_grad()
    def batch(start: int) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(precision, x.device):
            logits = module(x[start : start + EVAL_BATCH])
        logits, target = logits.float(), y[start : start + EVAL_BATCH]
        return (logits.argmax(dim=1) == target).sum(), F.cross_entropy(logits, target, reduction="sum").double()

    with _eval_mode(module):
        sums = _per_batch(batch, int(x.shape[0]), x.device)
    n = max(int(x.shape[0]), 1)
    correct = sum(int(c) for c, _ in sums)
    loss = float(torch.stack([s for _, s in sums]).sum()) if sums else 0.0
    return correct / n, loss / n


def grouped_accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor, idx: Sequence[torch.Tensor],
                     precision: str = "fp32") -> list[float]:
    """Accuracy of one model on many index sets into (x, y) (every client's local test
    split), in shared large batches instead of one small evaluation per set."""
    flat = torch.cat(list(idx))

    @torch.no_grad()
    def batch(start: int) -> torch.Tensor:
        part = flat[start : start + EVAL_BATCH]
        with autocast(precision, x.device):
            logits = module(x[part])
        hit: torch.Tensor = logits.argmax(dim=1) == y[part]
        return hit

    with _eval_mode(module):
        hits = _per_batch(batch, int(flat.shape[0]), x.device)
    sizes = [int(i.numel()) for i in idx]
    flat_hits = torch.cat(hits).long() if hits else torch.zeros(0, dtype=torch.int64, device=x.device)
    return [int(s) / max(n, 1) for s, n in zip(_segment_sums(flat_hits, sizes), sizes)]


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode and its fast layout, its training flag restored afterwards."""
    was_training = module.training
    fast_layout(module).eval()
    try:
        yield
    finally:
        module.train(was_training)


def _per_batch(work: Callable[[int], T], count: int, device: torch.device) -> list[T]:
    """``work(start)`` for each batch of ``count`` examples, in order. On CPU, each batch on
    one thread, the batches spread over a worker per core (``fmlpipe.fl.threads``): 1.26-1.35x
    the throughput of two intra-op threads per batch for the cnn on 2 cores (three runs of
    ``benchmarks/eval_batches.py``), and the same bits on any number of cores."""
    starts = list(range(0, count, EVAL_BATCH))
    if device.type == "cpu":
        return map_single_threaded(work, starts)
    return [work(start) for start in starts]


def _segment_sums(values: torch.Tensor, sizes: list[int]) -> list[int]:
    owner = torch.repeat_interleave(torch.arange(len(sizes), device=values.device),
                                    torch.tensor(sizes, device=values.device))
    return torch.zeros(len(sizes), dtype=torch.int64, device=values.device).index_add_(0, owner, values).tolist()
