"""Many clients' models of one architecture on their own local test splits, in one call.

Clients with small test splits (the many-client case) are evaluated many at a time with
``vmap`` over ``functional_call``, each split padded to the longest in its chunk (clients are
chunked by size, so padding stays small); a client with a large split fills a batch alone."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn.utils.rnn import pad_sequence

from fmlpipe.fl.evaluate import EVAL_BATCH
from fmlpipe.fl.precision import autocast
from fmlpipe.fl.protocol import State

EVAL_CLIENTS = 32  # clients per chunk: bounds the states held at once (32 cnn states: 75 MB)
ALONE = 128  # test samples from which a client is evaluated on its own (vmap gains nothing)


@torch.no_grad()
def stacked_hits(module: nn.Module, states: list[State], tests: list[torch.Tensor], x: torch.Tensor,
                 y: torch.Tensor, precision: str = "fp32") -> list[int]:
    """Correct predictions of each state (in ``module``'s architecture) on its rows ``tests[i]``
    of (x, y)."""
    was_training = module.training
    module.eval()
    hits = [0] * len(states)
    with autocast(precision, x.device):
        _fill(hits, module, states, tests, x, y)
    module.train(was_training)
    return hits


def _fill(hits: list[int], module: nn.Module, states: list[State], tests: list[torch.Tensor], x: torch.Tensor,
          y: torch.Tensor) -> None:
    small = [i for i, t in enumerate(tests) if t.numel() < ALONE]
    if small:
        stacked = {name: torch.stack([states[i][name] for i in small]) for name in states[small[0]]}
        for i, h in zip(small, _hits_together(module, stacked, [tests[i] for i in small], x, y)):
            hits[i] = h
    for i, t in enumerate(tests):
        if t.numel() >= ALONE:
            hits[i] = _hits_alone(module, states[i], t, x, y)


def _hits_alone(module: nn.Module, state: State, idx: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> int:
    correct = 0
    for start in range(0, idx.numel(), EVAL_BATCH):
        part = idx[start : start + EVAL_BATCH]
        logits = functional_call(module, state, (x[part],))
        correct += int((logits.argmax(dim=1) == y[part]).sum())
    return correct


def _hits_together(module: nn.Module, states: State, tests: list[torch.Tensor], x: torch.Tensor,
                   y: torch.Tensor) -> list[int]:
    forward = vmap(lambda state, xb: functional_call(module, state, (xb,)))
    device = x.device
    sizes = torch.tensor([t.numel() for t in tests], device=device)
    idx = pad_sequence(tests, batch_first=True)  # [k, longest], 0-padded
    real = torch.arange(idx.shape[1], device=device) < sizes[:, None]
    hits = torch.zeros(len(tests), dtype=torch.int64, device=device)
    step = max(1, EVAL_BATCH // len(tests))  # samples per client per call: ~EVAL_BATCH in all
    for col in range(0, idx.shape[1], step):
        part = idx[:, col : col + step]
        logits = forward(states, x[part])  # [k, step, classes]
        hits += ((logits.argmax(dim=-1) == y[part]) & real[:, col : col + step]).sum(dim=1)
    return [int(h) for h in hits.tolist()]
