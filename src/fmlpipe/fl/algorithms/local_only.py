"""Local-only training: every client trains its own model alone, nothing is communicated.
The lower bound that personalization methods must beat."""

from __future__ import annotations

from collections.abc import Sequence

from fmlpipe.config.schema import LocalParams
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, SimContext, Slot
from fmlpipe.fl.modelpool import LOCAL


class LocalOnly(Algorithm):
    name = "local"
    uses_global = False
    roles = (LOCAL,)
    slots = (Slot(LOCAL, LOCAL, personal=True),)

    def __init__(self, ctx: SimContext, params: LocalParams):
        super().__init__(ctx)

    def client_metrics(self, global_state: State | None, global_acc: Sequence[float | None]) -> list[dict[str, float]]:
        return [{"acc_personalized": acc} for acc in self.personal_accuracies()]
