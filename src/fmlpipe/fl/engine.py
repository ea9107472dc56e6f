"""How a round's clients are trained: one after another on one reused module (``sequential``,
the reference), or all at once on stacked states (``vectorized``). ``auto`` picks the faster
for the device, the models and the size of the run, as measured by ``fmlpipe bench``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fmlpipe.config.schema import FederationParams
from fmlpipe.errors import ParamsError
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, ClientResult
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.parallel import train_parallel, worker_count
from fmlpipe.fl.sampling import participants_per_round
from fmlpipe.fl.vectorized import train_vectorized
from fmlpipe.models.flops import flops_per_sample

ENGINES = ("sequential", "parallel", "vectorized")

# An explicit ``vectorized`` on CPU is torch.compile'd when a round trains at least this many
# FLOPs (about 10 s eager on 2 cores) and the run has more than one round: compiling takes
# minutes for the first round, which only long runs repay.
COMPILE_MIN_ROUND_FLOPS = 1e12
# ``auto``, from ``fmlpipe bench --rounds 2`` (FML, 20 clients, training seconds per round,
# sequential / parallel / vectorized):
# - 2-core CPU, cnn: batch 10 26.8 / 19.9 / 29.0 (compiled); batch 64 13.9 / 11.3 / 20.8.
#   ``--model lenet5``: 14.0 / 11.0 / 15.2 and 6.26 / 4.26 / 7.89; ``--model mlp``: 1.42 / 1.23 /
#   2.82 at batch 64, and a tie at batch 10 (6.12 / 6.33 / 6.04, then 6.31 / 6.39 / 6.34 in a
#   second run). Vectorized is eager for these two: below the compile threshold. auto is
#   parallel on a multi-core CPU.
# - H100, cnn: batch 10 sequential 27.3, vectorized 7.35; batch 64 4.11 and 1.35; 1,000 clients
#   at 10% per round: FML 3.26 vs 0.22. auto is vectorized on CUDA.


@dataclass(frozen=True)
class EngineChoice:
    name: str  # sequential | parallel | vectorized
    compiled: bool = False  # vectorized: torch.compile the step


def not_vectorizable(module: nn.Module) -> str | None:
    """Why ``module`` cannot be trained under ``vmap``, or None when it can."""
    if any(True for _ in module.buffers()):
        return "it has buffers (BatchNorm's running statistics) that its forward pass updates in place"
    return None


def one_at_a_time(device: torch.device) -> EngineChoice:
    """``auto``'s engine for clients trained by ``Algorithm.client_update``: on a multi-core CPU
    concurrently (``parallel``), else one after another."""
    return EngineChoice("parallel" if device.type == "cpu" and worker_count() > 1 else "sequential")


def choose_engine(requested: str, models: Mapping[str, tuple[str, nn.Module]], device: torch.device,
                  fed: FederationParams, round_flops: float, mixed: str | None = None) -> EngineChoice:
    """The engine for a run. ``models``: params key (``models.local``) -> (name, module);
    ``round_flops``: training FLOPs of a round (:func:`round_train_flops`); ``mixed``: why the
    clients' models differ in shape (``Roster.mixed``), None when they do not."""
    if requested not in ("auto", *ENGINES):
        raise ParamsError(f"federation.engine={requested!r} is not an engine (allowed: auto, {', '.join(ENGINES)})")
    if requested in ("sequential", "parallel"):
        return EngineChoice(requested)
    others = "auto, sequential or parallel"
    if mixed is not None:  # stacked states need every client's model to have one shape
        if requested == "vectorized":
            raise ParamsError(f"federation.engine='vectorized' cannot train clients whose models differ in shape: "
                              f"{mixed} (allowed for it: {others})")
        return one_at_a_time(device)
    for key, (name, module) in models.items():
        reason = not_vectorizable(module)
        if reason is None:
            continue
        if requested == "vectorized":
            raise ParamsError(f"federation.engine='vectorized' cannot train {key}={name!r}: {reason} "
                              f"(allowed for it: {others})")
        return one_at_a_time(device)  # auto: BatchNorm models train one client at a time
    if device.type == "cuda":
        return EngineChoice("vectorized")
    if requested == "vectorized":
        return EngineChoice("vectorized", fed.rounds >= 2 and round_flops >= COMPILE_MIN_ROUND_FLOPS)
    return one_at_a_time(device)


def round_train_flops(data: FederatedData, fed: FederationParams, modules: Sequence[nn.Module]) -> float:
    """Training FLOPs of an average round: participants x samples x 3 forwards of each model."""
    count = participants_per_round(fed.clients_per_round, data.num_clients)
    if fed.local_steps is not None:
        samples = fed.local_steps * fed.batch_size
    else:
        samples = fed.local_epochs * sum(c.num_train for c in data.clients) / max(data.num_clients, 1)
    per_sample = sum(flops_per_sample(m, data.input_shape) for m in modules)
    return count * samples * 3 * per_sample


def train_round(alg: Algorithm, cids: Sequence[int], global_state: State | None, rnd: int,
                lr: float) -> list[ClientResult]:
    """Every chosen client's round, with the engine in ``alg.ctx.engine``. A diverged client
    raises :class:`ClientDiverged` naming it."""
    if alg.ctx.engine == "vectorized":
        return train_vectorized(alg, cids, global_state, rnd, lr)
    if alg.ctx.engine == "parallel":
        return train_parallel(alg, cids, global_state, rnd, lr)
    return [alg.client_update(cid, global_state, rnd, lr) for cid in cids]
