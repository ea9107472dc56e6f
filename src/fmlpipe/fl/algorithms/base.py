"""What every algorithm is: what a client does in a round, and what the server does with what
comes back. The round loop (``fl.simulation``) is written once and drives these methods."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from fmlpipe.config.schema import FederationParams
from fmlpipe.fl.aggregate import State, aggregation_weights, average_states
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.evaluate import evaluate
from fmlpipe.fl.local_train import BatchLoss, LocalSettings, train_local
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool, PersonalStates
from fmlpipe.fl.seeding import SHUFFLE, generator


@dataclass(frozen=True)
class SimContext:
    """Everything an algorithm may touch, built once per run."""

    data: FederatedData
    federation: FederationParams
    pool: ModelPool
    personal: PersonalStates
    seed: int


@dataclass(frozen=True)
class ClientResult:
    state: State | None  # sent to the server; None when nothing is communicated
    num_samples: int
    losses: dict[str, float]  # mean training loss per model name


def cross_entropy_loss(module: nn.Module, name: str) -> BatchLoss:
    def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        value = F.cross_entropy(module(x), y)
        return value, {name: value}

    return loss


class Algorithm(ABC):
    name: ClassVar[str]
    uses_global: ClassVar[bool] = True  # a shared model is initialized, broadcast and aggregated
    roles: ClassVar[tuple[str, ...]] = (GLOBAL,)  # model roles the algorithm trains

    def __init__(self, ctx: SimContext):
        self.ctx = ctx

    def round_values(self, rnd: int, rounds: int) -> dict[str, float]:
        """Scheduled hyperparameters in force this round (recorded in the history)."""
        return {}

    @abstractmethod
    def client_update(self, cid: int, global_state: State | None, rnd: int, lr: float) -> ClientResult:
        """Train client ``cid`` for one round starting from ``global_state``."""

    def server_update(self, global_state: State | None, results: list[ClientResult]) -> State | None:
        """Average what the clients sent (sample-weighted or uniform, per params)."""
        sent = [r for r in results if r.state is not None]
        if not sent:
            return global_state
        weights = aggregation_weights([r.num_samples for r in sent], self.ctx.federation.aggregation)
        return average_states([r.state for r in sent if r.state is not None], weights)

    def personalized_metrics(self, cid: int, global_state: State | None, global_acc: float | None) -> dict[str, float]:
        """Per-client personalized accuracy on the local test split. ``global_acc`` is the
        global model's accuracy there, already computed by the round loop."""
        return {"acc_personalized": float(global_acc)} if global_acc is not None else {}

    # Helpers shared by the algorithms ------------------------------------------------------

    def client_xy(self, cid: int, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        data = self.ctx.data
        idx = getattr(data.clients[cid], split)
        return data.train_x[idx], data.train_y[idx]

    def train(self, cid: int, modules: list[nn.Module], loss: BatchLoss, rnd: int, lr: float,
              epochs: int | None = None, stream: int = SHUFFLE) -> dict[str, float]:
        x, y = self.client_xy(cid)
        settings = LocalSettings.from_params(self.ctx.federation, epochs)
        gen = generator(self.ctx.seed, stream, rnd, cid, device=x.device)
        return train_local(modules, loss, x, y, settings, lr, gen)

    def personal_accuracy(self, cid: int) -> float:
        """The client's private model on its local test split."""
        return self.local_test_accuracy(self.ctx.pool.load(LOCAL, self.ctx.personal.get(cid)), cid)

    def local_test_accuracy(self, module: nn.Module, cid: int) -> float:
        x, y = self.client_xy(cid, "test")
        return evaluate(module, x, y)[0]
