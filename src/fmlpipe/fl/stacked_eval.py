"""Every client's private model on its own local test split, read from the personal table in
chunks, one cohort of clients with the same model and task at a time. Clients with small test
splits (the many-client case) are evaluated many at a time with ``vmap`` over
``functional_call``, each split padded to the longest in its chunk (clients are chunked by
size, so padding stays small); a client with a large split fills a batch alone."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn.utils.rnn import pad_sequence

from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.evaluate import EVAL_BATCH
from fmlpipe.fl.heads import split_personal
from fmlpipe.fl.personal import PersonalStates

EVAL_CLIENTS = 32  # clients per chunk: bounds the states held at once (32 cnn states: 75 MB)
ALONE = 128  # test samples from which a client is evaluated on its own (vmap gains nothing)

State = dict[str, torch.Tensor]


@torch.no_grad()
def stacked_personal_accuracies(personal: PersonalStates, data: FederatedData) -> list[float]:
    """Accuracy of each client's personal state (its own model, ``personal.roster``) on its
    local test split, labelled by its task."""
    roster = personal.roster
    tests = [split.test for split in data.clients]
    hits: dict[int, int] = {}
    for (key, task), cids in roster.cohorts().items():
        module = personal.pool.module(key)
        was_training = module.training
        module.eval()
        y = roster.relabel(data.train_y, task)
        order = sorted(cids, key=lambda cid: tests[cid].numel())
        for start in range(0, len(order), EVAL_CLIENTS):
            chunk = order[start : start + EVAL_CLIENTS]
            states = split_personal(personal.gather(chunk))[0]
            small = [i for i, cid in enumerate(chunk) if tests[cid].numel() < ALONE]
            if small:
                picked = states if len(small) == len(chunk) else {name: t[small] for name, t in states.items()}
                hits.update(zip([chunk[i] for i in small],
                                _hits_together(module, picked, [tests[chunk[i]] for i in small], data.train_x, y)))
            for i, cid in enumerate(chunk):
                if tests[cid].numel() >= ALONE:
                    hits[cid] = _hits_alone(module, {name: t[i] for name, t in states.items()}, tests[cid],
                                            data.train_x, y)
        module.train(was_training)
    return [hits[cid] / max(tests[cid].numel(), 1) for cid in range(data.num_clients)]


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
