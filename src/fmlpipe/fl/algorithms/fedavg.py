"""FedAvg (McMahan et al. 2017): clients train the global model on their data; the server
takes the sample-weighted mean of the returned models."""

from __future__ import annotations

from typing import ClassVar

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import Algorithm, SimContext, Slot
from fmlpipe.fl.modelpool import GLOBAL


class FedAvgParams(Section):
    """FedAvg has no parameters of its own (``federation`` says how clients train)."""


class FedAvg(Algorithm):
    name = "fedavg"
    slots = (Slot(GLOBAL, GLOBAL, personal=False),)
    supports_heterogeneity = False  # one shared model: no client has a model of its own
    params_class: ClassVar[type[Section]] = FedAvgParams  # FedProx and FedAvg-FT bring their own
    personalized_is_global = True

    def __init__(self, ctx: SimContext, params: Section):
        super().__init__(ctx, params)
        self.params = params
