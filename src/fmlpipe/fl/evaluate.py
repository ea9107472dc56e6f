"""Accuracy and loss of a model on a set of examples, in large no-grad batches."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EVAL_BATCH = 2048


@torch.no_grad()
def evaluate(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``module`` in eval mode on (x, y)."""
    was_training = module.training
    module.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    loss = torch.zeros((), dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], EVAL_BATCH):
        logits = module(x[start : start + EVAL_BATCH])
        target = y[start : start + EVAL_BATCH]
        correct += (logits.argmax(dim=1) == target).sum()
        loss += F.cross_entropy(logits, target, reduction="sum").double()
    module.train(was_training)
    n = max(int(x.shape[0]), 1)
    return int(correct) / n, float(loss) / n
