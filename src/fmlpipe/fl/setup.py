"""Build a run from its params and data: who each client is, the models, the algorithm, the
engine that runs it and the backend that holds the clients. Shared by the train stage,
``fmlpipe bench`` and every Ray worker (``fmlpipe.cluster``), which builds the same run for the
clients it owns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fmlpipe.config import Params
from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms import refuse_heterogeneity
from fmlpipe.fl.algorithms.base import Algorithm, SimContext
from fmlpipe.fl.backend import LocalBackend
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.engines import EngineChoice, choose_engine, round_train_flops
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool
from fmlpipe.fl.precision import check_precision
from fmlpipe.fl.roster import Roster

KEYS = {GLOBAL: "models.global", LOCAL: "models.local"}


@dataclass(frozen=True)
class Run:
    """A run ready to simulate: ``pool`` holds the server's own modules."""

    alg: Algorithm
    backend: LocalBackend
    pool: ModelPool
    engine: EngineChoice


def _local_key(params: Params, cid: int) -> str:
    """The params key that chose client ``cid``'s local architecture."""
    models = params.models
    if cid in models.local_overrides:
        return f"models.local_overrides.{cid}"
    return "models.local_cycle" if models.local_cycle else "models.local"


def build_run(params: Params, data: FederatedData, device: torch.device, cls: type[Algorithm],
              section: Section, members: Sequence[int] | None = None) -> Run:
    """Fails on an unknown or ill-fitting model, a setting the algorithm cannot honour, or an
    engine that cannot run it, before any training starts. ``members``: the clients this
    process holds (a Ray worker's shard), by default all of them."""
    refuse_heterogeneity(cls, params)
    fed = params.federation
    check_precision(fed.precision, device)
    names = {GLOBAL: params.models.global_, LOCAL: params.models.local}
    roster = Roster.from_params(params, data.num_clients, data.num_classes, device, shared_model=cls.uses_global,
                                private_heads=cls.private_heads)
    pool = ModelPool(names, data.input_shape, data.num_classes, device)
    for role in cls.roles:  # every model some client uses, built now so a bad one fails here
        for cid in range(data.num_clients):
            pool.module(roster.key(role, cid), KEYS[role] if role == GLOBAL else _local_key(params, cid))
    first = {role: pool.module(roster.key(role, 0)) for role in cls.roles}
    models = {KEYS[role]: (roster.key(role, 0).arch, first[role]) for role in cls.roles}
    alg = cls(SimContext(data, fed, roster, params.base.seed), section)
    flops = round_train_flops(data, fed, [first[slot.role] for slot in cls.slots])
    engine = choose_engine(fed.engine, alg, models, device, flops, roster.mixed, fed.compile)
    return Run(alg, LocalBackend(alg, engine.build(pool), pool, members), pool, engine)
