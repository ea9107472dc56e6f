"""One model instance per role, reused for every client by loading states in place (never one
module per client; the per-client private states are in ``fl.personal``)."""

from __future__ import annotations

import torch
from torch import nn

from fmlpipe.fl.aggregate import State
from fmlpipe.fl.seeding import seeded_torch
from fmlpipe.models.registry import build_model

GLOBAL = "global"  # the shared architecture: FedAvg/FedProx model, FML meme
LOCAL = "local"  # the personalized architecture: FML local model, local-only model


def state_of(module: nn.Module) -> State:
    """A detached, contiguous copy of a module's state (parameters and buffers), whatever memory
    format the module trains in."""
    return {name: t.detach().clone(memory_format=torch.contiguous_format) for name, t in module.state_dict().items()}


def train_layout(module: nn.Module) -> nn.Module:
    """``module`` in the memory format it trains fastest in: channels-last when it has 2-d
    convolutions (``fmlpipe bench``: 13% faster FML rounds with the cnn at batch 10 on a 2-core
    CPU, 22% at 64). The values are unchanged; :func:`state_of` hands states back contiguous."""
    if any(isinstance(m, nn.Conv2d) for m in module.modules()):
        module.to(memory_format=torch.channels_last)
    return module


def init_state(module: nn.Module, seed: int, *tags: int) -> State:
    """Re-initialize ``module`` in place from a derived seed and return its state."""
    module.to(memory_format=torch.contiguous_format)  # initializers fill in memory order
    with seeded_torch(seed, *tags):
        for sub in module.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
            if hasattr(sub, "reset_running_stats"):
                sub.reset_running_stats()
    return state_of(module)


class ModelPool:
    """Builds each role's module once, on first use."""

    def __init__(self, archs: dict[str, str], input_shape: tuple[int, int, int], num_classes: int, device: torch.device):
        self.archs = archs
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.device = device
        self._modules: dict[str, nn.Module] = {}

    def get(self, role: str) -> nn.Module:
        if role not in self._modules:
            module = build_model(self.archs[role], self.input_shape, self.num_classes, key=f"models.{role}")
            self._modules[role] = module.to(self.device)
        return self._modules[role]

    def load(self, role: str, state: State) -> nn.Module:
        module = self.get(role)
        module.load_state_dict(state)
        return module
