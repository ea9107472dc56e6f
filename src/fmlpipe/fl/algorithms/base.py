"""What every algorithm is: which models a client trains and on what loss, and what the server
does with what comes back. The round loop (``fl.simulation``) is written once and drives these
methods; an engine (``fl.engine``) runs the client side, one client at a time or all at once."""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from fmlpipe.config.schema import FederationParams
from fmlpipe.fl.aggregate import State, aggregation_weights, average_states
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.evaluate import evaluate
from fmlpipe.fl.heads import mean_heads, share, split_personal
from fmlpipe.fl.local_train import BatchLoss, ClientDiverged, DivergenceError, LocalSettings, train_local
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool, state_of
from fmlpipe.fl.objectives import cross_entropy
from fmlpipe.fl.personal import PersonalStates
from fmlpipe.fl.roster import Roster
from fmlpipe.fl.seeding import SHUFFLE, generator
from fmlpipe.fl.stacked_eval import stacked_personal_accuracies

Losses = tuple[torch.Tensor, tuple[torch.Tensor, ...]]
"""(the loss to minimize, one recorded loss per slot)."""


@dataclass(frozen=True)
class SimContext:
    """Everything an algorithm may touch, built once per run."""

    data: FederatedData
    federation: FederationParams
    pool: ModelPool
    personal: PersonalStates
    seed: int
    engine: str = "sequential"  # resolved by ``fl.engine.choose_engine``: sequential | parallel | vectorized
    compiled: bool = False  # vectorized: torch.compile the step (see ``fl.engine.choose_engine``)

    @property
    def roster(self) -> Roster:
        """Each client's models and task (the personal table is laid out by it)."""
        return self.personal.roster


@dataclass(frozen=True)
class Slot:
    """One model a client trains in a round."""

    name: str  # names its loss in the record: global | local | meme
    role: str  # its architecture in the model pool: GLOBAL or LOCAL
    personal: bool  # True: the client's private state, kept; False: the global state, sent back


@dataclass(frozen=True)
class ClientResult:
    state: State | None  # sent to the server; None when nothing is communicated
    num_samples: int
    losses: dict[str, float]  # mean training loss per model name


def cross_entropy_loss(module: nn.Module, name: str) -> BatchLoss:
    def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        value = cross_entropy(module(x), y)
        return value, {name: value}

    return loss


