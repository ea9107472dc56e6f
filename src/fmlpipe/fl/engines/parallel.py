"""The parallel engine (CPU): a round's clients run concurrently, one worker thread per core,
each with modules of its own and one intra-op thread.

At small batches a convolution gains little from a second intra-op thread: ``fmlpipe bench``'s
FML step on the cnn at batch 10 takes 8.2 ms on one thread and 5.5 ms on two, while two
clients on one thread each take 4.2 ms per step together (``fmlpipe.fl.threads``). Every
client is computed on one thread whatever the number of workers, so the results do not depend
on it or on scheduling: they equal the sequential engine run with ``torch.set_num_threads(1)``,
bit for bit. Evaluation is spread over the workers the same way.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, TypeVar

import torch

from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.engines.base import EvalTasks, Tasks
from fmlpipe.fl.modelpool import ModelPool
from fmlpipe.fl.protocol import ClientResult
from fmlpipe.fl.threads import single_threaded_ops, worker_count

T = TypeVar("T")
R = TypeVar("R")


class Parallel:
    name: ClassVar[str] = "parallel"

    def __init__(self, pool: ModelPool):
        self.pool = pool
        self.pools: list[ModelPool] = []  # one per worker, built once, reused every round

    def train(self, alg: Algorithm, tasks: Tasks) -> Iterator[ClientResult]:
        return self._map(tasks.largest_first(alg), len(tasks), lambda task, pool: alg.client_round(task, pool))

    def evaluate(self, alg: Algorithm, tasks: EvalTasks) -> Iterator[tuple[int, float]]:
        return self._map(tasks.largest_first(alg), len(tasks),
                         lambda task, pool: (task.cid, alg.personalized_accuracy(task, pool)))

    def _map(self, items: Iterable[T], count: int, work: Callable[[T, ModelPool], R]) -> Iterator[R]:
        """``work`` on every item, each worker taking the next item as it finishes one.
        Results are handed on as they come, so the caller can store a client's personal state
        while the others still train."""
        workers = min(worker_count(), max(1, count))
        while len(self.pools) < workers:
            self.pools.append(self.pool.fork())
        source = iter(items)
        lock = threading.Lock()
        done: queue.Queue[tuple[R | None, BaseException | None]] = queue.Queue()
        stop = threading.Event()

        def run(pool: ModelPool) -> None:
            torch.set_num_threads(1)  # OpenMP's thread count is per thread: set it in the worker too
            try:
                while not stop.is_set():
                    with lock:  # the items are made lazily (personal states read on demand)
                        item = next(source, None)
                    if item is None:
                        return
                    done.put((work(item, pool), None))
            except BaseException as exc:  # handed to the caller's thread, which raises it
                stop.set()
                done.put((None, exc))
            finally:
                done.put((None, None))  # this worker is finished

        with single_threaded_ops(), ThreadPoolExecutor(workers) as executor:
            for pool in self.pools[:workers]:
                executor.submit(run, pool)
            finished = 0
            try:
                while finished < workers:
                    result, error = done.get()
                    if error is not None:
                        raise error
                    if result is None:
                        finished += 1
                    else:
                        yield result
            finally:
                stop.set()
