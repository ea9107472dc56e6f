"""The FedAvg paper's "2NN" (McMahan et al., 2017): two hidden layers of 200 units."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

HIDDEN = 200


class MLP(nn.Module):
    """flatten -> 200 -> ReLU -> 200 -> ReLU -> ``head`` (logits)."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.fc1 = nn.Linear(math.prod(input_shape), HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, HIDDEN)
        self.head = nn.Linear(HIDDEN, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, H, W] float in [0, 1] -> logits [B, num_classes]."""
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        logits: torch.Tensor = self.head(x)
        return logits
