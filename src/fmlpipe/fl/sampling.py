"""Which clients take part in a round: a count from ``clients_per_round`` and a seeded draw."""

from __future__ import annotations

import torch

from fmlpipe.fl.seeding import SAMPLE_CLIENTS, generator


def participants_per_round(clients_per_round: int | float, num_clients: int) -> int:
    if isinstance(clients_per_round, float):
        return max(1, round(clients_per_round * num_clients))
    return clients_per_round


def sample_clients(num_clients: int, count: int, seed: int, rnd: int) -> list[int]:
    """``count`` distinct clients for round ``rnd``, sorted; a pure function of (seed, round)."""
    if count >= num_clients:
        return list(range(num_clients))
    perm = torch.randperm(num_clients, generator=generator(seed, SAMPLE_CLIENTS, rnd))
    return sorted(perm[:count].tolist())
