"""The sequential engine, the reference: one client at a time on one reused module per role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.engines.base import EvalTasks, Tasks
from fmlpipe.fl.modelpool import ModelPool
from fmlpipe.fl.protocol import ClientResult


class Sequential:
    name: ClassVar[str] = "sequential"

    def __init__(self, pool: ModelPool):
        self.pool = pool

    def train(self, alg: Algorithm, tasks: Tasks) -> Iterator[ClientResult]:
        for task in tasks:
            yield alg.client_round(task, self.pool)

    def evaluate(self, alg: Algorithm, tasks: EvalTasks) -> Iterator[tuple[int, float]]:
        for task in tasks:
            yield task.cid, alg.personalized_accuracy(task, self.pool)
