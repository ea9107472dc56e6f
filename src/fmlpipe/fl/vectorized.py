"""The vectorized engine: all participating clients of a round trained in one call per step.

Each slot's model (``Algorithm.slots``) is one set of stacked tensors [K, ...]; a step takes
every active client's gradient of the algorithm's own ``objective`` at once with
``vmap(grad(functional_call))``, then updates the stacks with ``fl.stacked_optim``. Clients are
trained in chunks whose optimizer state fits :data:`CHUNK_BYTES`, so the memory in use follows
the participating clients, not the total.

With ``compiled`` (``fl.engine.choose_engine``) the step is ``torch.compile``d, which fuses the
memory-bound work around each convolution (bias, ReLU, pooling and their gradients): 1.4-1.5x
on a 2-core CPU with the cnn at batch 10. vmap fixes the number of clients in a graph, so the
active clients of a step are split into power-of-two groups: at most log2(chunk) + 1 graphs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from weakref import WeakKeyDictionary

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, ClientResult
from fmlpipe.fl.batch_plan import BatchPlan, plan_round
from fmlpipe.fl.device import before_compile
from fmlpipe.fl.local_train import ClientDiverged, LocalSettings
from fmlpipe.fl.seeding import SHUFFLE
from fmlpipe.fl.stacked_optim import StackedOptimizer, clip_per_client

CHUNK_BYTES = {"cpu": 256 << 20, "cuda": 8 << 30}  # stacked weights + gradients + optimizer state
# Samples per vmapped call. On CPU, more clients per call stop paying off once a layer's
# activations outgrow the caches (measured with the cnn at batch 10: 8 clients per call 107
# GFLOP/s, 20 clients 88); on a GPU, larger calls keep the device busy.
CHUNK_SAMPLES = {"cpu": 40, "cuda": 1 << 16}

Stacked = dict[str, torch.Tensor]
Step = Callable[..., tuple[tuple[Stacked, ...], torch.Tensor]]
"""(params per slot [k, ...], x [k, B, ...], y [k, B], weight [k, B], anchor) -> (gradients, losses [k, slots])."""

_steps: WeakKeyDictionary[Algorithm, Step] = WeakKeyDictionary()  # one per algorithm run: compiled once


def train_vectorized(alg: Algorithm, cids: Sequence[int], global_state: State | None,
                     rnd: int, lr: float) -> list[ClientResult]:
    """One round of local training for ``cids``; the same results as ``alg.client_update`` per
    client (within float rounding), personal states stored back in ``alg.ctx.personal``."""
    ctx = alg.ctx
    settings = LocalSettings.from_params(ctx.federation)
    plan = plan_round(ctx.data, cids, settings, ctx.seed, SHUFFLE, rnd)
    modules = [ctx.pool.get(slot.role) for slot in alg.slots]
    for module in modules:
        module.train()
    if alg not in _steps:
        _steps[alg] = step_function(alg.objective, modules, ctx.compiled)
    size = chunk_size(modules, settings, ctx.pool.device, len(cids))
    results: dict[int, ClientResult] = {}
    for start in range(0, len(plan.cids), size):
        chunk = plan.part(start, start + size)
        k = len(chunk.cids)
        stacks = [ctx.personal.gather(chunk.cids) if slot.personal else _broadcast(global_state, k)
                  for slot in alg.slots]
        sums = train_chunk(_steps[alg], stacks, chunk, ctx.data.train_x, ctx.data.train_y, settings, lr,
                           global_state, ctx.compiled)
        sent = None
        for slot, stack in zip(alg.slots, stacks):
            if slot.personal:
                ctx.personal.scatter(chunk.cids, stack)
            else:
                sent = stack
        means = (sums / torch.tensor(chunk.steps, device=sums.device).clamp_min(1)[:, None]).tolist()
        for i, cid in enumerate(chunk.cids):
            losses = {slot.name: means[i][j] for j, slot in enumerate(alg.slots)} if chunk.steps[i] else {}
            bad = [name for name, value in losses.items() if not math.isfinite(value)]
            if bad:
                raise ClientDiverged(cid, f"loss of the {bad[0]} model is {losses[bad[0]]}")
            state = {name: t[i] for name, t in sent.items()} if sent is not None else None
            results[cid] = ClientResult(state, ctx.data.clients[cid].num_train, losses)
    return [results[cid] for cid in cids]


def step_function(objective: Callable[..., tuple[torch.Tensor, tuple[torch.Tensor, ...]]],
                  modules: Sequence[nn.Module], compiled: bool) -> Step:
    """Every client's gradient of ``objective`` (``Algorithm.objective``) in one call."""

    def loss(params: tuple[Stacked, ...], xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor,
             anchor: State | None) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [functional_call(m, p, (xb,)) for m, p in zip(modules, params)]
        total, parts = objective(outputs, yb, wb, params, anchor)
        return total, torch.stack(parts)

    step = vmap(grad(loss, has_aux=True), in_dims=(0, 0, 0, 0, None))
    if not compiled:
        return step  # type: ignore[return-value]
    before_compile()
    return torch.compile(step)  # type: ignore[return-value]


def train_chunk(step: Step, stacks: Sequence[Stacked], plan: BatchPlan, x: torch.Tensor, y: torch.Tensor,
                settings: LocalSettings, lr: float, anchor: State | None, compiled: bool = False) -> torch.Tensor:
    """Train the stacked states in place along ``plan``; returns each client's summed recorded
    loss per slot, [K, slots]."""
    optimizers = [StackedOptimizer(list(stack.values()), settings.optimizer, lr) for stack in stacks]
    sums = torch.zeros(len(plan.cids), len(stacks), device=x.device)
    for t, active in enumerate(plan.active()):
        pieces = []
        for lo, hi in _groups(active, compiled):
            rows = plan.rows[t, lo:hi]
            views = tuple({name: v[lo:hi] for name, v in stack.items()} for stack in stacks)
            pieces.append(step(views, x[rows], y[rows], plan.weight[t, lo:hi], anchor))
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
