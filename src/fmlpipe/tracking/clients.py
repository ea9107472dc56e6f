"""What a train stage's MLflow run records about each client."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientInfo:
    name: str  # client-007
    train_samples: int
    test_samples: int
    label_histogram: tuple[int, ...]
    arch: str  # the architecture of the client's own model (``models.local_for``)
    task: str  # the task it learns (``tasks.task_for``)
