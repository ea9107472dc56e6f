"""Federated Mutual Learning (Shen et al. 2020, arXiv 2006.16765).

Each client keeps a private *local* model across rounds and receives a *meme* copy of the
global model each round. On every batch both models see the same data and learn from each
other (deep mutual learning); only the memes go back and are averaged:

    L_local = alpha * CE(local) + (1 - alpha) * KL(p_meme || p_local)
    L_meme  = beta  * CE(meme)  + (1 - beta)  * KL(p_local || p_meme)

The local model keeps its optimizer state across rounds (``federation.optimizer.state:
persistent``), as the authors' code creates its optimizer once; the meme's starts fresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from pydantic import Field

from fmlpipe.config.schema import Section
from fmlpipe.fl.algorithms.base import Algorithm, Losses, SimContext, Slot, Values
from fmlpipe.fl.modelpool import GLOBAL, LOCAL
from fmlpipe.fl.objectives import cross_entropy, kl_to_peer
from fmlpipe.fl.protocol import State
from fmlpipe.metrics import ALPHA, BETA

MEME = "meme"


class FmlParams(Section):
    alpha: float = Field(ge=0.0, le=1.0)  # CE weight of the local model's loss
    beta: float = Field(ge=0.0, le=1.0)  # CE weight of the meme's loss
    schedule: Literal["constant", "step", "linear"]  # how alpha and beta change over rounds
    alpha_target: float = Field(ge=0.0, le=1.0)
    beta_target: float = Field(ge=0.0, le=1.0)
    step_every: int = Field(ge=1)
    step_size: float = Field(ge=0.0, le=1.0)

    def describe(self) -> str:
        """The schedule's targets only where it moves alpha and beta, step sizes for ``step`` alone."""
        unused = {"constant": ("alpha_target", "beta_target", "step_every", "step_size"),
                  "linear": ("step_every", "step_size")}.get(self.schedule, ())
        return ", ".join(f"{key} {value}" for key, value in self.model_dump().items() if key not in unused)


def _toward(start: float, target: float, amount: float) -> float:
    if target >= start:
        return min(start + amount, target)
    return max(start - amount, target)


def balance_at_round(p: FmlParams, rnd: int, rounds: int) -> tuple[float, float]:
    """(alpha, beta) for 1-based round ``rnd``: FML's dynamic balance.

    ``step`` follows the authors' code: every ``step_every`` rounds each value moves by
    ``step_size`` toward its target and stops there (beta 0.1 -> 0.5 -> 0.9 with step 0.4 every
    10 rounds). ``linear`` goes from the start value at round 1 to the target at the last round.
    """
    if p.schedule == "constant":
        return p.alpha, p.beta
    if p.schedule == "step":
        amount = (rnd - 1) // p.step_every * p.step_size
        return _toward(p.alpha, p.alpha_target, amount), _toward(p.beta, p.beta_target, amount)
    frac = 0.0 if rounds == 1 else (rnd - 1) / (rounds - 1)
    return p.alpha + (p.alpha_target - p.alpha) * frac, p.beta + (p.beta_target - p.beta) * frac


def mutual_terms(out_local: torch.Tensor, out_meme: torch.Tensor, y: torch.Tensor, alpha: float, beta: float,
                 weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_local, L_meme) from both models' logits on the same batch."""
    loss_local = alpha * cross_entropy(out_local, y, weight) + (1 - alpha) * kl_to_peer(out_local, out_meme, weight)
    loss_meme = beta * cross_entropy(out_meme, y, weight) + (1 - beta) * kl_to_peer(out_meme, out_local, weight)
    return loss_local, loss_meme


class FML(Algorithm):
    name = "fml"
    roles = (GLOBAL, LOCAL)
    slots = (Slot(LOCAL, LOCAL, personal=True), Slot(MEME, GLOBAL, personal=False))
    personalized = "the client's private local model"
    params_class = FmlParams

    def __init__(self, ctx: SimContext, params: FmlParams):
        super().__init__(ctx, params)
        self.params = params

    def round_values(self, rnd: int, rounds: int) -> dict[str, float]:
        alpha, beta = balance_at_round(self.params, rnd, rounds)
        return {ALPHA: alpha, BETA: beta}

    def objective(self, outputs: Sequence[torch.Tensor], y: torch.Tensor, weight: torch.Tensor | None,
                  params: Sequence[Mapping[str, torch.Tensor]], anchor: State | None, values: Values) -> Losses:
        loss_local, loss_meme = mutual_terms(outputs[0], outputs[1], y, values[ALPHA], values[BETA], weight)
        return loss_local + loss_meme, (loss_local, loss_meme)
