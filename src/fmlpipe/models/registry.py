"""The model architectures by name (the values ``models.global`` and ``models.local`` allow).

Every model takes float input [B, C, H, W] scaled to [0, 1] and returns logits
[B, num_classes]; has no dropout, so training is deterministic given the seed; keeps PyTorch's
default initialization (the caller seeds it with ``torch.manual_seed``); and names its output
layer ``head``, so ``ModelSpec.head_prefix`` selects the parameters kept private when heads
are personalized. Forwards avoid in-place ops and data-dependent Python control flow, so
``torch.func.functional_call`` + ``vmap`` over stacked states works.

Aggregation policy for state (BatchNorm in ``resnet8``): all floating-point ``state_dict``
entries -- weights and BatchNorm running statistics -- are averaged like weights; integer
buffers (``num_batches_tracked``) are taken from the first client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from fmlpipe.errors import ParamsError
from fmlpipe.models.cnn import FedAvgCNN
from fmlpipe.models.lenet5 import LeNet5
from fmlpipe.models.mlp import MLP
from fmlpipe.models.resnet import ResNet8
from fmlpipe.models.shapes import InputTooSmall

Builder = Callable[[tuple[int, int, int], int], nn.Module]
"""``(input_shape (C, H, W), num_classes) -> freshly initialized module``."""


@dataclass(frozen=True)
class ModelSpec:
    """One architecture: how to build it, what it is, and where its output head lives."""

    builder: Builder
    description: str
    head_prefix: str  # state_dict prefix of the output layer's parameters


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(MLP, "FedAvg 2NN: two hidden layers of 200 ReLU units", "head."),
    "cnn": ModelSpec(FedAvgCNN, "FedAvg CNN: two unpadded 5x5 conv+pool layers (32, 64), fc 512", "head."),
    "cnn_same": ModelSpec(
        partial(FedAvgCNN, padding=2), "FedAvg CNN with 'same'-padded convs, the paper's TF model", "head."
    ),
    "lenet5": ModelSpec(LeNet5, "LeNet-5: conv 6, conv 16, fc 120, fc 84", "head."),
    "resnet8": ModelSpec(ResNet8, "ResNet-8: BasicBlock stages of 16/32/64, BatchNorm", "head."),
}


def build_model(
    name: str, input_shape: tuple[int, int, int], num_classes: int, key: str = "model"
) -> nn.Module:
    """Build model ``name`` for ``input_shape`` (C, H, W) and ``num_classes`` outputs.

    ``key`` is the params key that chose ``name``; it leads every error message.
    Raises ``ParamsError`` for an unknown name or a shape the model cannot take.
    """
    if name not in MODELS:
        allowed = ", ".join(sorted(MODELS))
        raise ParamsError(f"{key}={name!r} is not a known model (allowed: {allowed})")
    shape = tuple(input_shape)  # a list from YAML prints like the tuple the user means
    if len(shape) != 3 or min(shape) < 1 or num_classes < 1:
        raise ParamsError(
            f"{key}={name!r} needs a (C, H, W) input shape of positive sizes and at least one "
            f"class, got shape {shape} and {num_classes} classes"
        )
    try:
        return MODELS[name].builder(input_shape, num_classes)
    except InputTooSmall as err:
        raise ParamsError(f"{key}={name!r} cannot take input shape {shape}: {err}") from None
