"""The Ray backend, driver side: the round loop's calls (``fl.backend.Backend``) answered by
worker actors that each own a fixed shard of clients.

- **Ownership** is a rule over client ids: client ``c`` belongs to worker ``c % workers``, so it
  never depends on timing. A worker keeps its clients' personal states (models, optimizer
  state) in its own memory; the driver holds the global state and one round's results.
- **A round**: the driver puts the global state in Ray's object store once, each worker trains
  its chosen clients, and the driver orders the results by client (aggregation is in client
  order, never arrival order). Each client computes on ``cpus_per_worker`` threads exactly as a
  local engine would, so the numbers are the local engines' bit for bit.
- **Evaluation** of personalized models runs on the owning workers; the driver gets accuracies.
- **Data**: the driver puts the prepared dataset and the partition in the object store once;
  workers read nothing from disk, so the cluster needs no shared file system.
- **A lost worker** (its node gone, its process killed) raises :class:`WorkerLost`; the train
  stage then restarts every worker and redoes the round from the last checkpoint
  (``train.stage``), the same path as resuming a stage, so the run ends as an undisturbed one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fmlpipe.cluster.connect import Connection, connect, disconnect
from fmlpipe.cluster.worker import ShardWorker
from fmlpipe.config import Params
from fmlpipe.data.store import PreparedDataset
from fmlpipe.errors import FmlpipeError
from fmlpipe.fl.protocol import ClientResult, State
from fmlpipe.partition.result import Partition

START_TIMEOUT = 180.0  # seconds for the workers to be placed and build their runs (imports, data, models)


class WorkerLost(FmlpipeError):
    """A worker died or its node left the cluster: its clients' states are gone with it."""


def owner(cid: int, workers: int) -> int:
    """The worker that owns client ``cid``: a fixed rule, whatever the timing."""
    return cid % workers


class RayBackend:
    def __init__(self, params: Params, algorithm: str, prepared: PreparedDataset, partition: Partition,
                 env: Mapping[str, str]):
        import ray

        execution = params.execution
        self.params, self.algorithm, self.execution = params, algorithm, execution
        self.num_clients = len(partition.train)
        self.connection: Connection = connect(execution.address, execution.workers * execution.cpus_per_worker,
                                              execution.workers * execution.gpus_per_worker, env)
        self._data = ray.put((prepared, partition))
        self.workers: list[Any] = []
        self.start()

    @property
    def shards(self) -> list[list[int]]:
        n = self.execution.workers
        return [[cid for cid in range(self.num_clients) if owner(cid, n) == k] for k in range(n)]

    def start(self) -> None:
        """Start one actor per shard and wait until each has built its run."""
        import ray

        ex = self.execution
        remote = ray.remote(ShardWorker).options(num_cpus=ex.cpus_per_worker, num_gpus=ex.gpus_per_worker,
                                                 max_restarts=0)
        self.workers = [remote.remote(k, self.params, self.algorithm, self._data, members, ex.cpus_per_worker)
                        for k, members in enumerate(self.shards)]
        for k, worker in enumerate(self.workers):
            self._get(worker.ping.remote(), k, timeout=START_TIMEOUT)

    def restart(self) -> None:
        """Every worker replaced by a fresh one (no personal states: the caller loads them)."""
        import ray

        for worker in self.workers:
            ray.kill(worker)
        self.start()

    def close(self) -> None:
        import ray

        for worker in self.workers:
            ray.kill(worker)
        self.workers = []
        disconnect(self.connection)

    def _get(self, ref: Any, k: int, timeout: float | None = None) -> Any:
        """A worker's answer; its death is :class:`WorkerLost`, its own error is re-raised as itself."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        try:
            return ray.get(ref, timeout=timeout)
        except RayActorError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkerLost(f"Ray worker {k} is lost ({type(exc).__name__}: {reason[:200]})") from None
        except RayTaskError as exc:
            if isinstance(exc.cause, Exception):
                raise exc.cause from None
            raise
        except GetTimeoutError:
            raise FmlpipeError(f"Ray worker {k} did not start within {START_TIMEOUT:.0f} s: the cluster may lack "
                               f"free resources (each worker needs {self.execution.cpus_per_worker} CPU(s) and "
                               f"{self.execution.gpus_per_worker} GPU(s)); see `ray status`") from None

    def _each(self, call: str, *args: Any) -> Iterator[tuple[int, Any]]:
        calls = [(k, getattr(w, call).remote(*args)) for k, w in enumerate(self.workers)]
        for k, ref in calls:
            yield k, self._get(ref, k)

    def train(self, rnd: int, lr: float, values: Mapping[str, float], cids: Sequence[int],
              global_state: State | None) -> list[ClientResult]:
        import ray

        shared = ray.put(global_state)  # once per round, whatever the number of workers
        n = self.execution.workers
        mine = {k: [cid for cid in cids if owner(cid, n) == k] for k in range(n)}
        calls = [(k, self.workers[k].train.remote(rnd, lr, values, chosen, shared)) for k, chosen in mine.items()
                 if chosen]
        results: dict[int, ClientResult] = {}
        for k, ref in calls:
            results.update((r.cid, r) for r in self._get(ref, k))
        return [results[cid] for cid in cids]

    def evaluate(self, rnd: int, global_state: State | None) -> list[float]:
        import ray

        shared = ray.put(global_state)
        accuracy: dict[int, float] = {}
        for _, part in self._each("evaluate", rnd, shared):
            accuracy.update(part)
        return [accuracy[cid] for cid in range(self.num_clients)]

    def reset_peaks(self) -> None:
        """Start each worker's recent peak memory afresh (``fmlpipe bench``: before the rounds)."""
        for _ in self._each("reset_peak"):
            pass

    def memory(self) -> list[tuple[int, int]]:
        """Each worker's peak resident memory: over its life, and since :meth:`reset_peaks`."""
        return [peaks for _, peaks in self._each("memory")]

    def heads(self) -> Iterator[tuple[int, State]]:
        for _, part in self._each("heads"):
            yield from part

    def states(self) -> Iterator[tuple[int, State]]:
        """Each shard's states, one worker at a time (a checkpoint holds every shard's)."""
        for k, worker in enumerate(self.workers):
            yield from self._get(worker.states.remote(), k)

    def load(self, states: Mapping[int, State]) -> None:
        n = self.execution.workers
        calls = [(k, w.load.remote({cid: s for cid, s in states.items() if owner(cid, n) == k}))
                 for k, w in enumerate(self.workers)]
        for k, ref in calls:
            self._get(ref, k)
