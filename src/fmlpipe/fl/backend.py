"""Where the clients live: in this process (:class:`LocalBackend`), their personal states in a
compact table (``fl.personal``) and their rounds run by an engine (``fl.engines``).

The round loop (``fl.simulation``) talks to a backend only: it hands over the round's
clients and the global state and gets results back in client order. A backend on other
machines keeps each client's personal state where the client runs and offers the same calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.engines.base import Engine, Lazy
from fmlpipe.fl.modelpool import ModelPool
from fmlpipe.fl.personal import PersonalStates
from fmlpipe.fl.personal_parts import split
from fmlpipe.fl.protocol import ClientResult, ClientTask, EvalTask, State


class Backend(Protocol):
    def train(self, rnd: int, lr: float, values: Mapping[str, float], cids: Sequence[int],
              global_state: State | None) -> list[ClientResult]:
        """The round of every client in ``cids``, results in that order (personal states kept)."""
        ...

    def evaluate(self, rnd: int, global_state: State | None) -> list[float]:
        """Every client's personalized accuracy on its local test split, in client order."""
        ...

    def heads(self) -> Iterator[tuple[int, State]]:
        """Every client's private head of the shared model."""
        ...

    def states(self) -> Iterator[tuple[int, State]]:
        """Every client's personal state that exists (checkpoints and run outputs)."""
        ...

    def load(self, states: Mapping[int, State]) -> None:
        """Restore personal states (a resumed run)."""
        ...


class LocalBackend:
    """The clients ``members`` (by default all) in this process."""

    def __init__(self, alg: Algorithm, engine: Engine, pool: ModelPool, members: Sequence[int] | None = None):
        self.alg, self.engine = alg, engine
        self.personal = PersonalStates(alg.ctx.roster, pool.device, lambda cid: alg.initial_personal(cid, pool),
                                       members)
        self.members = self.personal.members

    def _personal(self, cid: int) -> State:
        return self.personal.get(cid) if self.alg.keeps_state else {}

    def train(self, rnd: int, lr: float, values: Mapping[str, float], cids: Sequence[int],
              global_state: State | None) -> list[ClientResult]:
        def task(cid: int) -> ClientTask:
            return ClientTask(cid, rnd, lr, values, global_state, self._personal(cid))

        results: dict[int, ClientResult] = {}
        for result in self.engine.train(self.alg, Lazy(cids, task)):
            if self.alg.keeps_state:
                self.personal.put(result.cid, result.personal)
            results[result.cid] = replace(result, personal={})
        return [results[cid] for cid in cids]

    def evaluate(self, rnd: int, global_state: State | None) -> list[float]:
        accuracy = self.evaluate_members(rnd, global_state)
        return [accuracy[cid] for cid in self.members]

    def evaluate_members(self, rnd: int, global_state: State | None) -> dict[int, float]:
        """Each member's personalized accuracy on its local test split."""

        def task(cid: int) -> EvalTask:
            return EvalTask(cid, rnd, global_state, self._personal(cid))

        return dict(self.engine.evaluate(self.alg, Lazy(self.members, task)))

    def heads(self) -> Iterator[tuple[int, State]]:
        for cid in self.members:
            yield cid, split(self.personal.get(cid)).head

    def states(self) -> Iterator[tuple[int, State]]:
        return self.personal.items()

    def load(self, states: Mapping[int, State]) -> None:
        self.personal.load(states.items())
