"""A tiny synthetic federation for engine tests: unequal clients, one far smaller than a batch."""

from __future__ import annotations

from typing import Any

import torch

from fmlpipe.config.schema import FederationParams, OptimizerParams
from fmlpipe.fl.algorithms import ALGORITHMS
from fmlpipe.fl.algorithms.base import Algorithm, SimContext
from fmlpipe.fl.data import ClientSplit, FederatedData
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool
from fmlpipe.fl.personal import PersonalStates
from fmlpipe.fl.seeding import LOCAL_INIT

from tests.conftest import small_params

SIZES = (37, 5, 61, 23)  # batch 8 divides none of them; client 1 has less than one batch
SHAPE = (1, 16, 16)
CLASSES = 3


def fake_data(dtype: torch.dtype = torch.float32) -> FederatedData:
    g = torch.Generator().manual_seed(0)
    n = sum(SIZES) + 4 * len(SIZES)
    x = torch.rand(n, *SHAPE, generator=g, dtype=dtype)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    perm = torch.randperm(n, generator=g)
    clients, start = [], 0
    for size in SIZES:
        clients.append(ClientSplit(perm[start : start + size], perm[start + size : start + size + 4]))
        start += size + 4
    return FederatedData(x, y, x[:16], y[:16], tuple(clients), SHAPE, CLASSES)


def federation(**changes: Any) -> FederationParams:
    return small_params().federation.model_copy(update={"batch_size": 8, "local_epochs": 2, **changes})


def sgd(**changes: Any) -> OptimizerParams:
    return OptimizerParams(**{"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, **changes})


def adam(**changes: Any) -> OptimizerParams:
    return OptimizerParams(**{"name": "adam", "lr": 0.01, "momentum": 0.0, "weight_decay": 0.01, **changes})


def make_algorithm(name: str, model: str, fed: FederationParams, engine: str, data: FederatedData,
                   section: Any = None, compiled: bool = False) -> Algorithm:
    pool = ModelPool({GLOBAL: model, LOCAL: model}, SHAPE, CLASSES, torch.device("cpu"))
    ctx = SimContext(data, fed, pool, PersonalStates(pool, 0, LOCAL_INIT, data.num_clients), 0, engine, compiled)
    section = section or getattr(small_params().algorithms, name)
    return ALGORITHMS[name](ctx, section)
