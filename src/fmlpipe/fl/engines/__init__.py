"""The engines that run a round's clients, by name, and the rule that picks one.

``sequential`` trains one client at a time on one reused module (the reference); ``parallel``
(CPU) runs clients concurrently, one per core; ``vectorized`` trains all of a round's clients
at once on stacked states. ``auto`` picks the fastest for the device, the models and the size of
the run, as measured by ``fmlpipe bench``; that rule is :func:`choose_engine`, here alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fmlpipe.config.schema import FederationParams
from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.engines.base import Engine
from fmlpipe.fl.engines.parallel import Parallel
from fmlpipe.fl.engines.sequential import Sequential
from fmlpipe.fl.engines.vectorized import Vectorized
from fmlpipe.fl.modelpool import ModelPool
from fmlpipe.fl.sampling import participants_per_round
from fmlpipe.fl.threads import worker_count
from fmlpipe.models.flops import flops_per_sample

ENGINES: dict[str, type[Sequential] | type[Parallel] | type[Vectorized]] = {
    cls.name: cls for cls in (Sequential, Parallel, Vectorized)
}

# ``federation.compile: auto``: an explicit ``vectorized`` on CPU is torch.compile'd when a round
# trains at least this many FLOPs (about 10 s eager on 2 cores) and the run has more than one
# round: compiling takes minutes for the first round, which only long runs repay. On CUDA auto
# stays eager, the only way it has been measured there (the H100 figures below); ``on`` and
# ``graphs`` (CUDA graphs) are there to measure it: ``fmlpipe bench --compile off,on,graphs``.
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
    name: str  # a key of ENGINES
    compile: str = "off"  # vectorized: off | on (torch.compile the step) | graphs (and replay it as CUDA graphs)

    @property
    def compiled(self) -> bool:
        return self.compile != "off"

    def build(self, pool: ModelPool) -> Engine:
        """The engine, over the models of ``pool``."""
        if self.name == Vectorized.name:
            return Vectorized(pool, self.compile)
        return ENGINES[self.name](pool)


def not_vectorizable(alg: Algorithm, models: Mapping[str, tuple[str, nn.Module]], mixed: str | None) -> str | None:
    """What the vectorized engine cannot do for ``alg`` on these models ("train ...: why"), or
    None when it can run it. ``models``: params key (``models.local``) -> (name, module);
    ``mixed``: why the clients' models differ in shape (``Roster.mixed``)."""
    if not alg.vectorizable:
        return f"run algorithms.{alg.name}: it runs its own client round, one client at a time"
    if mixed is not None:  # stacked states need every client's model to have one shape
        return f"train clients whose models differ in shape: {mixed}"
    for key, (name, module) in models.items():
        if any(True for _ in module.buffers()):
            return (f"train {key}={name!r}: it has buffers (BatchNorm's running statistics) that its forward "
                    "pass updates in place")
    opt = alg.ctx.federation.optimizer
    if opt.name == "adam" and opt.state == "persistent" and alg.keeps_state:
        return ("keep Adam's state across rounds (federation.optimizer.state=persistent): its step counts "
                "differ from client to client")
    return None


def one_at_a_time(device: torch.device) -> EngineChoice:
    """``auto``'s engine for clients run one by one: on a multi-core CPU concurrently
    (``parallel``), else one after another."""
    return EngineChoice("parallel" if device.type == "cpu" and worker_count() > 1 else "sequential")


def choose_engine(requested: str, alg: Algorithm, models: Mapping[str, tuple[str, nn.Module]],
                  device: torch.device, round_flops: float, mixed: str | None = None,
                  compile: str = "auto") -> EngineChoice:
    """The engine for a run; ``round_flops``: training FLOPs of a round (:func:`round_train_flops`);
    ``compile``: ``federation.compile``. An engine that cannot run the algorithm, or a compilation
    that cannot be had, is refused in one line naming why."""
    if requested != "auto" and requested not in ENGINES:
        raise ParamsError(f"federation.engine={requested!r} is not an engine (allowed: auto, {', '.join(ENGINES)})")
    asked = compile in ("on", "graphs")  # only the vectorized engine compiles: an explicit ask wants it
    if compile == "graphs" and device.type != "cuda":
        raise ParamsError(f"federation.compile='graphs' replays the step as CUDA graphs, and this run is on "
                          f"{device.type} (allowed here: auto, off, on)")
    if requested in (Sequential.name, Parallel.name):
        if asked:
            raise ParamsError(f"federation.compile={compile!r} compiles the vectorized engine's step, and "
                              f"federation.engine={requested!r} runs eagerly (allowed with it: auto, off)")
        return EngineChoice(requested)
    reason = not_vectorizable(alg, models, mixed)
    if reason is not None:
        if requested == Vectorized.name:
            raise ParamsError(f"federation.engine='vectorized' cannot {reason} "
                              f"(allowed for it: auto, {Sequential.name} or {Parallel.name})")
        if asked:
            raise ParamsError(f"federation.compile={compile!r} needs the vectorized engine, which cannot {reason} "
                              "(allowed here: auto, off)")
        return one_at_a_time(device)
    if asked:
        return EngineChoice(Vectorized.name, compile)
    if device.type == "cuda":
        return EngineChoice(Vectorized.name)
    if requested == Vectorized.name:
        rounds = alg.ctx.federation.rounds
        worth = compile == "auto" and rounds >= 2 and round_flops >= COMPILE_MIN_ROUND_FLOPS
        return EngineChoice(Vectorized.name, "on" if worth else "off")
    return one_at_a_time(device)


def round_train_flops(data: FederatedData, fed: FederationParams, modules: Sequence[nn.Module]) -> float:
    """Training FLOPs of an average round: participants x samples x 3 forwards of each model."""
    count = participants_per_round(fed.clients_per_round, data.num_clients)
    samples: float
    if fed.local_steps is not None:
        samples = fed.local_steps * fed.batch_size
    else:
        samples = fed.local_epochs * sum(c.num_train for c in data.clients) / max(data.num_clients, 1)
    per_sample = sum(flops_per_sample(m, data.input_shape) for m in modules)
    return count * samples * 3 * per_sample
