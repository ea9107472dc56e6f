"""A round's mini-batches for every participating client, laid out for the vectorized engine.

The batches are exactly those the sequential engine draws (``local_train.batch_indices`` with
the same per-client generator), padded to the batch size and stacked step by step. Clients are
ordered by their number of batches, most first, so the clients that still have a batch at step
``t`` are always a prefix: the engine trains ``[:active[t]]`` and leaves the rest untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from torch.nn.utils.rnn import pad_sequence

from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.local_train import LocalSettings, batch_indices
from fmlpipe.fl.seeding import generator


@dataclass(frozen=True)
class BatchPlan:
    cids: list[int]  # clients, most batches first
    steps: list[int]  # each client's number of batches
    rows: torch.Tensor  # int64 [T, K, B]: rows of the dataset (padding: an arbitrary valid row)
    weight: torch.Tensor  # float32 [T, K, B]: 1 for a real sample, 0 for padding

    @property
    def num_steps(self) -> int:
        return self.rows.shape[0]

    def active(self) -> list[int]:
        """Per step, how many clients (a prefix of ``cids``) have a batch."""
        return [sum(1 for s in self.steps if s > t) for t in range(self.num_steps)]

    def part(self, start: int, stop: int) -> BatchPlan:
        """The plan of clients ``cids[start:stop]``."""
        steps = self.steps[start:stop]
        t = max(steps, default=0)
        return BatchPlan(self.cids[start:stop], steps, self.rows[:t, start:stop], self.weight[:t, start:stop])


def client_batches(
    train: torch.Tensor, settings: LocalSettings, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One client's batches as dataset rows [S, B] and weights [S, B]; ``train`` holds the
    client's dataset rows."""
    size = settings.batch_size
    batches = list(batch_indices(train.numel(), settings, gen))
    if not batches:
        return train.new_zeros((0, size)), torch.zeros((0, size), device=train.device)
    pos = pad_sequence(batches, batch_first=True)
    pos = F.pad(pos, (0, size - pos.shape[1]))  # a client smaller than one batch
    lengths = torch.tensor([b.numel() for b in batches], device=train.device)
    weight = (torch.arange(size, device=train.device) < lengths[:, None]).float()
    return train[pos], weight


def plan_round(data: FederatedData, cids: Sequence[int], settings: LocalSettings,
               seed: int, stream: int, rnd: int) -> BatchPlan:
    """The batches of ``cids`` in round ``rnd``, drawn from ``generator(seed, stream, rnd, cid)``."""
    drawn = {}
    for cid in cids:
        train = data.clients[cid].train
        drawn[cid] = client_batches(train, settings, generator(seed, stream, rnd, cid, device=train.device))
    order = sorted(cids, key=lambda cid: -drawn[cid][0].shape[0])  # stable: ties keep client order
    steps = [drawn[cid][0].shape[0] for cid in order]
    shape = (max(steps, default=0), len(order), settings.batch_size)
    device = data.train_x.device
    rows = torch.zeros(shape, dtype=torch.int64, device=device)
    weight = torch.zeros(shape, device=device)
    for k, cid in enumerate(order):
        r, w = drawn[cid]
        rows[: r.shape[0], k], weight[: w.shape[0], k] = r, w
    return BatchPlan(order, steps, rows, weight)
