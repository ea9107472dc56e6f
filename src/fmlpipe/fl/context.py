"""Build a run's :class:`SimContext` from its params and data: who each client is, the models,
the engine that trains them, and the personal-state table. Shared by the train stage and
``fmlpipe bench``."""

from __future__ import annotations

import torch

from fmlpipe.config import Params
from fmlpipe.fl.algorithms import refuse_heterogeneity
from fmlpipe.fl.algorithms.base import Algorithm, SimContext
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.engine import choose_engine, round_train_flops
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool
from fmlpipe.fl.personal import PersonalStates
from fmlpipe.fl.roster import Roster
from fmlpipe.fl.seeding import LOCAL_INIT

KEYS = {GLOBAL: "models.global", LOCAL: "models.local"}


def _local_key(params: Params, cid: int) -> str:
    """The params key that chose client ``cid``'s local architecture."""
    models = params.models
    if cid in models.local_overrides:
        return f"models.local_overrides.{cid}"
    return "models.local_cycle" if models.local_cycle else "models.local"


def build_context(params: Params, data: FederatedData, device: torch.device, cls: type[Algorithm]) -> SimContext:
    """Fails on an unknown or ill-fitting model, a setting the algorithm cannot honour, or an
    engine that cannot train it, before any training starts."""
    refuse_heterogeneity(cls, params)
    fed = params.federation
    names = {GLOBAL: params.models.global_, LOCAL: params.models.local}
    roster = Roster.from_params(params, data.num_clients, data.num_classes, device, shared_model=cls.uses_global)
    pool = ModelPool(names, data.input_shape, data.num_classes, device)
    for role in cls.roles:  # every model some client uses, built now so a bad one fails here
        for cid in range(data.num_clients):
            pool.module(roster.key(role, cid), KEYS[role] if role == GLOBAL else _local_key(params, cid))
    first = {role: pool.module(roster.key(role, 0)) for role in cls.roles}
    models = {KEYS[role]: (roster.key(role, 0).arch, first[role]) for role in cls.roles}
    flops = round_train_flops(data, fed, [first[slot.role] for slot in cls.slots])
    engine = choose_engine(fed.engine, models, device, fed, flops, roster.mixed)
    seed = params.base.seed
    personal = PersonalStates(pool, seed, LOCAL_INIT, data.num_clients, roster)
    return SimContext(data, fed, pool, personal, seed, engine.name, engine.compiled)
