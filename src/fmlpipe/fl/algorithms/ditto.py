"""Ditto (Li, Hu, Beirami and Smith, ICML 2021, arXiv 2012.04221), Algorithm 1.

The global model is trained exactly as in FedAvg. Each client also keeps a personal model v,
trained on the same batches with its own optimizer on

    h(v) = CE(v) + lambda/2 * ||v - w^t||^2,

against the global model w^t it received this round (a fixed anchor, not the client's moving
copy of w). v and its optimizer state stay on the client; only w is sent and averaged. This is
the authors' code's variant: one personal step per global step, on the same mini-batch, the
same learning rate; v starts as the initial global model. lambda = 1 is the value the authors
use for Fashion-MNIST without attacks (and the paper's default outside attacks).

v is trained on h(v), but its recorded train loss (``rounds.csv``, judged by the convergence
check) is its cross-entropy alone: the proximal term's anchor w^t moves every round, so the level
of h(v) moves with the global model as much as with v's training. The global model's recorded
loss is its cross-entropy, as in FedAvg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from pydantic import Field

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import Algorithm, Losses, SimContext, Slot, Values
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool, init_state
from fmlpipe.fl.objectives import cross_entropy, proximal_term
from fmlpipe.fl.personal_parts import split
from fmlpipe.fl.protocol import State
from fmlpipe.fl.seeding import GLOBAL_INIT

PERSONAL = "personal"


class DittoParams(Section):
    lam: float = Field(ge=0.0, le=1e4)  # lambda: the pull of each personal model toward the global one


class Ditto(Algorithm):
    name = "ditto"
    roles = (GLOBAL, LOCAL)
    slots = (Slot(PERSONAL, LOCAL, personal=True), Slot(GLOBAL, GLOBAL, personal=False))
    supports_heterogeneity = False  # v and w share one architecture: v is pulled toward w
    personalized = "the client's personal model v (trained toward the received global model)"
    params_class = DittoParams

    def __init__(self, ctx: SimContext, params: DittoParams):
        super().__init__(ctx, params)
        self.lam = params.lam
        self.require_global_architecture()

    def initial_personal(self, cid: int, pool: ModelPool) -> State:
        """v^0 = w^0 for every client, as in the authors' code (plus a fresh optimizer state)."""
        parts = split(super().initial_personal(cid, pool))
        parts.own.update(init_state(pool.get(GLOBAL), self.ctx.seed, GLOBAL_INIT))
        return parts.join()

    def objective(self, outputs: Sequence[torch.Tensor], y: torch.Tensor, weight: torch.Tensor | None,
                  params: Sequence[Mapping[str, torch.Tensor]], anchor: State | None, values: Values) -> Losses:
        assert anchor is not None  # w^t, the global model received this round
        personal_ce = cross_entropy(outputs[0], y, weight)
        personal = personal_ce + 0.5 * self.lam * proximal_term(params[0], anchor)
        shared = cross_entropy(outputs[1], y, weight)
        return personal + shared, (personal_ce, shared)  # v recorded by its task loss (module docstring)
