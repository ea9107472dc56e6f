"""The vectorized engine: all participating clients of a round trained in one call per step.

Each slot's model (``Algorithm.slots``) is one set of stacked tensors [K, ...]; a step takes
every active client's gradient of the algorithm's own ``objective`` at once with
``vmap(grad(functional_call))``, then updates the stacks with ``fl.stacked_optim``. Clients are
trained in chunks whose optimizer state fits :data:`CHUNK_BYTES`, so the memory in use follows
the participating clients, not the total.

With ``compile`` ``on`` (``federation.compile``, ``fl.engines.choose_engine``) the step is
``torch.compile``d, which fuses the memory-bound work around each convolution (bias, ReLU, pooling
and their gradients): 1.4-1.5x on a 2-core CPU with the cnn at batch 10. ``graphs`` also replays
each compiled step as a CUDA graph (torch.compile's ``reduce-overhead`` mode), one launch for the
whole step instead of one per kernel. vmap fixes the number of clients in a graph, so the active
clients of a step are split into power-of-two groups: at most log2(chunk) + 1 graphs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import ClassVar, TypeVar

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.device import before_compile
from fmlpipe.fl.engines.base import EvalTasks, Tasks
from fmlpipe.fl.engines.batch_plan import BatchPlan, plan_round
from fmlpipe.fl.engines.parallel import Parallel
from fmlpipe.fl.engines.stacked_eval import EVAL_CLIENTS, stacked_hits
from fmlpipe.fl.engines.stacked_optim import StackedOptimizer, clip_per_client
from fmlpipe.fl.heads import share
from fmlpipe.fl.local_train import ClientDiverged, LocalSettings
from fmlpipe.fl.modelpool import ModelKey, ModelPool
from fmlpipe.fl.personal_parts import Parts, split
from fmlpipe.fl.precision import autocast
from fmlpipe.fl.protocol import ClientResult, ClientTask, State
from fmlpipe.fl.seeding import SHUFFLE

CHUNK_BYTES = {"cpu": 256 << 20, "cuda": 8 << 30}  # stacked weights + gradients + optimizer state
# Samples per vmapped call. On CPU, more clients per call stop paying off once a layer's
# activations outgrow the caches (measured with the cnn at batch 10: 8 clients per call 107
# GFLOP/s, 20 clients 88); on a GPU, larger calls keep the device busy.
CHUNK_SAMPLES = {"cpu": 40, "cuda": 1 << 16}
# ``federation.compile`` -> torch.compile's mode
COMPILE_MODES = {"on": "default", "graphs": "reduce-overhead"}

Stacked = dict[str, torch.Tensor]
Step = Callable[..., tuple[tuple[Stacked, ...], torch.Tensor]]
"""(params per slot [k, ...], x [k, B, ...], y [k, B], weight [k, B], anchor) -> (gradients, losses [k, slots])."""
T = TypeVar("T")


class Vectorized:
    """Every task of a chunk trained in one call per step: the same results as
    ``Algorithm.client_round`` per client, within float rounding (tested)."""

    name: ClassVar[str] = "vectorized"

    def __init__(self, pool: ModelPool, compile: str = "off"):
        self.pool, self.compile = pool, compile
        self.steps: dict[str, Step] = {}  # per algorithm (and round values' names): compiled once
        self.one_by_one: Parallel | None = None  # evaluates on CPU (``evaluate``), its workers kept

    def train(self, alg: Algorithm, tasks: Tasks) -> Iterator[ClientResult]:
        ctx = alg.ctx
        settings = LocalSettings.from_params(ctx.federation)
        modules = [self.pool.get(slot.role) for slot in alg.slots]
        for module in modules:
            module.train()
        if alg.name not in self.steps:
            self.steps[alg.name] = step_function(alg.objective, modules, self.compile, settings.precision)
        size = chunk_size(modules, settings, self.pool.device, len(tasks))
        for chunk in _chunks(tasks.largest_first(alg), size):
            yield from self._train_chunk(alg, chunk, modules, settings)

    def _train_chunk(self, alg: Algorithm, chunk: list[ClientTask], modules: Sequence[nn.Module],
                     settings: LocalSettings) -> Iterator[ClientResult]:
        ctx = alg.ctx
        first = chunk[0]
        plan = plan_round(ctx.data, [t.cid for t in chunk], settings, ctx.seed, SHUFFLE, first.round)
        by_cid = {t.cid: t for t in chunk}
        ordered = [by_cid[cid] for cid in plan.cids]
        parts = [split(t.personal) for t in ordered]
        k = len(ordered)
        stacks, states, kept_names = [], [], []
        for slot, module in zip(alg.slots, modules):
            if slot.personal:
                stack = _stack([p.own for p in parts])
            else:
                stack = {**_broadcast(first.global_state, k), **_stack([p.head for p in parts])}
            kept = alg.kept_parameters(slot, module) if slot.name in parts[0].optim else []
            stacks.append(stack)
            states.append(_moments(stack, kept, [p.optim.get(slot.name, {}) for p in parts]))
            kept_names.append(kept)
        sums = train_chunk(self.steps[alg.name], stacks, plan, ctx.data.train_x, ctx.data.train_y, settings,
                           first.lr, first.global_state, first.values, self.compile, states)
        means = (sums / torch.tensor(plan.steps, device=sums.device).clamp_min(1)[:, None]).tolist()
        for i, task in enumerate(ordered):
            losses = {slot.name: means[i][j] for j, slot in enumerate(alg.slots)} if plan.steps[i] else {}
            bad = [name for name, value in losses.items() if not math.isfinite(value)]
            if bad:
                raise ClientDiverged(task.cid, f"loss of the {bad[0]} model is {losses[bad[0]]}")
            yield _result(alg, task, parts[i], i, stacks, states, kept_names, losses)

    def evaluate(self, alg: Algorithm, tasks: EvalTasks) -> Iterator[tuple[int, float]]:
        """Personalized models grouped by architecture and task, :data:`EVAL_CLIENTS` at a time
        (CUDA); on CPU one client at a time, the clients spread over a worker per core, as the
        parallel engine evaluates them. vmap turns a stack of convolutions into one grouped
        convolution, which the CPU runs slowly: with the cnn in setting A on 30% of the data
        (2 cores), the grouped evaluation of 20 personalized models took 0.67-0.96 s, one client
        at a time 0.15-0.21 s."""
        if self.pool.device.type == "cpu":
            if self.one_by_one is None:
                self.one_by_one = Parallel(self.pool)
            return self.one_by_one.evaluate(alg, tasks)
        return self.evaluate_stacked(alg, tasks)

    def evaluate_stacked(self, alg: Algorithm, tasks: EvalTasks) -> Iterator[tuple[int, float]]:
        """The grouped evaluation, on any device (CUDA's; tested on CPU)."""
        ctx = alg.ctx
        groups: dict[tuple[ModelKey, str], list[tuple[int, State]]] = {}
        for task in tasks.largest_first(alg):
            key, state = alg.personalized_model(task.cid, task.round, task.global_state, task.personal, self.pool)
            group = groups.setdefault((key, ctx.roster.tasks[task.cid]), [])
            group.append((task.cid, state))
            if len(group) == EVAL_CLIENTS:
                yield from self._evaluate_group(alg, key, group)
                group.clear()
        for (key, _), group in groups.items():
            if group:
                yield from self._evaluate_group(alg, key, group)

    def _evaluate_group(
        self, alg: Algorithm, key: ModelKey, group: list[tuple[int, State]]
    ) -> Iterator[tuple[int, float]]:
        ctx = alg.ctx
        tests = [ctx.data.clients[cid].test for cid, _ in group]
        y = ctx.roster.relabel(ctx.data.train_y, ctx.roster.tasks[group[0][0]])
        hits = stacked_hits(self.pool.module(key), [state for _, state in group], tests, ctx.data.train_x, y,
                            ctx.federation.precision)
        for (cid, _), h, t in zip(group, hits, tests):
            yield cid, h / max(t.numel(), 1)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _stack(states: Sequence[State]) -> Stacked:
    return {name: torch.stack([s[name] for s in states]) for name in states[0]} if states and states[0] else {}


def _moments(stack: Stacked, kept: Sequence[str], saved: Sequence[State]) -> list[list[torch.Tensor]] | None:
    """SGD's momentum of a slot's stacked leaves: the clients' saved buffers for the parameters
    they keep, zeros (a fresh optimizer's) for the rest; None when nothing is kept."""
    if not kept:
        return None
    return [[torch.stack([s[f"{name}/momentum_buffer"] for s in saved]) if name in kept else torch.zeros_like(leaf)
             for name, leaf in stack.items()]]


def _result(alg: Algorithm, task: ClientTask, parts: Parts, i: int, stacks: Sequence[Stacked],
            states: Sequence[list[list[torch.Tensor]] | None], kept_names: Sequence[Sequence[str]],
            losses: dict[str, float]) -> ClientResult:
    """Client ``i`` of the chunk's result, as ``Algorithm.result`` builds it one client at a time."""
    kept = Parts(extra=dict(parts.extra))
    sent: State | None = None
    for slot, stack, moments, names in zip(alg.slots, stacks, states, kept_names):
        state = {name: t[i].clone() for name, t in stack.items()}
        if slot.personal:
            kept.own.update(state)
        else:
            sent, head = share(state, alg.ctx.roster)
            kept.head.update(head)
        if moments is not None:  # SGD's momentum: Adam is not vectorized with a kept state
            kept.optim[slot.name] = {f"{name}/momentum_buffer": moments[0][j][i].clone()
                                     for j, name in enumerate(stack) if name in names}
    num = alg.ctx.data.clients[task.cid].num_train
    return ClientResult(task.cid, sent, num, losses, kept.join())


def step_function(objective: Callable[..., tuple[torch.Tensor, tuple[torch.Tensor, ...]]],
                  modules: Sequence[nn.Module], compile: str = "off", precision: str = "fp32") -> Step:
    """Every client's gradient of ``objective`` (``Algorithm.objective``) in one call, compiled
    as ``compile`` says (off, on, graphs)."""

    def loss(params: tuple[Stacked, ...], xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor,
             anchor: State | None, values: Mapping[str, float]) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(precision, xb.device):
            outputs = [functional_call(m, p, (xb,)) for m, p in zip(modules, params)]
        total, parts = objective(outputs, yb, wb, params, anchor, values)
        return total, torch.stack(parts)

    step = vmap(grad(loss, has_aux=True), in_dims=(0, 0, 0, 0, None, None))
    if compile == "off":
        return step
    before_compile()
    return torch.compile(step, mode=COMPILE_MODES[compile])


def train_chunk(step: Step, stacks: Sequence[Stacked], plan: BatchPlan, x: torch.Tensor, y: torch.Tensor,
                settings: LocalSettings, lr: float, anchor: State | None, values: Mapping[str, float],
                compile: str = "off",
                states: Sequence[list[list[torch.Tensor]] | None] | None = None) -> torch.Tensor:
    """Train the stacked states in place along ``plan`` with ``step`` (compiled as ``compile``
    says), each slot's optimizer starting from ``states[slot]`` (None: fresh; updated in place);
    returns each client's summed recorded loss per slot, [K, slots]."""
    states = states or [None] * len(stacks)
    optimizers = [StackedOptimizer(list(stack.values()), settings.optimizer, lr, state)
                  for stack, state in zip(stacks, states)]
    sums = torch.zeros(len(plan.cids), len(stacks), device=x.device)
    for t, active in enumerate(plan.active()):
        if compile == "graphs":  # the last step's outputs are spent: their graph memory may be reused
            torch.compiler.cudagraph_mark_step_begin()  # type: ignore[no-untyped-call]  # unannotated in torch
        pieces = []
        for lo, hi in _groups(active, compile != "off"):
            rows = plan.rows[t, lo:hi]
            views = tuple({name: v[lo:hi] for name, v in stack.items()} for stack in stacks)
            pieces.append(step(views, x[rows], y[rows], plan.weight[t, lo:hi], anchor, values))
        grads, parts = pieces[0] if len(pieces) == 1 else _concat(pieces)
        for opt, g in zip(optimizers, grads):
            leaves = list(g.values())
            if settings.grad_clip is not None:  # per model and per client, as the sequential loop
                clip_per_client(leaves, settings.grad_clip)
            opt.step(active, leaves)
        sums[:active] += parts
    return sums


def _groups(active: int, compiled: bool) -> list[tuple[int, int]]:
    """Client ranges of one step: all at once, or power-of-two groups (few compiled graphs)."""
    if not compiled:
        return [(0, active)]
    out, lo = [], 0
    while lo < active:
        size = 1 << ((active - lo).bit_length() - 1)
        out.append((lo, lo + size))
        lo += size
    return out


def _concat(pieces: list[tuple[tuple[Stacked, ...], torch.Tensor]]) -> tuple[tuple[Stacked, ...], torch.Tensor]:
    grads = tuple({name: torch.cat([p[0][slot][name] for p in pieces]) for name in pieces[0][0][slot]}
                  for slot in range(len(pieces[0][0])))
    return grads, torch.cat([p[1] for p in pieces])


def chunk_size(modules: Sequence[nn.Module], settings: LocalSettings, device: torch.device, count: int) -> int:
    """Clients per chunk: as many as :data:`CHUNK_BYTES` and :data:`CHUNK_SAMPLES` allow, split evenly."""
    kind = device.type if device.type in CHUNK_BYTES else "cpu"
    copies = 2 + (2 if settings.optimizer.name == "adam" else int(settings.optimizer.momentum != 0))
    per_client = copies * sum(p.numel() * p.element_size() for m in modules for p in m.parameters())
    most = max(1, min(CHUNK_BYTES[kind] // per_client, CHUNK_SAMPLES[kind] // settings.batch_size))
    chunks = math.ceil(count / most) if count else 1
    return max(1, math.ceil(count / chunks))


def _broadcast(state: State | None, k: int) -> Stacked:
    if state is None:
        raise ValueError("this algorithm trains the global model but no global state was given")
    return {name: t.unsqueeze(0).repeat(k, *[1] * t.dim()) for name, t in state.items()}
