"""Accuracy and loss of a model on a set of examples, in large no-grad batches, the
model in its fast memory layout (``modelpool.fast_layout``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from fmlpipe.fl.modelpool import fast_layout
from fmlpipe.fl.precision import autocast

EVAL_BATCH = 512  # activations of a 512-image batch stay in cache: 2.3x the throughput of 2048 (cnn, 2 cores)


@torch.no_grad()
def evaluate(module: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str = "fp32") -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``module`` in eval mode on (x, y)."""
    was_training = module.training
    fast_layout(module).eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    loss = torch.zeros((), dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], EVAL_BATCH):
        with autocast(precision, x.device):
            logits = module(x[start : start + EVAL_BATCH])
        logits = logits if logits.dtype != torch.bfloat16 else logits.float()
        target = y[start : start + EVAL_BATCH]
        correct += (logits.argmax(dim=1) == target).sum()
        loss += F.cross_entropy(logits, target, reduction="sum").double()
    module.train(was_training)
    n = max(int(x.shape[0]), 1)
    return int(correct) / n, float(loss) / n


@torch.no_grad()
def grouped_accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor, idx: Sequence[torch.Tensor],
                     precision: str = "fp32") -> list[float]:
    """Accuracy of one model on many index sets into (x, y) (every client's local test
    split), in shared large batches instead of one small evaluation per set."""
    was_training = module.training
    fast_layout(module).eval()
    flat = torch.cat(list(idx))
    hits = torch.empty(flat.shape[0], dtype=torch.int64, device=x.device)
    for start in range(0, flat.shape[0], EVAL_BATCH):
        part = flat[start : start + EVAL_BATCH]
        with autocast(precision, x.device):
            logits = module(x[part])
        hits[start : start + EVAL_BATCH] = logits.argmax(dim=1) == y[part]
    module.train(was_training)
    sizes = [int(i.numel()) for i in idx]
    return [int(s) / max(n, 1) for s, n in zip(_segment_sums(hits, sizes), sizes)]


def _segment_sums(values: torch.Tensor, sizes: list[int]) -> list[int]:
    owner = torch.repeat_interleave(torch.arange(len(sizes), device=values.device),
                                    torch.tensor(sizes, device=values.device))
    return torch.zeros(len(sizes), dtype=torch.int64, device=values.device).index_add_(0, owner, values).tolist()