class Algorithm(ABC):
    name: ClassVar[str]
    uses_global: ClassVar[bool] = True  # a shared model is initialized, broadcast and aggregated
    roles: ClassVar[tuple[str, ...]] = (GLOBAL,)  # model roles the algorithm trains
    slots: ClassVar[tuple[Slot, ...]]  # the models a client trains together, in objective order
    # Clients may differ in local architecture and task (``fl.roster``); False for algorithms
    # whose only model is the shared one.
    supports_heterogeneity: ClassVar[bool] = True

    def __init__(self, ctx: SimContext):
        self.ctx = ctx

    def round_values(self, rnd: int, rounds: int) -> dict[str, float]:
        """Scheduled hyperparameters in force this round (recorded in the history)."""
        return {}

    def objective(self, outputs: Sequence[torch.Tensor], y: torch.Tensor, weight: torch.Tensor | None,
                  params: Sequence[Mapping[str, torch.Tensor]], anchor: State | None) -> Losses:
        """The loss on one batch, the one definition both engines differentiate; by default
        plain cross-entropy of the single slot.

        ``outputs[i]``: logits [B, classes] of ``slots[i]``; ``y``: labels [B]; ``weight``: None
        or [B], 1 for a real sample and 0 for padding; ``params[i]``: the parameters of
        ``slots[i]``; ``anchor``: the global state the client received this round.
        """
        ce = cross_entropy(outputs[0], y, weight)
        return ce, (ce,)

    def client_update(self, cid: int, global_state: State | None, rnd: int, lr: float) -> ClientResult:
        """Train client ``cid`` for one round starting from ``global_state`` (sequential engine),
        each model in the client's own architecture and task (``fl.roster``); under private
        heads (``fl.heads``) the shared model takes the client's own head and sends its body."""
        ctx = self.ctx
        kept = ctx.personal.get(cid) if any(s.personal for s in self.slots) else {}
        own, head = split_personal(kept)
        modules = [ctx.pool.load(ctx.roster.key(s.role, cid), own if s.personal else {**_given(global_state), **head})
                   for s in self.slots]
        losses = self.train(cid, modules, self.batch_loss(modules, global_state), rnd, lr)
        sent, kept = None, {}
        for slot, module in zip(self.slots, modules):
            if slot.personal:
                kept.update(state_of(module))
            else:
                sent, head = share(state_of(module), ctx.roster)
                kept.update(head)
        if kept:
            ctx.personal.put(cid, kept)
        return ClientResult(sent, ctx.data.clients[cid].num_train, losses)

    def batch_loss(self, modules: Sequence[nn.Module], anchor: State | None) -> BatchLoss:
        """:meth:`objective` on the modules' outputs, as the sequential training loop takes it."""
        params = [dict(m.named_parameters()) for m in modules]

        def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            total, parts = self.objective([m(x) for m in modules], y, None, params, anchor)
            return total, {slot.name: part for slot, part in zip(self.slots, parts)}

        return loss

    def server_update(self, global_state: State | None, results: list[ClientResult]) -> State | None:
        """Average what the clients sent (sample-weighted or uniform, per params)."""
        sent = [r for r in results if r.state is not None]
        if not sent:
            return global_state
        weights = aggregation_weights([r.num_samples for r in sent], self.ctx.federation.aggregation)
        return average_states([r.state for r in sent if r.state is not None], weights)

    def global_models(self, global_state: State | None) -> dict[str, State]:
        """The shared model of each task the clients learn (none without one): the global
        state; under private heads the shared body with the mean of that task's clients' heads."""
        if not self.uses_global or global_state is None:
            return {}
        roster = self.ctx.roster
        if not roster.private_heads:
            return {task: global_state for task in roster.task_names}
        return {task: {**global_state, **head} for task, head in mean_heads(self.ctx.personal).items()}

    def client_metrics(self, global_state: State | None, global_acc: Sequence[float | None]) -> list[dict[str, float]]:
        """Every client's personalized metrics, given the global model's accuracy on each
        client's local test split (None without a global model)."""
        return [self.personalized_metrics(cid, global_state, acc) for cid, acc in enumerate(global_acc)]

    def personalized_metrics(self, cid: int, global_state: State | None, global_acc: float | None) -> dict[str, float]:
        """Per-client personalized accuracy on the local test split. ``global_acc`` is the
        global model's accuracy there, already computed by the round loop."""
        return {"acc_personalized": float(global_acc)} if global_acc is not None else {}

    # Helpers shared by the algorithms ------------------------------------------------------

    def client_xy(self, cid: int, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The client's examples of ``split`` with their labels under the client's task."""
        data = self.ctx.data
        idx = getattr(data.clients[cid], split)
        return data.train_x[idx], self.ctx.roster.relabel(data.train_y[idx], self.ctx.roster.tasks[cid])

    def train(self, cid: int, modules: list[nn.Module], loss: BatchLoss, rnd: int, lr: float,
              epochs: int | None = None, stream: int = SHUFFLE) -> dict[str, float]:
        """Client ``cid``'s local training; a NaN or infinite loss raises :class:`ClientDiverged`."""
        x, y = self.client_xy(cid)
        settings = LocalSettings.from_params(self.ctx.federation, epochs)
        gen = generator(self.ctx.seed, stream, rnd, cid, device=x.device)
        try:
            return train_local(modules, loss, x, y, settings, lr, gen)
        except DivergenceError as exc:
            raise ClientDiverged(cid, str(exc)) from None

    def personal_accuracy(self, cid: int) -> float:
        """The client's private model on its local test split."""
        own = split_personal(self.ctx.personal.get(cid))[0]
        return self.local_test_accuracy(self.ctx.pool.load(self.ctx.roster.key(LOCAL, cid), own), cid)

    def personal_accuracies(self) -> list[float]:
        """Every client's private model on its local test split, all clients at once when the
        engine is vectorized."""
        if self.ctx.engine == "vectorized":
            return stacked_personal_accuracies(self.ctx.personal, self.ctx.data)
        return [self.personal_accuracy(cid) for cid in range(self.ctx.data.num_clients)]

    def local_test_accuracy(self, module: nn.Module, cid: int) -> float:
        x, y = self.client_xy(cid, "test")
        return evaluate(module, x, y)[0]


def _given(global_state: State | None) -> State:
    if global_state is None:
        raise ValueError("this algorithm trains the global model but no global state was given")
    return global_state
