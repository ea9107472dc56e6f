"""Build a run's :class:`SimContext` from its params and data: the models, the engine that
trains them, and the personal-state table. Shared by the train stage and ``fmlpipe bench``."""

from __future__ import annotations

import torch

from fmlpipe.config import Params
from fmlpipe.fl.algorithms.base import Algorithm, SimContext
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.engine import choose_engine, round_train_flops
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool
from fmlpipe.fl.personal import PersonalStates
from fmlpipe.fl.seeding import LOCAL_INIT

KEYS = {GLOBAL: "models.global", LOCAL: "models.local"}


def build_context(params: Params, data: FederatedData, device: torch.device, cls: type[Algorithm]) -> SimContext:
    """Fails on an unknown or ill-fitting model, or an engine that cannot train it, before any
    training starts."""
    fed = params.federation
    names = {GLOBAL: params.models.global_, LOCAL: params.models.local}
    pool = ModelPool(names, data.input_shape, data.num_classes, device)
    models = {KEYS[role]: (names[role], pool.get(role)) for role in cls.roles}
    flops = round_train_flops(data, fed, [pool.get(slot.role) for slot in cls.slots])
    engine = choose_engine(fed.engine, models, device, fed, flops)
    seed = params.base.seed
    personal = PersonalStates(pool, seed, LOCAL_INIT, data.num_clients)
    return SimContext(data, fed, pool, personal, seed, engine.name, engine.compiled)
