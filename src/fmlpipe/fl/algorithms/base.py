"""What every algorithm is: which models a client trains and on what loss (the client side),
and what the server does with what comes back (the server side).

The client side runs on a task (``fl.protocol.ClientTask``) and returns a result; every engine
(``fl.engines``) runs it, one client at a time, on worker threads or, for algorithms that are
no more than an :meth:`Algorithm.objective` over their slots, all clients at once. The round
loop (``fl.simulation``) is written once and drives the server side.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from fmlpipe.config.schema import FederationParams, Section
from fmlpipe.errors import ParamsError
from fmlpipe.fl.aggregate import aggregation_weights, average_states
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.evaluate import evaluate
from fmlpipe.fl.heads import initial_head, share
from fmlpipe.fl.local_train import BatchLoss, ClientDiverged, DivergenceError, LocalSettings, train_local
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelKey, ModelPool, fast_layout, init_state, state_of
from fmlpipe.fl.objectives import cross_entropy
from fmlpipe.fl.optim import fresh_state, load_state, make_optimizer, save_state
from fmlpipe.fl.personal_parts import Parts, split
from fmlpipe.fl.protocol import ClientResult, ClientTask, EvalTask, State
from fmlpipe.fl.roster import Roster
from fmlpipe.fl.seeding import LOCAL_INIT, SHUFFLE, generator

Losses = tuple[torch.Tensor, tuple[torch.Tensor, ...]]
"""(the loss to minimize, one recorded loss per slot)."""

Values = Mapping[str, float]
"""An algorithm's scheduled values for the round (``Algorithm.round_values``)."""


@dataclass(frozen=True)
class SimContext:
    """What an algorithm knows on either side of the federation, built once per run. The
    modules it trains come from the engine running it (a ``ModelPool`` per worker)."""

    data: FederatedData
    federation: FederationParams
    roster: Roster
    seed: int

    @property
    def keeps_optimizer(self) -> bool:
        """Models that stay on their client keep their optimizer state across rounds."""
        return self.federation.optimizer.state == "persistent"


