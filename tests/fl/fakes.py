"""A tiny synthetic federation for engine tests: unequal clients, one far smaller than a batch."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from fmlpipe.config.schema import FederationParams, OptimizerParams, Section
from fmlpipe.fl.algorithms import ALGORITHMS, configured
from fmlpipe.fl.algorithms.base import Algorithm, SimContext
from fmlpipe.fl.backend import LocalBackend
from fmlpipe.fl.data import ClientSplit, FederatedData
from fmlpipe.fl.engines import EngineChoice
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool, init_state
from fmlpipe.fl.protocol import ClientResult, EvalTask, State
from fmlpipe.fl.roster import Roster
from fmlpipe.fl.seeding import GLOBAL_INIT
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
    return OptimizerParams(**{"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.01,
                              "state": "persistent", **changes})


def adam(**changes: Any) -> OptimizerParams:
    return OptimizerParams(**{"name": "adam", "lr": 0.01, "momentum": 0.0, "weight_decay": 0.01,
                              "state": "persistent", **changes})


def section(name: str) -> Section:
    return configured(small_params())[name][1] if name in small_params().algorithms else \
        ALGORITHMS[name].params_class.model_validate({})


@dataclass
class FakeRun:
    """An algorithm with its clients in this process, as the train stage builds it."""

    alg: Algorithm
    backend: LocalBackend
    pool: ModelPool

    def global_state(self) -> State | None:
        return init_state(self.pool.get(GLOBAL), 0, GLOBAL_INIT) if self.alg.uses_global else None

    def round(self, cids: list[int], global_state: State | None, rnd: int, lr: float) -> list[ClientResult]:
        return self.backend.train(rnd, lr, self.alg.round_values(1, 1), cids, global_state)

    @property
    def personal(self) -> dict[int, State]:
        return dict(self.backend.states())

    def personal_accuracy(self, cid: int, global_state: State | None = None) -> float:
        personal = self.backend.personal.get(cid) if self.alg.keeps_state else {}
        return self.alg.personalized_accuracy(EvalTask(cid, 1, global_state, personal), self.pool)


def make_run(name: str, model: str, fed: FederationParams, engine: str, data: FederatedData,
             params: Section | None = None, compile: str = "off") -> FakeRun:
    pool = ModelPool({GLOBAL: model, LOCAL: model}, SHAPE, CLASSES, torch.device("cpu"))
    cls = ALGORITHMS[name]
    roster = replace(Roster.uniform(model, model, data.num_clients, CLASSES), private_heads=cls.private_heads)
    alg = cls(SimContext(data, fed, roster, 0), params or section(name))
    return FakeRun(alg, LocalBackend(alg, EngineChoice(engine, compile).build(pool), pool), pool)
