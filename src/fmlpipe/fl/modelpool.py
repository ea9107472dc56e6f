"""One model instance per (role, architecture, number of classes), reused for every client by
loading states in place (never one module per client; the per-client private states are in
``fl.personal``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fmlpipe.fl.protocol import State
from fmlpipe.fl.seeding import GLOBAL_RNG, seeded_torch
from fmlpipe.models.registry import build_model

GLOBAL = "global"  # the shared architecture: FedAvg/FedProx model, FML meme
LOCAL = "local"  # the personalized architecture: FML local model, local-only model


def state_of(module: nn.Module) -> State:
    """A detached, contiguous copy of a module's state (parameters and buffers), whatever memory
    format the module trains in."""
    return {name: t.detach().clone(memory_format=torch.contiguous_format) for name, t in module.state_dict().items()}


def fast_layout(module: nn.Module) -> nn.Module:
    """``module`` in the memory format it runs fastest in: channels-last when it has 2-d
    convolutions (``fmlpipe bench``: 13% faster FML rounds with the cnn at batch 10 on a 2-core
    CPU, 22% at 64; evaluation about 3x faster, as the contiguous max-pool is slow). The values
    are unchanged; :func:`state_of` hands states back contiguous."""
    if any(isinstance(m, nn.Conv2d) for m in module.modules()):
        module.to(memory_format=torch.channels_last)
    return module


def init_state(module: nn.Module, seed: int, *tags: int) -> State:
    """Re-initialize ``module`` in place from a derived seed and return its state."""
    module.to(memory_format=torch.contiguous_format)  # initializers fill in memory order
    with seeded_torch(seed, *tags):
        for sub in module.modules():
            # looked up by name: nn.Module declares neither (its __getattr__ is typed Tensor | Module)
            for reset in (getattr(sub, "reset_parameters", None), getattr(sub, "reset_running_stats", None)):
                if reset is not None:
                    reset()
    return state_of(module)


@dataclass(frozen=True)
class ModelKey:
    """One architecture with one output size in one role: what the pool builds once and the
    personal table lays out one table for. The role keeps two models a client trains together
    (FML's local model and meme) in two modules even when their shapes agree."""

    role: str  # GLOBAL or LOCAL
    arch: str
    num_classes: int


class ModelPool:
    """Builds each (role, architecture, number of classes) once, on first use. ``archs``: each role's
    architecture when every client has the same (``get``); ``num_classes``: the dataset's."""

    def __init__(
        self, archs: dict[str, str], input_shape: tuple[int, int, int], num_classes: int, device: torch.device
    ):
        self.archs = archs
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.device = device
        self._modules: dict[ModelKey, nn.Module] = {}

    def fork(self) -> ModelPool:
        """A pool of the same models with modules of its own (one per parallel worker)."""
        return ModelPool(self.archs, self.input_shape, self.num_classes, self.device)

    def module(self, key: ModelKey, where: str = "model") -> nn.Module:
        """The module of ``key``; ``where`` (the params key that chose it) leads a build error."""
        if key not in self._modules:
            with GLOBAL_RNG:  # building draws default initial weights from the global generator
                module = build_model(key.arch, self.input_shape, key.num_classes, key=where)
            self._modules[key] = module.to(self.device)
        return self._modules[key]

    def get(self, role: str) -> nn.Module:
        """The module of ``role``'s architecture for the dataset's own classes."""
        return self.module(ModelKey(role, self.archs[role], self.num_classes), f"models.{role}")

    def load(self, which: str | ModelKey, state: State) -> nn.Module:
        """The module of a role or a key, holding ``state``."""
        module = self.module(which) if isinstance(which, ModelKey) else self.get(which)
        module.load_state_dict(state)
        return module