@dataclass(frozen=True)
class Slot:
    """One model a client trains in a round."""

    name: str  # names its loss in the record: global | local | meme
    role: str  # its architecture in the model pool: GLOBAL or LOCAL
    personal: bool  # True: the client's own model, kept; False: the global model, sent back


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
    # The shared model's head stays with each client whatever the tasks (FedRep, FedPer).
    private_heads: ClassVar[bool] = False
    # What ``acc_personalized`` measures, for the report's legend; True when that is the global
    # model itself (measured by the round loop, no personalized evaluation needed).
    personalized: ClassVar[str] = "the global model"
    personalized_is_global: ClassVar[bool] = False
    # False where building the personalized model costs training (FedAvg-FT fine-tunes every
    # client): it is measured at the last round only, so evaluation stays a small part of a run.
    personalize_every_round: ClassVar[bool] = True
    params_class: ClassVar[type[Section]]  # the algorithm's section of ``params.yaml``

    def __init__(self, ctx: SimContext, params: Section):  # every algorithm is built as cls(ctx, its section)
        self.ctx = ctx

    # The server side ---------------------------------------------------------------------

    def round_values(self, rnd: int, rounds: int) -> dict[str, float]:
        """Scheduled hyperparameters in force this round (sent in each task, recorded in the history)."""
        return {}

    def server_update(self, global_state: State | None, results: Sequence[ClientResult]) -> State | None:
        """Average what the clients sent (sample-weighted or uniform, per params), in the
        order given: the round loop gives results in client order, never arrival order."""
        sent = [r for r in results if r.sent is not None]
        if not sent:
            return global_state
        weights = aggregation_weights([r.num_samples for r in sent], self.ctx.federation.aggregation)
        return average_states([r.sent for r in sent if r.sent is not None], weights)

    # The client side ---------------------------------------------------------------------

    @property
    def keeps_state(self) -> bool:
        """Clients carry a personal state from round to round (an own model or a private head)."""
        return LOCAL in self.roles or self.ctx.roster.private_heads

    @property
    def vectorizable(self) -> bool:
        """True when the client round is :meth:`objective` over :attr:`slots` and nothing else,
        so the vectorized engine can batch it; an algorithm that overrides :meth:`client_round`
        is run one client at a time."""
        return type(self).client_round is Algorithm.client_round

    def require_global_architecture(self) -> None:
        """Refuse a local architecture other than the global one, for algorithms whose own model
        is a copy of the global model's shape (pulled toward it, or mixed with it)."""
        roster = self.ctx.roster
        other = sorted({arch for arch in roster.local_archs if arch != roster.global_arch})
        if other:
            raise ParamsError(f"algorithms.{self.name} needs models.local = models.global ({other[0]!r} against "
                              f"{roster.global_arch!r}): its personal model has the global model's architecture")

    def initial_personal(self, cid: int, pool: ModelPool) -> State:
        """Client ``cid``'s personal state before its first round, from its own seed: its own
        model, its private head and a fresh optimizer state for what it keeps."""
        parts = Parts()
        if LOCAL in self.roles:
            parts.own.update(init_state(pool.module(self.ctx.roster.key(LOCAL, cid)), self.ctx.seed, LOCAL_INIT, cid))
        parts.head.update(initial_head(pool, self.ctx.roster, self.ctx.seed, cid))
        if self.ctx.keeps_optimizer:
            for slot in self.slots:
                module = pool.module(self.ctx.roster.key(slot.role, cid))
                names = self.kept_parameters(slot, module)
                if names:
                    parts.optim[slot.name] = fresh_state(module, names, self.ctx.federation.optimizer)
        return parts.join()

    def kept_parameters(self, slot: Slot, module: nn.Module) -> list[str]:
        """The parameters of ``slot``'s module that stay on the client: all of a personal slot's,
        the head of a shared one where heads are private."""
        names = [name for name, _ in module.named_parameters()]
        if slot.personal:
            return names
        if self.ctx.roster.private_heads:
            return [n for n in names if n.startswith(self.ctx.roster.head_prefix)]
        return []

    def objective(self, outputs: Sequence[torch.Tensor], y: torch.Tensor, weight: torch.Tensor | None,
                  params: Sequence[Mapping[str, torch.Tensor]], anchor: State | None, values: Values) -> Losses:
        """The loss on one batch, the one definition every engine differentiates; by default
        plain cross-entropy of the single slot.

        ``outputs[i]``: logits [B, classes] of ``slots[i]``; ``y``: labels [B]; ``weight``: None
        or [B], 1 for a real sample and 0 for padding; ``params[i]``: the parameters of
        ``slots[i]``; ``anchor``: the global state the client received this round; ``values``:
        this round's :meth:`round_values`.
        """
        ce = cross_entropy(outputs[0], y, weight)
        return ce, (ce,)

    def client_round(self, task: ClientTask, pool: ModelPool) -> ClientResult:
        """Train client ``task.cid`` for one round: each slot's model loaded (its own model or
        the global state with the client's private head), trained on :meth:`objective`, and
        split back into what is sent and what the client keeps."""
        parts = split(task.personal)
        modules = [self.load_slot(slot, task, parts, pool) for slot in self.slots]
        optimizers = self.optimizers(modules, parts, task.lr)
        losses = self.train(task, modules, optimizers, self.batch_loss(modules, task))
        return self.result(task, modules, optimizers, parts, losses)

    # Helpers shared by the algorithms ----------------------------------------------------

    def load_slot(self, slot: Slot, task: ClientTask, parts: Parts, pool: ModelPool) -> nn.Module:
        """``slot``'s module for client ``task.cid``, in its training layout, holding the
        client's own model or the received global state with the client's head."""
        state = parts.own if slot.personal else {**_given(task.global_state), **parts.head}
        return fast_layout(pool.load(self.ctx.roster.key(slot.role, task.cid), state))

    def optimizers(self, modules: Sequence[nn.Module], parts: Parts, lr: float) -> list[torch.optim.Optimizer]:
        """One optimizer per slot; what the client keeps resumes its saved state."""
        settings = self.ctx.federation.optimizer
        out = []
        for slot, module in zip(self.slots, modules):
            opt = make_optimizer(module.parameters(), settings, lr)
            saved = parts.optim.get(slot.name)
            if saved is not None:
                # A shared model with a private head: the received body starts fresh. Every
                # parameter gets a buffer (zeros are a fresh optimizer's): the fused step takes
                # all parameters' buffers or none.
                everything = fresh_state(module, [n for n, _ in module.named_parameters()], settings)
                load_state(opt, module, {**everything, **saved})
            out.append(opt)
        return out

    def result(self, task: ClientTask, modules: Sequence[nn.Module], optimizers: Sequence[torch.optim.Optimizer],
               parts: Parts, losses: Mapping[str, float] | None = None) -> ClientResult:
        """What the client sends (the shared slot's state without a private head) and keeps
        (its own model, its head, the optimizer state of both, and ``parts.extra``)."""
        kept = Parts(extra=dict(parts.extra))
        sent = None
        for slot, module, opt in zip(self.slots, modules, optimizers):
            if slot.personal:
                kept.own.update(state_of(module))
            else:
                sent, head = share(state_of(module), self.ctx.roster)
                kept.head.update(head)
            if slot.name in parts.optim:
                kept.optim[slot.name] = save_state(opt, module, self.kept_parameters(slot, module))
        return ClientResult(task.cid, sent, self.ctx.data.clients[task.cid].num_train, dict(losses or {}), kept.join())

    def batch_loss(self, modules: Sequence[nn.Module], task: ClientTask) -> BatchLoss:
        """:meth:`objective` on the modules' outputs, as the sequential training loop takes it."""
        params = [dict(m.named_parameters()) for m in modules]

        def loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            total, parts = self.objective([m(x) for m in modules], y, None, params, task.global_state, task.values)
            return total, {slot.name: part for slot, part in zip(self.slots, parts)}

        return loss

    def client_xy(self, cid: int, split_name: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The client's examples of ``split_name`` with their labels under the client's task."""
        data = self.ctx.data
        idx = getattr(data.clients[cid], split_name)
        return data.train_x[idx], self.ctx.roster.relabel(data.train_y[idx], self.ctx.roster.tasks[cid])

    def train(self, task: ClientTask, modules: Sequence[nn.Module], optimizers: Sequence[torch.optim.Optimizer],
              loss: BatchLoss, epochs: int | None = None, stream: int = SHUFFLE,
              xy: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, float]:
        """Client ``task.cid``'s local training, on its examples or on ``xy`` (one row per example,
        in the same order: the batches are the same); a NaN or infinite loss raises
        :class:`ClientDiverged`."""
        x, y = self.client_xy(task.cid) if xy is None else xy
        settings = LocalSettings.from_params(self.ctx.federation, epochs)
        gen = generator(self.ctx.seed, stream, task.round, task.cid, device=x.device)
        try:
            return train_local(modules, optimizers, loss, x, y, settings, gen)
        except DivergenceError as exc:
            raise ClientDiverged(task.cid, str(exc)) from None

    # Evaluation --------------------------------------------------------------------------

    def personalized_model(self, cid: int, rnd: int, global_state: State | None, personal: State,
                           pool: ModelPool) -> tuple[ModelKey, State]:
        """The model this algorithm calls client ``cid``'s personalized one, as (architecture,
        state): the client's own model where it has one, else the global model with the
        client's private head. Not called where :attr:`personalized_is_global`: the round
        loop measures the global model on every local test split anyway."""
        if LOCAL in self.roles:
            return self.ctx.roster.key(LOCAL, cid), split(personal).own
        if self.ctx.roster.private_heads:
            return self.ctx.roster.key(GLOBAL, cid), {**_given(global_state), **split(personal).head}
        raise NotImplementedError(f"{self.name} has no personalized model of its own")

    def personalized_accuracy(self, task: EvalTask, pool: ModelPool) -> float:
        """Client ``task.cid``'s personalized model on its local test split (one client at a time)."""
        key, state = self.personalized_model(task.cid, task.round, task.global_state, task.personal, pool)
        return self.local_test_accuracy(pool.load(key, state), task.cid)

    def local_test_accuracy(self, module: nn.Module, cid: int) -> float:
        x, y = self.client_xy(cid, "test")
        return evaluate(module, x, y, self.ctx.federation.precision)[0]


def _given(global_state: State | None) -> State:
    if global_state is None:
        raise ValueError("this algorithm trains the global model but no global state was given")
    return global_state
