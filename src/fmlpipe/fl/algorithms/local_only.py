"""Local-only training: every client trains its own model alone, nothing is communicated.
The lower bound that personalization methods must beat. With ``federation.optimizer.state:
persistent`` (the default) a client's optimizer state carries over between rounds, so its
training is one continuous run split into rounds."""

from __future__ import annotations

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import Algorithm, SimContext, Slot
from fmlpipe.fl.modelpool import LOCAL


class LocalParams(Section):
    """Local-only training has no parameters of its own."""


class LocalOnly(Algorithm):
    name = "local"
    uses_global = False
    roles = (LOCAL,)
    slots = (Slot(LOCAL, LOCAL, personal=True),)
    personalized = "the client's own model, trained alone"
    params_class = LocalParams

    def __init__(self, ctx: SimContext, params: LocalParams):
        super().__init__(ctx, params)
