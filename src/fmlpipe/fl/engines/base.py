"""What an engine is: it runs the client side of an algorithm on tasks and hands back results.

Every engine runs the same client code (``Algorithm.client_round`` and
``Algorithm.personalized_accuracy``) or, for the vectorized engine, a batched equivalent of it
that a test holds to the same results. An engine owns its caches (worker pools, compiled
steps); the round loop owns everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar, Generic, Protocol, TypeVar

from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.protocol import ClientResult, ClientTask, EvalTask

T = TypeVar("T")


class Lazy(Generic[T]):
    """Tasks for ``cids``, in that order, each made by ``make(cid)`` only when an engine takes
    it (a client's personal state is read when its turn comes), their number known in advance."""

    def __init__(self, cids: Sequence[int], make: Callable[[int], T]):
        self.cids, self.make = list(cids), make

    def __len__(self) -> int:
        return len(self.cids)

    def __iter__(self) -> Iterator[T]:
        return (self.make(cid) for cid in self.cids)

    def largest_first(self, alg: Algorithm) -> Lazy[T]:
        """The same tasks, clients with the most training data first: a round ends when its last
        client does, so the big ones must not queue behind small ones (and a chunk of stacked
        clients of similar size wastes little on padding)."""
        clients = alg.ctx.data.clients
        return Lazy(sorted(self.cids, key=lambda cid: -clients[cid].num_train), self.make)


Tasks = Lazy[ClientTask]
EvalTasks = Lazy[EvalTask]


class Engine(Protocol):
    name: ClassVar[str]

    def train(self, alg: Algorithm, tasks: Tasks) -> Iterator[ClientResult]:
        """Every task's client round; results in any order (each names its client)."""
        ...

    def evaluate(self, alg: Algorithm, tasks: EvalTasks) -> Iterator[tuple[int, float]]:
        """(client, accuracy of its personalized model on its local test split), in any order."""
        ...
